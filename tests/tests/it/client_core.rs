//! The client core against a scripted server that behaves like real servers do, not like the
//! documents promise: gateway HTML pages, plain-text throttling, huge error bodies, statuses
//! nobody documented, downloads that break off. Time is paused: retries, `Retry-After` and
//! poll intervals pass instantly and deterministically.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use base64::Engine as _;
use futures::StreamExt as _;
use pixmill::{Error, ErrorKind, ImageInput, PollPolicy, RetryPolicy};
use pixmill_tests::fake::{Fake, answer, http, json};
use pixmill_tests::sandbox::sample_png;
use serde_json::json;
use tokio::time::Instant;

fn retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_initial_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(10))
}

fn hotpot(fake: &Fake) -> pixmill::hotpot::Client {
    pixmill::hotpot::Client::builder()
        .api_key("k")
        .base_url(&fake.base_url)
        .http_client(http())
        .retry_policy(retry())
        .build()
        .unwrap()
}

fn hitpaw(fake: &Fake) -> pixmill::hitpaw::Client {
    pixmill::hitpaw::Client::builder()
        .api_key("k")
        .base_url(&fake.base_url)
        .http_client(http())
        .retry_policy(retry())
        .build()
        .unwrap()
}

fn picture_answer() -> axum::response::Response {
    let encoded = base64::engine::general_purpose::STANDARD.encode(sample_png(4, 4));
    json(200, json!({ "imageBase64": encoded }))
}

const GATEWAY_PAGE: &str = "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>";

#[tokio::test(start_paused = true)]
async fn an_html_503_from_a_gateway_is_retried() {
    let fake = Fake::start(|_, index| match index {
        0 | 1 => answer(503, "text/html", GATEWAY_PAGE, &[]),
        _ => picture_answer(),
    })
    .await;
    let output = hotpot(&fake)
        .remove_background(sample_png(4, 4))
        .await
        .expect("the third attempt succeeds");
    assert!(output.as_bytes().is_some());
    assert_eq!(fake.count("/remove-background"), 3);
}

#[tokio::test(start_paused = true)]
async fn the_status_of_an_html_503_survives_when_retries_run_out() {
    let fake = Fake::start(|_, _| answer(503, "text/html", GATEWAY_PAGE, &[])).await;
    let client = pixmill::hotpot::Client::builder()
        .api_key("k")
        .base_url(&fake.base_url)
        .http_client(http())
        .retry_policy(retry().with_max_attempts(2))
        .build()
        .unwrap();
    let error = client
        .remove_background(sample_png(4, 4))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(503), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert!(error.is_retryable());
    assert!(
        error
            .to_string()
            .contains("503 Service Temporarily Unavailable"),
        "{error}"
    );
    assert_eq!(fake.count("/remove-background"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_plain_text_429_with_retry_after_is_retried_after_the_wait() {
    let fake = Fake::start(|_, index| match index {
        0 => answer(429, "text/plain", "slow down", &[("retry-after", "3")]),
        _ => picture_answer(),
    })
    .await;
    let started = Instant::now();
    hotpot(&fake)
        .remove_background(sample_png(4, 4))
        .await
        .expect("the retry succeeds");
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].at - seen[0].at >= Duration::from_secs(3),
        "the retry waited {:?}",
        seen[1].at - seen[0].at
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "and not much longer"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_without_retry_after_backs_off_and_grows() {
    let fake = Fake::start(|_, index| match index {
        0 | 1 => json(429, json!({ "message": "Too Many Requests" })),
        _ => picture_answer(),
    })
    .await;
    hotpot(&fake)
        .remove_background(sample_png(4, 4))
        .await
        .expect("the third try succeeds");
    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    let (first, second) = (seen[1].at - seen[0].at, seen[2].at - seen[1].at);
    // The policy's first delay (100 ms, jitter only lengthens it), then a longer one.
    assert!(first >= Duration::from_millis(100), "{first:?}");
    assert!(second > first, "{first:?} then {second:?}");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_longest_delay_fails_at_once() {
    let fake = Fake::start(|_, _| {
        answer(
            429,
            "text/plain",
            "come back tomorrow",
            &[("retry-after", "86400")],
        )
    })
    .await;
    let error = hotpot(&fake)
        .remove_background(sample_png(4, 4))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Throttled { .. }), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(86_400)));
    assert!(error.to_string().contains("86400.0 s"), "{error}");
    assert_eq!(fake.count("/remove-background"), 1, "not slept through");
}

#[tokio::test(start_paused = true)]
async fn an_html_500_on_a_charged_call_is_outcome_unknown_and_sent_once() {
    let fake =
        Fake::start(|_, _| answer(500, "text/html", "<h1>Internal Server Error</h1>", &[])).await;
    let error = hotpot(&fake)
        .remove_background(sample_png(4, 4))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::OutcomeUnknown {
                status: Some(500),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        !error.is_retryable(),
        "the client did not retry it, and says so"
    );
    assert_eq!(fake.count("/remove-background"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_500_on_a_status_query_is_retried() {
    let fake = Fake::start(|_, index| match index {
        0 => answer(500, "text/html", "<h1>oops</h1>", &[]),
        _ => json(
            200,
            json!({"code": 200, "data": {"job_id": "j", "status": "CONVERTING"}}),
        ),
    })
    .await;
    let snapshot = hitpaw(&fake)
        .job("j")
        .status()
        .await
        .expect("the retry succeeds");
    assert_eq!(snapshot.status(), &pixmill::hitpaw::JobStatus::Converting);
    assert_eq!(fake.count("/api/task-status"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_forbidden_with_a_foreign_json_body_keeps_its_status() {
    let fake = Fake::start(|_, _| json(403, json!({"message": "Forbidden"}))).await;
    let error = hotpot(&fake)
        .remove_background(sample_png(4, 4))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(403), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::Authentication);
    assert!(!error.is_retryable());
}

#[tokio::test(start_paused = true)]
async fn a_huge_error_body_is_read_only_up_to_the_bound() {
    const TOTAL: usize = 50 << 20;
    const CHUNK: usize = 64 << 10;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let fake = Fake::start(move |_, _| {
        let counter = counter.clone();
        // `{"code": 400, "message": "xxxx…` fifty megabytes long, produced on demand.
        let head = futures::stream::once(async {
            Ok::<_, std::io::Error>(b"{\"code\": 400, \"message\": \"".to_vec())
        });
        let body = futures::stream::iter(0..TOTAL / CHUNK).map(move |_| {
            counter.fetch_add(CHUNK, Ordering::Relaxed);
            Ok(vec![b'x'; CHUNK])
        });
        answer(
            400,
            "application/json",
            Body::from_stream(head.chain(body)),
            &[("content-length", &(TOTAL + 26).to_string())],
        )
    })
    .await;
    let error = hotpot(&fake)
        .remove_background(sample_png(4, 4))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400), "{error:?}");
    assert!(
        error.to_string().len() < 2_000,
        "the message is clipped: {} bytes",
        error.to_string().len()
    );
    // The server produces chunks only as fast as the client reads them (give or take socket
    // buffers): far less than the whole body was ever pulled.
    let pulled = pulled.load(Ordering::Relaxed);
    assert!(pulled < TOTAL / 4, "{pulled} bytes were produced");
}

#[tokio::test(start_paused = true)]
async fn an_oversized_answer_is_an_invalid_response() {
    let fake = Fake::start(|_, _| json(200, json!({"imageBase64": "A".repeat(4096)}))).await;
    let client = pixmill::hotpot::Client::builder()
        .api_key("k")
        .base_url(&fake.base_url)
        .http_client(http())
        .max_answer_bytes(1024)
        .build()
        .unwrap();
    let error = client
        .remove_background(sample_png(4, 4))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{error:?}");
    assert!(
        error.to_string().contains("larger than 1024 bytes"),
        "{error}"
    );
}

/// A HitPaw job submitted from a URL (no upload), whose status answers follow `statuses`.
async fn hitpaw_job(
    statuses: &'static [&'static str],
) -> (Fake, Result<pixmill::hitpaw::JobOutput, Error>) {
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = polls.clone();
    let fake = Fake::start(move |seen, _| {
        if seen.path.starts_with("/api/photo-enhancer") {
            return json(200, json!({"code": 200, "message": "OK", "data": {"job_id": "j1", "consume_coins": 5}}));
        }
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let status = statuses[n.min(statuses.len() - 1)];
        json(200, json!({"code": 200, "data": {"job_id": "j1", "status": status, "res_url": "http://127.0.0.1:9/files/r.png"}}))
    })
    .await;
    let client = hitpaw(&fake);
    let job = client
        .enhance(ImageInput::from_url("https://example.test/photo.jpg"))
        .send()
        .await
        .expect("submitted");
    let outcome = job.wait().await;
    (fake, outcome)
}

#[tokio::test(start_paused = true)]
async fn an_undocumented_status_keeps_the_job_polling() {
    let (fake, outcome) = hitpaw_job(&["PAUSED", "QUEUED_AGAIN", "COMPLETED"]).await;
    let output = outcome.expect("the job completes after two unknown statuses");
    assert_eq!(output.job_id(), "j1");
    assert_eq!(fake.count("/api/task-status"), 3);
}

#[tokio::test(start_paused = true)]
async fn a_hitpaw_job_error_is_job_failed() {
    let (_, outcome) = hitpaw_job(&["CONVERTING", "ERROR"]).await;
    let error = outcome.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::JobFailed, "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn jobs_submitted_together_spread_their_polls() {
    let fake = Fake::start(|seen, _| {
        if seen.path.starts_with("/api/photo-enhancer") {
            return json(
                200,
                json!({"code": 200, "message": "OK", "data": {"job_id": "j", "consume_coins": 1}}),
            );
        }
        json(
            200,
            json!({"code": 200, "data": {"job_id": "j", "status": "CONVERTING"}}),
        )
    })
    .await;
    let client = hitpaw(&fake);
    let started = Instant::now();
    let jobs = futures::future::join_all((0..20).map(|_| {
        client
            .enhance(ImageInput::from_url("https://example.test/photo.jpg"))
            .send()
    }))
    .await;
    let jobs: Vec<_> = jobs
        .into_iter()
        .map(|job| job.expect("submitted"))
        .collect();
    // Each job polls once; the documented cadence starts at the shortest interval.
    let policy = jobs[0].poll_policy();
    let waits = jobs
        .iter()
        .map(|job| job.wait_with(policy.clone().with_deadline(policy.interval() * 2)));
    let _ = futures::future::join_all(waits).await;
    let first_polls: Vec<Duration> = fake
        .seen()
        .iter()
        .filter(|s| s.path.starts_with("/api/task-status"))
        .map(|s| s.at - started)
        .take(20)
        .collect();
    assert_eq!(first_polls.len(), 20);
    let distinct: std::collections::BTreeSet<u128> =
        first_polls.iter().map(Duration::as_millis).collect();
    assert!(
        distinct.len() >= 15,
        "polls land at {} distinct instants: {first_polls:?}",
        distinct.len()
    );
    let ceiling = policy.interval().mul_f64(1.0 + policy.jitter());
    for at in &first_polls {
        assert!(
            *at >= policy.interval() && *at <= ceiling,
            "{at:?} outside the documented cadence"
        );
    }
}

const FILE_SIZE: usize = 1_000_000;

fn file_bytes() -> Vec<u8> {
    (0..FILE_SIZE).map(|i| (i * 7 % 251) as u8).collect()
}

/// A file server whose first answer breaks off half-way; `ranges` says whether it resumes.
async fn breaking_file_server(ranges: bool) -> Fake {
    Fake::start(move |seen, index| {
        let file = file_bytes();
        if index == 0 {
            let half = file[..FILE_SIZE / 2].to_vec();
            let body = futures::stream::iter(vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "cut",
                )),
            ]);
            return answer(
                200,
                "image/png",
                Body::from_stream(body),
                &[("content-length", &FILE_SIZE.to_string())],
            );
        }
        let range = seen
            .headers
            .get("range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.strip_suffix('-'))
            .and_then(|v| v.parse::<usize>().ok());
        match range {
            Some(from) if ranges => answer(
                206,
                "image/png",
                file[from..].to_vec(),
                &[(
                    "content-range",
                    &format!("bytes {from}-{}/{FILE_SIZE}", FILE_SIZE - 1),
                )],
            ),
            _ => answer(200, "image/png", file, &[]),
        }
    })
    .await
}

async fn output_at(fake: &Fake) -> pixmill::Output {
    // A completed HitPaw job whose result lives on the file server.
    let result_url = format!("{}/files/result.png", fake.base_url);
    let jobs = Fake::start(move |seen, _| {
        if seen.path.starts_with("/api/photo-enhancer") {
            return json(200, json!({"code": 200, "data": {"job_id": "j", "consume_coins": 1}}));
        }
        json(200, json!({"code": 200, "data": {"job_id": "j", "status": "COMPLETED", "res_url": result_url}}))
    })
    .await;
    let client = hitpaw(&jobs);
    let output = client
        .job("j")
        .wait_with(PollPolicy::new(Duration::from_secs(1)))
        .await
        .expect("completed");
    output.result().clone()
}

#[tokio::test(start_paused = true)]
async fn a_download_cut_half_way_resumes_and_the_file_is_whole() {
    let fake = breaking_file_server(true).await;
    let output = output_at(&fake).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("result.png");
    let written = output.save(&path).await.expect("the download resumes");
    assert_eq!(written, FILE_SIZE as u64);
    assert_eq!(std::fs::read(&path).unwrap(), file_bytes());
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].headers["range"],
        format!("bytes={}-", FILE_SIZE / 2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_download_the_server_cannot_resume_starts_the_file_over() {
    let fake = breaking_file_server(false).await;
    let output = output_at(&fake).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("result.png");
    output.save(&path).await.expect("the download restarts");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        file_bytes(),
        "no duplicated half"
    );
    // A writer cannot be rewound: the same break is an error, not a corrupt stream.
    let fake = breaking_file_server(false).await;
    let output = output_at(&fake).await;
    let mut buffer = Vec::new();
    let error = output.write_to(&mut buffer).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MissingResult, "{error:?}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().count() == 1,
        "no temporary file is left"
    );
}

#[tokio::test(start_paused = true)]
async fn progress_reports_reach_the_total() {
    let fake = Fake::start(|_, _| answer(200, "image/png", file_bytes(), &[])).await;
    let output = output_at(&fake).await;
    let last = Arc::new(std::sync::Mutex::new(None));
    let seen = last.clone();
    let output = output.on_progress(move |progress| *seen.lock().unwrap() = Some(progress));
    let bytes = output.bytes().await.unwrap();
    assert_eq!(bytes.len(), FILE_SIZE);
    let progress = last.lock().unwrap().expect("progress was reported");
    assert_eq!(
        (progress.done, progress.total),
        (FILE_SIZE as u64, Some(FILE_SIZE as u64))
    );
}

/// Hotpot's pictures travel as streams: the request's base64 is encoded from the file while it
/// is sent, and the answer's is decoded into the destination as it arrives.
#[tokio::test(start_paused = true)]
async fn pictures_stream_from_a_file_and_into_a_file() {
    let picture = sample_png(64, 48);
    let fake = Fake::start(|seen, _| {
        // Echo the picture back, as a picture edit would.
        let body: serde_json::Value =
            serde_json::from_slice(&seen.body).expect("the request is JSON");
        json(200, json!({ "imageBase64": body["imageBase64"] }))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    std::fs::write(&input, &picture).unwrap();
    let client = hotpot(&fake);

    let in_memory = client.remove_background(input.as_path()).await.unwrap();
    assert_eq!(in_memory.as_bytes().unwrap().as_ref(), picture.as_slice());
    let output = dir.path().join("out.png");
    let written = client
        .remove_background(input.as_path())
        .save(&output)
        .await
        .unwrap();
    assert_eq!(written, picture.len() as u64);
    assert_eq!(
        std::fs::read(&output).unwrap(),
        picture,
        "the streamed file equals the in-memory result"
    );

    let seen = fake.seen();
    let sent: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    let encoded = sent["imageBase64"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
        picture
    );
    let length: usize = seen[0].headers["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, seen[0].body.len(), "the announced length is exact");
}

#[tokio::test(start_paused = true)]
async fn an_answer_cut_off_leaves_no_partial_file() {
    let fake = Fake::start(|_, _| {
        let head = b"{\"imageBase64\": \"".to_vec();
        let text = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 300_000]);
        let body = futures::stream::iter(vec![
            Ok(head),
            Ok(text.as_bytes()[..200_000].to_vec()),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "cut",
            )),
        ]);
        answer(
            200,
            "application/json",
            Body::from_stream(body),
            &[("content-length", "400100")],
        )
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.png");
    let error = hotpot(&fake)
        .remove_background(sample_png(4, 4))
        .save(&output)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OutcomeUnknown, "{error:?}");
    assert_eq!(
        fake.count("/remove-background"),
        1,
        "a charged call is not re-sent"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file, no temporary file"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_retried_even_for_a_charged_call() {
    // Nothing listens yet: the request cannot have reached anyone, so even a call that spends
    // credits is sent again, to the server that opens the port before the first retry.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|closed| closed.local_addr())
        .unwrap();
    let client = pixmill::hotpot::Client::builder()
        .api_key("k")
        .base_url(format!("http://{address}"))
        .http_client(http())
        .retry_policy(retry())
        .build()
        .unwrap();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        Fake::start_on(listener, |_, _| picture_answer())
    });
    let output = client
        .remove_background(sample_png(4, 4))
        .await
        .expect("the retry reaches the late server");
    let fake = late.await.unwrap();
    assert_eq!(fake.count("/remove-background"), 1, "received once");
    assert_eq!(output.bytes().await.unwrap(), sample_png(4, 4));
}
