//! Run one task on whichever provider can do it.
//!
//! ```text
//! cargo run -p pixmill --example any -- <task> [image | prompt] [out_dir]
//! ```
//!
//! `task` is `remove-background`, `upscale` (by 2), `colorize`, `restore` or `generate` (whose
//! second argument is a prompt). Writes `<task>.<ext>` to `out_dir` (default `./pixmill-out`)
//! and prints who did it, what it cost when known, every failed attempt, and the result as a
//! JSON line.
//!
//! When no provider variable is set (`HOTPOT_API_KEY`, `HITPAW_API_KEY`, `SEGMIND_API_KEY`,
//! and for Perfect `PERFECT_API_KEY` or `PERFECT_CLIENT_ID` with `PERFECT_CLIENT_SECRET`), it
//! runs against an in-process sandbox of all four providers, Perfect through its V2 API.
//! Otherwise it uses the providers whose variables are set (Perfect's V2 API when
//! `PERFECT_API_KEY` is set), the first able to do the task first, moving to the next only
//! when a failure charged nothing; this spends credits.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Duration;

use pixmill::ops::{
    Colorize, Generate, Providers, RemoveBackground, Request, Restore, Task, Upscale,
};
use pixmill::{ImageInput, PollPolicy};
use pixmill_sandbox::{Provider, Sandbox};

const DEFAULT_PROMPT: &str = "a lighthouse on a cliff at dusk";

#[tokio::main]
async fn main() -> pixmill::Result<()> {
    let mut args = std::env::args().skip(1);
    let task: Task = args
        .next()
        .unwrap_or_else(|| Task::RemoveBackground.id().to_string())
        .parse()?;
    let subject = args.next();
    let out_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("pixmill-out"));
    if let Err(error) = std::fs::create_dir_all(&out_dir) {
        eprintln!("cannot create {}: {error}", out_dir.display());
        std::process::exit(1);
    }

    let mut providers = Providers::from_env()?;
    let mut _sandbox = None;
    if providers.configured().is_empty() {
        let sandbox = common::start_sandbox().await;
        eprintln!(
            "no provider variable is set: using a local sandbox at {}",
            sandbox.addr()
        );
        providers = sandbox_providers(&sandbox)?;
        _sandbox = Some(sandbox);
    }
    eprintln!("able to {task}: {:?}", providers.available(task));

    let request = request(task, subject);
    let result = providers.run_any(request).await?;
    for attempt in result.failed_attempts() {
        eprintln!("{} failed first: {}", attempt.provider, attempt.error);
    }
    println!("{task} done by {}", result.provider());
    if let Some(job_id) = result.job_id() {
        println!("job {job_id}");
    }
    if let Some(credits) = result.credits() {
        println!("cost {} {:?}", credits.amount, credits.unit);
    }
    let extension = result
        .output()
        .format()
        .map_or("bin", |format| format.extension());
    let path = out_dir.join(format!("{}.{extension}", task.id()));
    let written = result.output().save(&path).await?;
    println!("wrote {} ({written} bytes)", path.display());
    println!(
        "{}",
        serde_json::to_string(&result).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    );
    Ok(())
}

/// The request for `task`, on the sample image or the default prompt unless one is given.
fn request(task: Task, subject: Option<String>) -> Request {
    let image = || {
        subject
            .as_deref()
            .map(ImageInput::from)
            .unwrap_or_else(|| ImageInput::from_path(common::sample_image()))
    };
    match task {
        Task::Upscale => Upscale::new(image(), 2).into(),
        Task::Colorize => Colorize::new(image()).into(),
        Task::Restore => Restore::new(image()).into(),
        Task::Generate => {
            Generate::new(subject.clone().unwrap_or_else(|| DEFAULT_PROMPT.into())).into()
        }
        _ => RemoveBackground::new(image()).into(),
    }
}

/// A client of every provider, pointed at the sandbox; Perfect through its V2 API, as
/// `Providers::from_env` picks it when `PERFECT_API_KEY` is set.
fn sandbox_providers(sandbox: &Sandbox) -> pixmill::Result<Providers> {
    let credentials = sandbox.credentials();
    // Sandbox jobs finish in half a second; the providers' own cadences are seconds.
    let polls = PollPolicy::new(Duration::from_millis(200));
    Ok(Providers::new()
        .with(
            pixmill::hotpot::Client::builder()
                .api_key(credentials.hotpot_api_key.clone())
                .base_url(sandbox.base_url(Provider::Hotpot))
                .build()?,
        )
        .with(
            pixmill::hitpaw::Client::builder()
                .api_key(credentials.hitpaw_api_key.clone())
                .base_url(sandbox.base_url(Provider::Hitpaw))
                .poll_policy(polls.clone())
                .build()?,
        )
        .with(
            pixmill::segmind::Client::builder()
                .api_key(credentials.segmind_api_key.clone())
                .base_url(sandbox.base_url(Provider::Segmind))
                .build()?,
        )
        .with(
            pixmill::perfect::v2::Client::builder()
                .api_key(credentials.perfect_api_key.clone())
                .base_url(sandbox.base_url(Provider::Perfect))
                .poll_policy(polls)
                .build()?,
        ))
}
