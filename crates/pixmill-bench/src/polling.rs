//! Polling: many HitPaw jobs submitted at once, waited for with the documented cadence, against
//! an in-process server whose jobs take a fixed time. The clock is tokio's paused clock, so the
//! minutes of simulated waiting take milliseconds and every instant is exact.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use pixmill::raw::hitpaw::service;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::Figure;

const JOBS: usize = 50;
const JOB_TIME: Duration = Duration::from_secs(12);
/// Polls closer together than this count as arriving at the same instant.
const INSTANT: Duration = Duration::from_millis(10);

#[derive(Default)]
struct Record {
    /// When each job was submitted, by index.
    submitted: Vec<Instant>,
    /// Every status query: the job's index, when it arrived and whether it saw the job done.
    polls: Vec<(usize, Instant, bool)>,
}

type Shared = Arc<Mutex<Record>>;

fn envelope(data: Value) -> Response {
    axum::Json(json!({ "code": 200, "message": "OK", "data": data })).into_response()
}

async fn submit(State(record): State<Shared>) -> Response {
    let mut record = record.lock().expect("the record");
    let index = record.submitted.len();
    record.submitted.push(Instant::now());
    envelope(json!({ "job_id": format!("job-{index}"), "consume_coins": 1 }))
}

async fn status(State(record): State<Shared>, axum::Json(body): axum::Json<Value>) -> Response {
    let now = Instant::now();
    let mut record = record.lock().expect("the record");
    let index = body["job_id"]
        .as_str()
        .and_then(|id| id.strip_prefix("job-"))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n < record.submitted.len());
    let Some(index) = index else {
        return axum::Json(json!({ "code": 400, "message": "no such job" })).into_response();
    };
    let done = now >= record.submitted[index] + JOB_TIME;
    record.polls.push((index, now, done));
    let mut data =
        json!({ "job_id": format!("job-{index}"), "original_url": "https://example.com/in.jpg" });
    if done {
        data["status"] = json!("COMPLETED");
        data["res_url"] = json!("https://example.com/out.jpg");
    } else {
        data["status"] = json!("CONVERTING");
    }
    envelope(data)
}

pub fn measure() -> Result<Vec<Figure>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run())
}

async fn run() -> Result<Vec<Figure>, String> {
    let record = Shared::default();
    let app = Router::new()
        .route(service::photo_enhancer::PATH, post(submit))
        .route(service::task_status::PATH, post(status))
        .with_state(record.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let hitpaw = pixmill::hitpaw::Client::builder()
        .api_key("k")
        .base_url(format!("http://{address}"))
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let waits = (0..JOBS).map(|_| {
        let hitpaw = hitpaw.clone();
        tokio::spawn(async move {
            let job = hitpaw.enhance("https://example.com/in.jpg").send().await?;
            job.wait().await
        })
    });
    for wait in waits.collect::<Vec<_>>() {
        wait.await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("a job failed: {e}"))?;
    }
    let elapsed = started.elapsed();
    let record = record.lock().expect("the record");
    analyse(&record, elapsed)
}

fn analyse(record: &Record, elapsed: Duration) -> Result<Vec<Figure>, String> {
    if record.submitted.len() != JOBS {
        return Err(format!(
            "{} jobs submitted, not {JOBS}",
            record.submitted.len()
        ));
    }
    // The documented cadence: a poll every `min` seconds until one finds the job done.
    let rule = pixmill::raw::hitpaw::service::task_status::POLLING
        .iter()
        .find(|rule| rule.after == Some("photo_enhancer"))
        .ok_or("the spec documents no cadence for the enhancer")?;
    let min = rule.min_interval.ok_or("no shortest interval")?;
    let max = rule.max_interval.ok_or("no longest interval")?;
    let needed_per_job = JOB_TIME.as_secs_f64() / min.as_secs_f64();
    let needed_per_job = needed_per_job.ceil();
    let calls = record.polls.len() as f64;
    let call_ratio = calls / (needed_per_job * JOBS as f64);

    let mut worst_notice = Duration::ZERO;
    for (index, submitted) in record.submitted.iter().enumerate() {
        let ready = *submitted + JOB_TIME;
        let noticed = record
            .polls
            .iter()
            .filter(|(job, _, done)| *job == index && *done)
            .map(|(_, at, _)| *at)
            .min()
            .ok_or_else(|| format!("job {index} was never seen done"))?;
        worst_notice = worst_notice.max(noticed - ready);
    }

    let mut times: Vec<Instant> = record.polls.iter().map(|(_, at, _)| *at).collect();
    times.sort();
    let mut crowd = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= INSTANT {
            start += 1;
        }
        crowd = crowd.max(end - start + 1);
    }
    eprintln!(
        "{JOBS} jobs of {}s: {} status calls, all done after {:.1}s (simulated)",
        JOB_TIME.as_secs(),
        record.polls.len(),
        elapsed.as_secs_f64()
    );
    let crowd_limit = JOBS / 10;
    Ok(vec![
        Figure {
            name: "polling, status calls per job".into(),
            measured: format!("{:.2}x the cadence's {needed_per_job}", call_ratio),
            goal: "at most 1.2x".into(),
            met: call_ratio <= 1.2,
        },
        Figure {
            name: "polling, longest wait to notice a done job".into(),
            measured: format!("{:.1} s", worst_notice.as_secs_f64()),
            goal: format!("at most {} s", max.as_secs()),
            met: worst_notice <= max,
        },
        Figure {
            name: "polling, most polls within 10 ms".into(),
            measured: format!("{crowd} of {JOBS} jobs"),
            goal: format!("at most {crowd_limit}"),
            met: crowd <= crowd_limit,
        },
    ])
}
