//! Perfect throughput: many tasks submitted at once against the sandbox with the documented
//! limits (100 requests a minute per token, 100 per 5 minutes per IP, tasks lost after 10 s
//! without a poll), on tokio's paused clock, so that twenty simulated minutes take seconds
//! and the windows need no scaling.
//!
//! The theoretical maximum for a task of duration `T`: every task needs one `create file`, one
//! `run task` and at least `ceil(T / 10 s)` polls (polls exactly 10 s apart, the last one at
//! or after `T`). The per-IP limit is the tighter one, so at most `100 / (2 + ceil(T / 10 s))`
//! tasks finish per 5 minutes. The uploads themselves go to presigned URLs, outside the
//! limits; the one token exchange is left out of the maximum.

use std::time::Duration;

use pixmill::ImageInput;
use pixmill::perfect::{Client, Scale};
use pixmill_sandbox::{Provider, Sandbox, SandboxConfig};
use tokio::time::Instant;

use crate::Figure;

/// Tasks per run: enough for several rate windows, so that the first window's head start
/// does not dominate.
const TASKS: usize = 60;

/// One run: `TASKS` tasks of `duration`, optionally on fewer task slots than the budget allows.
struct Run {
    duration: Duration,
    max_running: Option<usize>,
}

struct Outcome {
    finished: usize,
    elapsed: Duration,
    rate_limited: usize,
    lost: usize,
    capacity: usize,
    /// The documented per-IP limit, as the sandbox enforces it.
    ip_limit: (u32, Duration),
    loss_after: Duration,
}

impl Outcome {
    /// Finished tasks per IP window.
    fn per_window(&self) -> f64 {
        self.finished as f64 / self.elapsed.as_secs_f64() * self.ip_limit.1.as_secs_f64()
    }

    /// The theoretical maximum per IP window for tasks of `duration`.
    fn maximum(&self, duration: Duration) -> f64 {
        let polls = (duration.as_secs_f64() / self.loss_after.as_secs_f64()).ceil();
        f64::from(self.ip_limit.0) / (2.0 + polls.max(1.0))
    }
}

fn small_png() -> Vec<u8> {
    let picture =
        image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("a PNG encodes");
    out.into_inner()
}

async fn run(setup: &Run) -> Result<Outcome, String> {
    let mut config = SandboxConfig {
        perfect_task_duration: setup.duration,
        ..SandboxConfig::default()
    };
    config.balances.perfect = TASKS as i64 * 10;
    let ip_limit = config
        .perfect_ip_limit
        .map(|l| (l.max, l.window))
        .ok_or("the sandbox enforces no per-IP limit")?;
    let loss_after = config.perfect_task_loss_after;
    let sandbox = Sandbox::start_with(config)
        .await
        .map_err(|e| e.to_string())?;
    let credentials = sandbox.credentials();
    let mut builder = Client::builder()
        .client_id(credentials.perfect_client_id.clone())
        .client_secret(credentials.perfect_client_secret.clone())
        .base_url(sandbox.base_url(Provider::Perfect));
    if let Some(max) = setup.max_running {
        builder = builder.max_running_tasks(max);
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let picture = bytes::Bytes::from(small_png());
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let client = client.clone();
            let picture = picture.clone();
            tokio::spawn(async move {
                client
                    .enhance(ImageInput::from_bytes(picture), Scale::X1)
                    .send()
                    .await?
                    .wait()
                    .await
            })
        })
        .collect();
    let mut finished = 0;
    for task in tasks {
        match task.await.map_err(|e| e.to_string())? {
            Ok(_) => finished += 1,
            Err(error) => eprintln!("a task failed: {error}"),
        }
    }
    let outcome = Outcome {
        finished,
        elapsed: started.elapsed(),
        rate_limited: sandbox.rate_limited(),
        lost: sandbox.lost_tasks(),
        capacity: client.task_capacity(),
        ip_limit,
        loss_after,
    };
    sandbox.shutdown().await;
    Ok(outcome)
}

pub fn measure() -> Result<Vec<Figure>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| e.to_string())?;
    let mut figures = Vec::new();
    let runs = [
        (Duration::from_secs(5), None),
        (Duration::from_secs(15), None),
        (Duration::from_secs(25), None),
        (Duration::from_secs(15), Some(1)),
    ];
    for (duration, max_running) in runs {
        let setup = Run {
            duration,
            max_running,
        };
        let outcome = runtime.block_on(run(&setup))?;
        let maximum = outcome.maximum(duration);
        let share = outcome.per_window() / maximum;
        eprintln!(
            "tasks of {} s on {} slot(s): {} of {TASKS} in {:.0} s simulated, {:.1} per window \
             (maximum {maximum:.1}), {} answers 429, {} lost",
            duration.as_secs(),
            outcome.capacity,
            outcome.finished,
            outcome.elapsed.as_secs_f64(),
            outcome.per_window(),
            outcome.rate_limited,
            outcome.lost,
        );
        let clean = outcome.finished == TASKS && outcome.rate_limited == 0 && outcome.lost == 0;
        let name = match max_running {
            None => format!("Perfect throughput, {} s tasks", duration.as_secs()),
            Some(n) => format!(
                "Perfect throughput, {} s tasks, {n} slot",
                duration.as_secs()
            ),
        };
        figures.push(Figure {
            name,
            measured: format!(
                "{:.0}% of max, {} 429, {} lost",
                share * 100.0,
                outcome.rate_limited,
                outcome.lost
            ),
            goal: match max_running {
                None => "80%, 0 429, 0 lost".into(),
                Some(_) => "(comparison)".into(),
            },
            met: max_running.is_some() || (share >= 0.8 && clean),
        });
    }
    Ok(figures)
}
