//! The HitPaw facade end to end against the sandbox: uploads, jobs, downloads, faults, errors.

use std::time::Duration;

use pixmill::hitpaw::{Client, Model};
use pixmill::{Error, ImageInput, PollPolicy, RetryPolicy};
use pixmill_sandbox::{Fault, FaultRule, JobFailure, Provider, Sandbox};
use pixmill_tests::sandbox::{quick_sandbox, sample_png, spec_violations};

const STATUS: &str = "/api/task-status";

fn client(sandbox: &Sandbox) -> Client {
    Client::builder()
        .api_key(sandbox.credentials().hitpaw_api_key.clone())
        .base_url(sandbox.base_url(Provider::Hitpaw))
        .poll_policy(
            PollPolicy::new(Duration::from_millis(50)).with_deadline(Duration::from_secs(10)),
        )
        .retry_policy(fast_retries())
        .build()
        .expect("client builds")
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_initial_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(100))
}

fn dimensions(path: &std::path::Path) -> (u32, u32) {
    let image = image::open(path).expect("a decodable result");
    (image.width(), image.height())
}

#[tokio::test(start_paused = true)]
async fn enhance_from_a_path_uploads_waits_and_downloads_twice_the_size() {
    let sandbox = quick_sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photo.png");
    std::fs::write(&input, sample_png(40, 30)).unwrap();

    let job = client(&sandbox)
        .enhance(input.as_path())
        .model(Model::General2x)
        .dpi(300)
        .send()
        .await
        .expect("submitted");
    assert_eq!(
        job.coins_consumed(),
        Some(sandbox.config().hitpaw_enhance_price)
    );
    let output = job.wait().await.expect("completes");
    let target = dir.path().join("enhanced.png");
    let written = output.result().save(&target).await.expect("downloads");
    assert!(written > 0);
    assert_eq!(dimensions(&target), (80, 60));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "no partial files remain");
    assert_eq!(
        sandbox.request_count(Provider::Hitpaw, "POST", "/api/oss/presign-put"),
        1,
        "a local file goes through the presigned upload"
    );
    assert!(spec_violations(&sandbox).is_empty());
}

#[tokio::test(start_paused = true)]
async fn segment_returns_a_transparent_cutout_and_its_mask() {
    let sandbox = quick_sandbox().await;
    let output = client(&sandbox)
        .segment(ImageInput::from_bytes(sample_png(32, 32)))
        .send()
        .await
        .expect("submitted")
        .wait()
        .await
        .expect("completes");
    let mut cutout = Vec::new();
    output
        .result()
        .write_to(&mut cutout)
        .await
        .expect("downloads");
    let cutout = image::load_from_memory(&cutout)
        .expect("decodes")
        .to_rgba8();
    assert_eq!(cutout.get_pixel(0, 0)[3], 0, "background is transparent");
    assert_eq!(cutout.get_pixel(16, 16)[3], 255, "subject is opaque");
    let dir = tempfile::tempdir().unwrap();
    let mask = dir.path().join("mask.png");
    output
        .mask()
        .unwrap()
        .save(&mask)
        .await
        .expect("mask downloads");
    assert_eq!(dimensions(&mask), (32, 32));
}

#[tokio::test(start_paused = true)]
async fn a_url_input_is_passed_through_without_upload() {
    let sandbox = quick_sandbox().await;
    let client = client(&sandbox);
    let url = client
        .upload(&ImageInput::from_bytes(sample_png(16, 16)))
        .await
        .expect("uploads");
    let output = client
        .enhance(ImageInput::from_url(url))
        .model(Model::General4x)
        .send()
        .await
        .expect("submitted")
        .wait()
        .await
        .expect("completes");
    let mut bytes = Vec::new();
    output.result().write_to(&mut bytes).await.unwrap();
    let image = image::load_from_memory(&bytes).unwrap();
    assert_eq!((image.width(), image.height()), (64, 64));
    assert_eq!(
        sandbox.request_count(Provider::Hitpaw, "POST", "/api/oss/presign-put"),
        1,
        "only the explicit upload"
    );
}

#[tokio::test(start_paused = true)]
async fn status_503_until_the_deadline_is_a_clear_timeout() {
    let sandbox = quick_sandbox().await;
    sandbox.inject(FaultRule::new(Provider::Hitpaw, STATUS, Fault::Status(503)).times(u32::MAX));
    let client = Client::builder()
        .api_key(sandbox.credentials().hitpaw_api_key.clone())
        .base_url(sandbox.base_url(Provider::Hitpaw))
        .retry_policy(
            fast_retries()
                .with_max_attempts(u32::MAX)
                .with_deadline(Duration::from_millis(600)),
        )
        .poll_policy(
            PollPolicy::new(Duration::from_millis(50)).with_deadline(Duration::from_millis(800)),
        )
        .build()
        .unwrap();
    let job = client
        .enhance(ImageInput::from_bytes(sample_png(16, 16)))
        .send()
        .await
        .unwrap();
    let error = job.wait().await.expect_err("never completes");
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("gave up after"), "{message}");
    assert!(
        message.contains("503"),
        "the last failure is named: {message}"
    );
    assert!(sandbox.request_count(Provider::Hitpaw, "POST", STATUS) > 2);
}

#[tokio::test(start_paused = true)]
async fn malformed_json_is_a_typed_error_with_an_excerpt() {
    let sandbox = quick_sandbox().await;
    let client = client(&sandbox);
    let job = client
        .enhance(ImageInput::from_bytes(sample_png(16, 16)))
        .send()
        .await
        .unwrap();
    sandbox.inject(FaultRule::new(
        Provider::Hitpaw,
        STATUS,
        Fault::MalformedJson,
    ));
    let error = job.status().await.expect_err("unreadable");
    match &error {
        Error::InvalidResponse { excerpt, .. } => {
            assert!(excerpt.starts_with("{\"status\""), "{excerpt}")
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("body starts with"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_job_is_a_typed_error() {
    let sandbox = quick_sandbox().await;
    sandbox.fail_next_jobs(JobFailure {
        provider: Provider::Hitpaw,
        code: String::new(),
        times: 1,
    });
    let job = client(&sandbox)
        .segment(ImageInput::from_bytes(sample_png(16, 16)))
        .send()
        .await
        .unwrap();
    let error = job.wait().await.expect_err("the job fails");
    match error {
        Error::JobFailed { job_id, .. } => assert_eq!(job_id, job.id()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn invalid_input_fails_before_any_request() {
    let sandbox = quick_sandbox().await;
    let client = client(&sandbox);
    let not_an_image = client
        .enhance(ImageInput::from_bytes(b"plain text".to_vec()))
        .send()
        .await
        .expect_err("rejected");
    assert!(
        matches!(not_an_image, Error::InvalidInput(_)),
        "{not_an_image:?}"
    );
    let zero_dpi = client
        .enhance(ImageInput::from_bytes(sample_png(8, 8)))
        .dpi(0)
        .send()
        .await
        .expect_err("rejected");
    assert!(zero_dpi.to_string().contains("dpi"), "{zero_dpi}");
    // A PNG header claiming 9000×9000 is over the generative models' 34 MP.
    let mut huge = sample_png(8, 8);
    huge[16..20].copy_from_slice(&9000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&9000u32.to_be_bytes());
    let too_big = client
        .enhance(ImageInput::from_bytes(huge))
        .model(Model::Generative1x)
        .send()
        .await
        .expect_err("rejected");
    let message = too_big.to_string();
    assert!(
        message.contains("81.0 MP, 47.0 MP over the limit of 34 MP"),
        "{message}"
    );
    assert!(sandbox.traffic().is_empty(), "the sandbox saw no request");
}

#[tokio::test(start_paused = true)]
async fn an_existing_reqwest_client_is_used_with_auth_added() {
    let sandbox = quick_sandbox().await;
    let http = reqwest::Client::builder()
        .user_agent("my-app/1.0")
        .build()
        .unwrap();
    let client = Client::builder()
        .api_key(sandbox.credentials().hitpaw_api_key.clone())
        .base_url(sandbox.base_url(Provider::Hitpaw))
        .http_client(http)
        .poll_policy(PollPolicy::new(Duration::from_millis(50)))
        .build()
        .unwrap();
    let job = client
        .segment(ImageInput::from_bytes(sample_png(8, 8)))
        .send()
        .await
        .expect("authenticated through the hooks");
    assert!(job.wait().await.is_ok());
}

#[test]
fn from_env_needs_the_key() {
    // Runs in its own process state: only this test touches HITPAW_* variables.
    when_key_unset(|| {
        let error = Client::from_env().expect_err("no key");
        assert!(error.to_string().contains("HITPAW_API_KEY"), "{error}");
    });
}

fn when_key_unset(check: impl FnOnce()) {
    // Only reads the environment; the check runs where the variable is absent, as in CI.
    if std::env::var_os("HITPAW_API_KEY").is_none() {
        check();
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_upload_is_retried() {
    let sandbox = quick_sandbox().await;
    sandbox.inject_upload_fault(Fault::Status(503), 1);
    let job = client(&sandbox)
        .segment(ImageInput::from_bytes(sample_png(8, 8)))
        .send()
        .await
        .expect("the second upload succeeds");
    job.wait().await.expect("completes");
    let uploads: Vec<Option<u16>> = sandbox
        .traffic()
        .iter()
        .filter(|e| e.path.starts_with("/_uploads/"))
        .map(|e| e.status)
        .collect();
    assert_eq!(uploads, [Some(503), Some(200)]);
}
