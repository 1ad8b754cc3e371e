//! Upscale a picture 2x, cut out its subject and list its dominant colours with Hotpot.ai.
//!
//! ```text
//! cargo run -p pixmill --example hotpot -- [image] [out_dir]
//! ```
//!
//! Writes `supersized.png` (size factor 2) and `no-background.png` (transparent background) to
//! `out_dir` (default `./pixmill-out`) and prints the picture's five dominant colours, most
//! dominant first, one `#rrggbb` per line. Without `HOTPOT_API_KEY` it runs against an
//! in-process sandbox; with it, it calls the real API (`HOTPOT_BASE_URL` overrides the server)
//! and spends three credits.

#[path = "common/mod.rs"]
mod common;

use pixmill::ImageInput;
use pixmill::hotpot::{Client, SizeFactor};
use pixmill_sandbox::Provider;

#[tokio::main]
async fn main() -> pixmill::Result<()> {
    let (image, out_dir) = common::args(common::sample_image().display().to_string());
    let sandbox = common::sandbox_unless("HOTPOT_API_KEY").await;
    let client = match &sandbox {
        Some(sandbox) => Client::builder()
            .api_key(sandbox.credentials().hotpot_api_key.clone())
            .base_url(sandbox.base_url(Provider::Hotpot))
            .build()?,
        None => Client::from_env()?,
    };

    let input = ImageInput::from_path(&image);
    let supersized = client
        .supersize(input.clone())
        .size_factor(SizeFactor::X2)
        .send()
        .await?;
    let supersized_path = out_dir.join("supersized.png");
    supersized.save(&supersized_path).await?;
    match supersized.info() {
        Some(info) => println!(
            "wrote {} ({}x{})",
            supersized_path.display(),
            info.width,
            info.height
        ),
        None => println!("wrote {}", supersized_path.display()),
    }

    let cutout = client.remove_background(input.clone()).await?;
    let cutout_path = out_dir.join("no-background.png");
    cutout.save(&cutout_path).await?;
    println!("wrote {}", cutout_path.display());

    println!("dominant colours:");
    for colour in client.color_from_picture(input).await? {
        println!("{colour}");
    }
    Ok(())
}
