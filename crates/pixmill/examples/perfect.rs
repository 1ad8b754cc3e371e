//! Enhance a photo 2x, remove its background and list the hairstyle catalogue with Perfect Corp.
//!
//! ```text
//! cargo run -p pixmill --example perfect -- [image] [out_dir]
//! ```
//!
//! Writes `enhanced.jpg` (scale 2x) and `no-background.png` (transparent background) to
//! `out_dir` (default `./pixmill-out`), then prints the titles of the first page (up to 20) of
//! hairstyle style groups, one per line. Without `PERFECT_CLIENT_ID` it runs against an
//! in-process sandbox; with `PERFECT_CLIENT_ID` and `PERFECT_CLIENT_SECRET` it calls the real
//! API (`PERFECT_BASE_URL` overrides the server) and spends credits.
//!
//! The client keeps Perfect's documented rate limits (100 requests per 5 minutes per IP), which
//! the sandbox enforces too; its handful of requests fits in the client's first burst.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use futures_util::{StreamExt as _, TryStreamExt as _};
use pixmill::perfect::{Client, Feature, OutputFormat, Scale};
use pixmill::{ImageInput, PollPolicy};
use pixmill_sandbox::Provider;

/// Style groups on the first page of a catalogue listing.
const FIRST_PAGE: usize = 20;

#[tokio::main]
async fn main() -> pixmill::Result<()> {
    let (image, out_dir) = common::args(common::sample_image().display().to_string());
    let sandbox = common::sandbox_unless("PERFECT_CLIENT_ID").await;
    let client = match &sandbox {
        Some(sandbox) => Client::builder()
            .client_id(sandbox.credentials().perfect_client_id.clone())
            .client_secret(sandbox.credentials().perfect_client_secret.clone())
            .base_url(sandbox.base_url(Provider::Perfect))
            // Sandbox tasks finish in half a second; Perfect's own cadence is seconds.
            .poll_policy(PollPolicy::new(Duration::from_millis(200)))
            .build()?,
        None => Client::from_env()?,
    };

    let input = ImageInput::from_path(&image);
    let task = client
        .enhance(input.clone(), Scale::X2)
        .output(OutputFormat::Jpg)
        .send()
        .await?;
    println!("enhance task {}", task.id());
    let enhanced = task.wait().await?;
    let enhanced_path = out_dir.join("enhanced.jpg");
    enhanced.result().save(&enhanced_path).await?;
    println!("wrote {}", enhanced_path.display());

    let task = client.background_removal(input).send().await?;
    println!("background removal task {}", task.id());
    let cutout = task.wait().await?;
    let cutout_path = out_dir.join("no-background.png");
    cutout.result().save(&cutout_path).await?;
    println!("wrote {}", cutout_path.display());

    println!("hairstyle style groups:");
    let groups: Vec<_> = client
        .style_groups(Feature::HairStyle)
        .take(FIRST_PAGE)
        .try_collect()
        .await?;
    for group in groups {
        let title = group.info.and_then(|info| info.title);
        println!(
            "{}",
            title.unwrap_or_else(|| format!("(untitled group {})", group.id))
        );
    }
    Ok(())
}
