//! The Perfect facade end to end against the sandbox: every feature, token expiry, retries
//! without double charges, the 10-second polling rule, the rate budget and bad input.

use std::time::Duration;

use futures::TryStreamExt as _;
use pixmill::perfect::{
    Client, EngineErrorCode, Feature, Input, OutputFormat, RateLimits, Scale, StyleChoice,
};
use pixmill::{Error, ErrorCode, ImageInput, PollPolicy, RetryPolicy};
use pixmill_sandbox::{Fault, FaultRule, JobFailure, Provider, Sandbox, SandboxConfig};
use pixmill_tests::sandbox::{quick_config, sample_jpeg, sample_png, spec_violations};

const ENHANCE_TASK: &str = "/s2s/v1.0/task/enhance";

fn unlimited_sandbox() -> SandboxConfig {
    SandboxConfig {
        perfect_token_limit: None,
        perfect_ip_limit: None,
        ..quick_config()
    }
}

fn builder(sandbox: &Sandbox) -> pixmill::perfect::ClientBuilder {
    let credentials = sandbox.credentials();
    Client::builder()
        .client_id(credentials.perfect_client_id.clone())
        .client_secret(credentials.perfect_client_secret.clone())
        .base_url(sandbox.base_url(Provider::Perfect))
        .rate_limits(RateLimits::unlimited())
        .retry_policy(
            RetryPolicy::default()
                .with_initial_delay(Duration::from_millis(20))
                .with_max_delay(Duration::from_secs(2)),
        )
        .poll_policy(
            PollPolicy::new(Duration::from_millis(50)).with_deadline(Duration::from_secs(20)),
        )
}

async fn start(config: SandboxConfig) -> (Sandbox, Client) {
    let sandbox = Sandbox::start_with(config).await.expect("sandbox starts");
    let client = builder(&sandbox).build().expect("client builds");
    (sandbox, client)
}

fn decode(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory(bytes).expect("a decodable result")
}

async fn first_style(client: &Client, feature: Feature) -> StyleChoice {
    let group = client
        .style_groups(feature)
        .try_next()
        .await
        .expect("groups list")
        .expect("a group");
    let style = client
        .styles(feature, Some(group.id))
        .try_next()
        .await
        .expect("styles list")
        .expect("a style");
    StyleChoice {
        group_id: group.id,
        style_id: style.id,
    }
}

#[tokio::test(start_paused = true)]
async fn every_feature_runs_end_to_end() {
    let (sandbox, client) = start(unlimited_sandbox()).await;
    let photo = || ImageInput::from_bytes(sample_jpeg(48, 40));

    for feature in [
        Feature::HairStyle,
        Feature::Wig,
        Feature::HairExtension,
        Feature::HairBang,
        Feature::HairVolume,
    ] {
        let style = first_style(&client, feature).await;
        let request = match feature {
            Feature::HairStyle => client.hair_style(photo(), style),
            Feature::Wig => client.wig(photo(), style),
            Feature::HairExtension => client.hair_extension(photo(), style),
            Feature::HairBang => client.hair_bang(photo(), style),
            _ => client.hair_volume(photo(), style),
        };
        let output = request
            .send()
            .await
            .expect("submitted")
            .wait()
            .await
            .expect("succeeds");
        let mut bytes = Vec::new();
        output
            .result()
            .write_to(&mut bytes)
            .await
            .expect("downloads");
        let image = decode(&bytes);
        assert_eq!((image.width(), image.height()), (48, 40), "{feature}");
    }

    let aging = client
        .aging(photo())
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    let ages: Vec<i32> = aging
        .files()
        .iter()
        .map(|f| f.res_age.expect("res_age"))
        .collect();
    assert!(
        ages.len() > 1 && ages.windows(2).all(|w| w[0] < w[1]),
        "{ages:?}"
    );
    let info = aging.aging().expect("custom_info");
    assert_eq!(info.num_of_photos, Some(ages.len() as i32));
    assert_eq!(
        (info.age_min, info.age_max),
        (ages.first().copied(), ages.last().copied())
    );

    let makeup = client
        .makeup_transfer(photo(), ImageInput::from_bytes(sample_png(48, 40)))
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(makeup.files().len(), 1);

    let mask = {
        let mask =
            image::GrayImage::from_fn(48, 40, |x, _| image::Luma([if x < 10 { 255 } else { 0 }]));
        let mut out = std::io::Cursor::new(Vec::new());
        mask.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let removed = client
        .object_removal(photo(), ImageInput::from_bytes(mask))
        .output(OutputFormat::Webp)
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    let mut bytes = Vec::new();
    removed.result().write_to(&mut bytes).await.unwrap();
    assert_eq!(
        image::guess_format(&bytes).unwrap(),
        image::ImageFormat::WebP
    );

    let colour = client
        .colorize(photo())
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    let mut bytes = Vec::new();
    colour.result().write_to(&mut bytes).await.unwrap();
    assert!(matches!(decode(&bytes), image::DynamicImage::ImageRgb8(_)));

    let cutout = client
        .background_removal(photo())
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    let mut bytes = Vec::new();
    cutout.result().write_to(&mut bytes).await.unwrap();
    let cutout = decode(&bytes).to_rgba8();
    assert_eq!(cutout.get_pixel(0, 0)[3], 0, "transparent background");

    let enhanced = client
        .enhance(photo(), Scale::X2)
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enhanced.jpg");
    enhanced.result().save(&path).await.unwrap();
    let image = image::open(&path).unwrap();
    assert_eq!((image.width(), image.height()), (96, 80));

    let style = first_style(&client, Feature::TextToImage).await;
    let generated = client
        .text_to_image("a lighthouse at dawn", style)
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    let mut bytes = Vec::new();
    generated.result().write_to(&mut bytes).await.unwrap();
    let image = decode(&bytes);
    assert_eq!((image.width(), image.height()), (1024, 1024));

    assert_eq!(
        sandbox.charges().len(),
        12,
        "one charge per successful task"
    );
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_result_feeds_the_next_task_without_another_upload() {
    let (sandbox, client) = start(unlimited_sandbox()).await;
    let enhanced = client
        .enhance(ImageInput::from_bytes(sample_png(32, 32)), Scale::X2)
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    let cutout = client
        .background_removal(enhanced.first())
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    // Like real ids, the sandbox's carry `+`, `/` and `=`: polling had to encode them.
    for id in [enhanced.task_id(), cutout.task_id()] {
        assert!(
            id.contains('+') && id.contains('/') && id.contains('='),
            "{id}"
        );
    }
    let mut bytes = Vec::new();
    cutout.result().write_to(&mut bytes).await.unwrap();
    assert_eq!(decode(&bytes).width(), 64);
    assert_eq!(
        sandbox.request_count(Provider::Perfect, "POST", "/s2s/v1.0/file/enhance"),
        1
    );
    assert_eq!(
        sandbox.request_count(Provider::Perfect, "POST", "/s2s/v1.0/file/sod"),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_is_refreshed_once_mid_flow() {
    let config = SandboxConfig {
        perfect_token_ttl: Duration::from_millis(300),
        ..unlimited_sandbox()
    };
    let (sandbox, client) = start(config).await;
    let file = client
        .upload(
            Feature::Enhance,
            &ImageInput::from_bytes(sample_png(16, 16)),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let output = client
        .enhance(Input::file(file), Scale::X1)
        .send()
        .await
        .expect("the 401 is answered by a new token")
        .wait()
        .await
        .unwrap();
    assert_eq!(output.files().len(), 1);
    assert_eq!(
        sandbox.request_count(Provider::Perfect, "POST", "/s2s/v1.0/client/auth"),
        2
    );
    let refused = sandbox
        .traffic()
        .iter()
        .filter(|e| e.status == Some(401))
        .count();
    assert_eq!(refused, 1, "one refusal, then the new token");
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_token_exchange() {
    let (sandbox, client) = start(unlimited_sandbox()).await;
    let calls = (0..8).map(|_| {
        let client = client.clone();
        async move {
            client
                .style_groups(Feature::Wig)
                .try_collect::<Vec<_>>()
                .await
        }
    });
    for groups in futures::future::join_all(calls).await {
        assert!(!groups.unwrap().is_empty());
    }
    assert_eq!(
        sandbox.request_count(Provider::Perfect, "POST", "/s2s/v1.0/client/auth"),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_is_retried_and_charged_once() {
    let (sandbox, client) = start(unlimited_sandbox()).await;
    sandbox.inject(
        FaultRule::new(
            Provider::Perfect,
            ENHANCE_TASK,
            Fault::TooManyRequests {
                retry_after_secs: 1,
            },
        )
        .method("POST"),
    );
    let started = tokio::time::Instant::now();
    let task = client
        .enhance(ImageInput::from_bytes(sample_png(16, 16)), Scale::X2)
        .send()
        .await
        .expect("retried");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    task.wait().await.unwrap();
    assert_eq!(
        sandbox.request_count(Provider::Perfect, "POST", ENHANCE_TASK),
        2
    );
    assert_eq!(sandbox.charges().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_during_run_task_never_charges_twice() {
    let (sandbox, client) = start(unlimited_sandbox()).await;
    sandbox.inject(
        FaultRule::new(Provider::Perfect, ENHANCE_TASK, Fault::DropAfterProcessing).method("POST"),
    );
    let task = client
        .enhance(ImageInput::from_bytes(sample_png(16, 16)), Scale::X2)
        .send()
        .await
        .expect("the retry with the same request_id succeeds");
    task.wait().await.unwrap();
    assert_eq!(
        sandbox.request_count(Provider::Perfect, "POST", ENHANCE_TASK),
        2,
        "sent twice"
    );
    let charges = sandbox.charges();
    assert_eq!(charges.len(), 1, "charged once: {charges:?}");
    assert_eq!(charges[0].reference.as_deref(), Some(task.id()));
}

#[tokio::test(start_paused = true)]
async fn slow_status_answers_do_not_let_the_task_be_lost() {
    let config = SandboxConfig {
        perfect_task_loss_after: Duration::from_millis(2000),
        perfect_task_duration: Duration::from_millis(3000),
        perfect_polling_interval: Duration::from_millis(400),
        ..unlimited_sandbox()
    };
    let sandbox = Sandbox::start_with(config).await.unwrap();
    let client = builder(&sandbox)
        .task_loss_window(Duration::from_millis(2000))
        .poll_policy(
            PollPolicy::new(Duration::from_millis(200)).with_deadline(Duration::from_secs(20)),
        )
        .build()
        .unwrap();
    let task = client
        .enhance(ImageInput::from_bytes(sample_png(16, 16)), Scale::X1)
        .send()
        .await
        .unwrap();
    // Two polls are answered only after most of the window (Perfect saw them at once), one is
    // held back on the way, and two fail outright.
    sandbox.inject(
        FaultRule::new(
            Provider::Perfect,
            ENHANCE_TASK,
            Fault::SlowAnswer(Duration::from_millis(1800)),
        )
        .method("GET")
        .times(2),
    );
    sandbox.inject(
        FaultRule::new(
            Provider::Perfect,
            ENHANCE_TASK,
            Fault::Delay(Duration::from_millis(600)),
        )
        .method("GET"),
    );
    sandbox.inject(
        FaultRule::new(Provider::Perfect, ENHANCE_TASK, Fault::Status(500))
            .method("GET")
            .times(2),
    );
    task.wait().await.expect("the task survives");
    assert_eq!(sandbox.lost_tasks(), 0);
    assert_eq!(sandbox.charges().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_task_error_is_a_typed_engine_code_and_free() {
    // A documented code, and one the spec does not list: the task fails either way, with the
    // code kept as Perfect sent it.
    let cases = [
        ("error_no_face", EngineErrorCode::ErrorNoFace),
        (
            "error_new_in_production",
            EngineErrorCode::Unknown("error_new_in_production".into()),
        ),
    ];
    for (sent, expected) in cases {
        let (sandbox, client) = start(unlimited_sandbox()).await;
        sandbox.fail_next_jobs(JobFailure {
            provider: Provider::Perfect,
            code: sent.into(),
            times: 1,
        });
        let task = client
            .aging(ImageInput::from_bytes(sample_jpeg(32, 32)))
            .send()
            .await
            .unwrap();
        let error = task.wait().await.expect_err("the engine fails");
        assert_eq!(
            error.code(),
            Some(&ErrorCode::PerfectEngine(expected)),
            "{sent}"
        );
        match &error {
            Error::JobFailed { job_id, .. } => assert_eq!(job_id, task.id()),
            other => panic!("{other:?}"),
        }
        assert!(sandbox.charges().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn invalid_input_is_rejected_before_any_request() {
    let (sandbox, client) = start(unlimited_sandbox()).await;
    let mismatched = client
        .object_removal(
            ImageInput::from_bytes(sample_png(40, 30)),
            ImageInput::from_bytes(sample_png(30, 40)),
        )
        .send()
        .await
        .expect_err("mask of another size");
    assert!(
        mismatched
            .to_string()
            .contains("mask must be the image's size, 40x30, got 30x40"),
        "{mismatched}"
    );

    let mut wide = sample_png(8, 8);
    wide[16..20].copy_from_slice(&5000u32.to_be_bytes());
    let too_wide = client
        .enhance(ImageInput::from_bytes(wide), Scale::X2)
        .send()
        .await
        .expect_err("long side over 4096");
    assert!(
        too_wide
            .to_string()
            .contains("long side is 5000 px but must be at most 4096 px"),
        "{too_wide}"
    );

    let gif = {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbImage::new(4, 4)
            .write_to(&mut out, image::ImageFormat::Gif)
            .unwrap();
        out.into_inner()
    };
    let wrong_format = client
        .enhance(ImageInput::from_bytes(gif), Scale::X2)
        .send()
        .await
        .expect_err("GIF is not accepted");
    assert!(
        matches!(wrong_format, Error::InvalidInput(_)),
        "{wrong_format:?}"
    );

    let style = StyleChoice {
        group_id: 1,
        style_id: 2,
    };
    let empty_prompt = client
        .text_to_image("  ", style)
        .send()
        .await
        .expect_err("empty prompt");
    assert!(empty_prompt.to_string().contains("prompt"));
    let png_enhance = client
        .enhance(ImageInput::from_bytes(sample_png(8, 8)), Scale::X2)
        .output(OutputFormat::Png)
        .send()
        .await
        .expect_err("enhance gives jpg or webp");
    assert!(
        png_enhance.to_string().contains("one of jpg, webp"),
        "{png_enhance}"
    );
    assert!(sandbox.traffic().is_empty(), "the sandbox saw nothing");
}

#[tokio::test(start_paused = true)]
async fn catalogues_stream_every_page() {
    let (sandbox, client) = start(unlimited_sandbox()).await;
    let styles: Vec<_> = client
        .styles(Feature::HairStyle, None)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(styles.len(), 69, "3 groups of 23 across 4 pages");
    let mut ids: Vec<i64> = styles.iter().map(|s| s.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 69);
    assert!(ids.iter().all(|id| *id > 1 << 53));
    assert_eq!(
        sandbox.request_count(Provider::Perfect, "GET", "/s2s/v1.0/task/style/hair-style"),
        4
    );
    let none = client
        .style_groups(Feature::Enhance)
        .try_collect::<Vec<_>>()
        .await;
    assert!(matches!(none, Err(Error::Unsupported { .. })), "{none:?}");
}

/// Thirty tasks of fifteen seconds under the documented limits (100 requests a minute per
/// token, 100 per five minutes per IP, tasks lost after ten seconds without a poll), on the
/// paused clock: none is throttled or lost, and each is polled about once per budget share
/// rather than at the sandbox's one-second `polling_interval`.
#[tokio::test(start_paused = true)]
async fn tasks_at_once_keep_the_documented_limits() {
    let config = SandboxConfig {
        perfect_task_duration: Duration::from_secs(15),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start_with(config).await.unwrap();
    let credentials = sandbox.credentials();
    let client = Client::builder()
        .client_id(credentials.perfect_client_id.clone())
        .client_secret(credentials.perfect_client_secret.clone())
        .base_url(sandbox.base_url(Provider::Perfect))
        .build()
        .unwrap();
    assert_eq!(client.task_capacity(), 2);
    const TASKS: usize = 30;
    let picture = sample_png(8, 8);
    let tasks = (0..TASKS).map(|_| {
        let client = client.clone();
        let picture = picture.clone();
        async move {
            client
                .enhance(ImageInput::from_bytes(picture), Scale::X1)
                .send()
                .await?
                .wait()
                .await
        }
    });
    let outcomes = futures::future::join_all(tasks).await;
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().err())
        .map(ToString::to_string)
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(sandbox.rate_limited(), 0, "no 429 answers");
    assert_eq!(sandbox.lost_tasks(), 0);
    assert_eq!(sandbox.charges().len(), TASKS);
    let polls = sandbox
        .traffic()
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains("/task/") && !e.path.contains("style"))
        .count();
    // Two polls cover a 15-second task at 8.5-second spacing; a few tasks need a third.
    assert!(
        polls <= TASKS * 3,
        "{polls} status queries for {TASKS} tasks"
    );
}

#[tokio::test(start_paused = true)]
async fn credentials_never_show() {
    let sandbox = Sandbox::start_with(unlimited_sandbox()).await.unwrap();
    let other = Sandbox::start_with(unlimited_sandbox().with_fresh_key())
        .await
        .unwrap();
    // A well-formed secret of another account: the exchange is refused.
    let secret = other.credentials().perfect_client_secret.clone();
    let client = Client::builder()
        .client_id(sandbox.credentials().perfect_client_id.clone())
        .client_secret(secret.clone())
        .base_url(sandbox.base_url(Provider::Perfect))
        .rate_limits(RateLimits::unlimited())
        .build()
        .unwrap();
    let error = client
        .style_groups(Feature::HairStyle)
        .try_collect::<Vec<_>>()
        .await
        .expect_err("refused");
    assert_eq!(error.status(), Some(401));
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{client:?}"),
    ] {
        assert!(!shown.contains(&secret), "{shown}");
    }
    assert!(Client::new("id", "not base64!").is_err());
}

#[tokio::test(start_paused = true)]
async fn an_upload_cut_off_is_sent_again() {
    let (sandbox, client) = start(unlimited_sandbox()).await;
    sandbox.inject_upload_fault(Fault::DropBeforeProcessing, 1);
    let output = client
        .colorize(ImageInput::from_bytes(sample_png(8, 8)))
        .send()
        .await
        .expect("the upload is repeated")
        .wait()
        .await
        .expect("completes");
    assert_eq!(output.files().len(), 1);
    let uploads = sandbox
        .traffic()
        .iter()
        .filter(|e| e.path.starts_with("/_uploads/"))
        .count();
    assert_eq!(uploads, 2, "one cut off, one stored");
}
