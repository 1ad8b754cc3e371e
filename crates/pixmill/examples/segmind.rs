//! Generate a short animation from a prompt with Segmind's Hotshot-XL.
//!
//! ```text
//! cargo run -p pixmill --example segmind -- ["prompt"] [out_dir]
//! ```
//!
//! Writes `animation.gif` (the default 672x384) to `out_dir` (default `./pixmill-out`) and
//! prints the seed, cost and credits left. Without `SEGMIND_API_KEY` it runs against an
//! in-process sandbox; with it, it calls the real API (`SEGMIND_BASE_URL` overrides the
//! server) and spends credits; each request may take up to the client's 120-second timeout.

#[path = "common/mod.rs"]
mod common;

use pixmill::segmind::Client;
use pixmill_sandbox::Provider;

#[tokio::main]
async fn main() -> pixmill::Result<()> {
    let (prompt, out_dir) = common::args("a paper boat on a stormy sea".to_string());
    let sandbox = common::sandbox_unless("SEGMIND_API_KEY").await;
    let client = match &sandbox {
        Some(sandbox) => Client::builder()
            .api_key(sandbox.credentials().segmind_api_key.clone())
            .base_url(sandbox.base_url(Provider::Segmind))
            .build()?,
        None => Client::from_env()?,
    };

    println!("generating {prompt:?}");
    let animation = client.hotshot_xl(prompt).send().await?;
    if let Some(seed) = animation.seed() {
        println!("seed {seed}");
    }
    if let Some(cost) = animation.cost() {
        println!("cost {cost} credits");
    }
    if let Some(left) = animation.remaining_credits() {
        println!("{left} credits left");
    }
    let path = out_dir.join("animation.gif");
    let written = animation.save(&path).await?;
    println!("wrote {} ({written} bytes)", path.display());
    Ok(())
}
