//! Enhance a photo 2x and cut out its subject with HitPaw.
//!
//! ```text
//! cargo run -p pixmill --example hitpaw -- [image] [out_dir]
//! ```
//!
//! Writes `enhanced.<ext>` (model `general_2x`), `cutout.png` (transparent background) and
//! `mask.png` to `out_dir` (default `./pixmill-out`). Without `HITPAW_API_KEY` it runs against
//! an in-process sandbox.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use pixmill::hitpaw::{Client, Model};
use pixmill::{ImageFormat, ImageInput, PollPolicy};
use pixmill_sandbox::Provider;

#[tokio::main]
async fn main() -> pixmill::Result<()> {
    let (image, out_dir) = common::args(common::sample_image().display().to_string());
    let sandbox = common::sandbox_unless("HITPAW_API_KEY").await;
    let client = match &sandbox {
        Some(sandbox) => Client::builder()
            .api_key(sandbox.credentials().hitpaw_api_key.clone())
            .base_url(sandbox.base_url(Provider::Hitpaw))
            // Sandbox jobs finish in half a second; HitPaw's documented cadence is seconds.
            .poll_policy(PollPolicy::new(Duration::from_millis(200)))
            .build()?,
        None => Client::from_env()?,
    };

    let input = ImageInput::from_path(&image);
    let job = client
        .enhance(input.clone())
        .model(Model::General2x)
        .send()
        .await?;
    println!(
        "enhancement job {} ({} coins)",
        job.id(),
        job.coins_consumed().unwrap_or_default()
    );
    let enhanced = job.wait().await?;
    let extension = enhanced
        .result()
        .format()
        .unwrap_or(ImageFormat::Png)
        .extension();
    let enhanced_path = out_dir.join(format!("enhanced.{extension}"));
    enhanced.result().save(&enhanced_path).await?;
    println!("wrote {}", enhanced_path.display());

    let cutout = client.segment(input).send().await?.wait().await?;
    let cutout_path = out_dir.join("cutout.png");
    let mask_path = out_dir.join("mask.png");
    cutout.result().save(&cutout_path).await?;
    cutout.mask()?.save(&mask_path).await?;
    println!("wrote {}", cutout_path.display());
    println!("wrote {}", mask_path.display());
    Ok(())
}
