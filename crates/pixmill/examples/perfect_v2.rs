//! Enhance a photo 2x, remove its background and list hairstyle templates with Perfect Corp's
//! V2 API.
//!
//! ```text
//! cargo run -p pixmill --example perfect_v2 -- [image] [out_dir]
//! ```
//!
//! Writes `enhanced.jpg` (scale 2x) and `no-background.png` (transparent background) to
//! `out_dir` (default `./pixmill-out`), then prints the first page of hairstyle templates, one
//! per line. Without `PERFECT_API_KEY` it runs against an in-process sandbox; with
//! `PERFECT_API_KEY` it calls the real API (`PERFECT_BASE_URL` overrides the server) and spends
//! units.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use futures_util::{StreamExt as _, TryStreamExt as _};
use pixmill::perfect::v2::{Client, Feature, Scale};
use pixmill::raw::perfect_v2::constants::parameters::PAGE_SIZE_MAXIMUM;
use pixmill::{ImageInput, PollPolicy};
use pixmill_sandbox::Provider;

#[tokio::main]
async fn main() -> pixmill::Result<()> {
    let (image, out_dir) = common::args(common::sample_image().display().to_string());
    let sandbox = common::sandbox_unless("PERFECT_API_KEY").await;
    let client = match &sandbox {
        Some(sandbox) => Client::builder()
            .api_key(sandbox.credentials().perfect_api_key.clone())
            .base_url(sandbox.base_url(Provider::Perfect))
            // Sandbox tasks finish in half a second.
            .poll_policy(PollPolicy::new(Duration::from_millis(200)))
            .build()?,
        None => Client::from_env()?,
    };

    let input = ImageInput::from_path(&image);
    let task = client.enhance(input.clone(), Scale::X2).send().await?;
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

    println!("hairstyle templates:");
    let first_page = usize::try_from(PAGE_SIZE_MAXIMUM).unwrap_or(1);
    let templates: Vec<_> = client
        .templates(Feature::HairStyle)
        .take(first_page)
        .try_collect()
        .await?;
    for template in templates {
        let title = template.title.as_deref().unwrap_or("(untitled)");
        match template.category_name.as_deref() {
            Some(category) => println!("{}  {title} ({category})", template.id),
            None => println!("{}  {title}", template.id),
        }
    }
    Ok(())
}
