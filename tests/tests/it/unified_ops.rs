//! Unified operations against the sandbox: one body per task, run on every provider that
//! offers it (both of Perfect's APIs), and the fallback rule: the next provider only when
//! nothing may have been charged.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::time::Duration;

use futures::TryStreamExt as _;
use image::AnimationDecoder as _;
use pixmill::ops::{
    Charge, Colorize, CreditBasis, CreditUnit, Generate, Offer, Providers, RemoveBackground,
    Request, Restore, Stage, Task, TaskResult, Upscale, offer, offers,
};
use pixmill::perfect::v2::Feature as V2Feature;
use pixmill::perfect::{Feature, RateLimits};
use pixmill::{Error, ErrorKind, ImageFormat, ImageInput, PollPolicy, Provider, RetryPolicy};
use pixmill_sandbox::{Fault, FaultRule, Sandbox, SandboxConfig};
use pixmill_tests::fake::http;
use pixmill_tests::sandbox::{quick_config, sample_png, spec_violations};

/// Short jobs, and no Perfect rate limits (one test runs many tasks).
async fn start() -> Sandbox {
    Sandbox::start_with(SandboxConfig {
        perfect_token_limit: None,
        perfect_ip_limit: None,
        ..quick_config()
    })
    .await
    .expect("sandbox starts")
}

/// The sandbox provider serving `provider` (Perfect's V2 lives on Perfect's server).
fn route(provider: Provider) -> pixmill_sandbox::Provider {
    pixmill_tests::provider_of(provider.id())
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_initial_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_millis(50))
}

fn quick_polls() -> PollPolicy {
    PollPolicy::new(Duration::from_millis(50)).with_deadline(Duration::from_secs(30))
}

/// A client of every provider, pointed at the sandbox, Perfect through its older API. The
/// HTTP clients have no timeouts of their own: under paused time a pending timeout would let
/// the clock jump while a request is in flight.
fn providers_polling(sandbox: &Sandbox, polls: PollPolicy) -> Providers {
    let credentials = sandbox.credentials();
    let url = |provider| sandbox.base_url(provider);
    Providers::new()
        .with(
            pixmill::hotpot::Client::builder()
                .api_key(credentials.hotpot_api_key.clone())
                .base_url(url(pixmill_sandbox::Provider::Hotpot))
                .http_client(http())
                .retry_policy(fast_retries())
                .build()
                .expect("hotpot client"),
        )
        .with(
            pixmill::hitpaw::Client::builder()
                .api_key(credentials.hitpaw_api_key.clone())
                .base_url(url(pixmill_sandbox::Provider::Hitpaw))
                .http_client(http())
                .retry_policy(fast_retries())
                .poll_policy(polls.clone())
                .build()
                .expect("hitpaw client"),
        )
        .with(
            pixmill::segmind::Client::builder()
                .api_key(credentials.segmind_api_key.clone())
                .base_url(url(pixmill_sandbox::Provider::Segmind))
                .http_client(http())
                .retry_policy(fast_retries())
                .build()
                .expect("segmind client"),
        )
        .with(perfect_v1(sandbox, polls))
}

/// A client of Perfect's older API, pointed at the sandbox.
fn perfect_v1(sandbox: &Sandbox, polls: PollPolicy) -> pixmill::perfect::Client {
    let credentials = sandbox.credentials();
    pixmill::perfect::Client::builder()
        .client_id(credentials.perfect_client_id.clone())
        .client_secret(credentials.perfect_client_secret.clone())
        .base_url(sandbox.base_url(pixmill_sandbox::Provider::Perfect))
        .http_client(http())
        .rate_limits(RateLimits::unlimited())
        .retry_policy(fast_retries())
        .poll_policy(polls)
        .build()
        .expect("perfect client")
}

fn providers(sandbox: &Sandbox) -> Providers {
    providers_polling(sandbox, quick_polls())
}

/// A client of Perfect's V2 API, pointed at the sandbox.
fn perfect_v2(sandbox: &Sandbox) -> pixmill::perfect::v2::Client {
    pixmill::perfect::v2::Client::builder()
        .api_key(sandbox.credentials().perfect_api_key.clone())
        .base_url(sandbox.base_url(pixmill_sandbox::Provider::Perfect))
        .http_client(http())
        .retry_policy(fast_retries())
        .poll_policy(quick_polls())
        .build()
        .expect("perfect v2 client")
}

/// [`providers`], Perfect through its V2 API.
fn providers_v2(sandbox: &Sandbox) -> Providers {
    providers(sandbox).with(perfect_v2(sandbox))
}

/// Clients able to run `provider`'s offers: Perfect through the API the offer is of.
fn providers_for(sandbox: &Sandbox, provider: Provider) -> Providers {
    match provider {
        Provider::PerfectV2 => providers_v2(sandbox),
        _ => providers(sandbox),
    }
}

/// Whether `provider` is one of Perfect's APIs.
fn is_perfect(provider: Provider) -> bool {
    matches!(provider, Provider::Perfect | Provider::PerfectV2)
}

/// Asserts the format of a result: the offer's first format where it lists formats, any
/// image format where it promises none.
fn assert_default_format(offer: &Offer, bytes: &[u8]) {
    let detected = ImageFormat::detect(bytes);
    match offer.formats.first() {
        Some(first) => assert_eq!(
            detected,
            Some(*first),
            "{}: the default format is the first offered",
            offer.provider
        ),
        None => assert!(detected.is_some(), "{}: an image", offer.provider),
    }
}

async fn result_bytes(result: &TaskResult) -> Vec<u8> {
    result
        .output()
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{}: the result downloads: {e}", result.provider()))
        .to_vec()
}

fn decode(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory(bytes).expect("a decodable result")
}

/// A grey ramp from black to white, as a PNG.
fn grey_png(width: u32, height: u32) -> Vec<u8> {
    let ramp = image::GrayImage::from_fn(width, height, |x, _| {
        image::Luma([(x * 255 / (width - 1)) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    ramp.write_to(&mut out, image::ImageFormat::Png)
        .expect("encodes");
    out.into_inner()
}

/// Asserts `outcome` is a refusal of `provider` and that nothing reached the sandbox since
/// `before` exchanges.
fn assert_refused_before_sending<T: std::fmt::Debug>(
    sandbox: &Sandbox,
    before: usize,
    provider: Provider,
    outcome: Result<T, Error>,
) {
    let error = outcome.expect_err("the option cannot be honoured");
    assert_eq!(error.kind(), ErrorKind::Unsupported, "{provider}: {error}");
    assert_eq!(error.provider(), Some(provider), "{error}");
    assert_eq!(
        sandbox.traffic().len(),
        before,
        "{provider}: nothing is sent for an option it cannot honour"
    );
}

#[tokio::test(start_paused = true)]
async fn every_provider_offering_a_cutout_makes_the_background_transparent() {
    let sandbox = start().await;
    let offers = offers(Task::RemoveBackground);
    assert!(offers.len() >= 2, "several providers cut out: {offers:?}");
    for offer in offers {
        let result = providers_for(&sandbox, offer.provider)
            .run_on(offer.provider, RemoveBackground::new(sample_png(32, 32)))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", offer.provider));
        assert_eq!(result.provider(), offer.provider);
        assert_eq!(result.task(), Task::RemoveBackground);
        let bytes = result_bytes(&result).await;
        assert_default_format(&offer, &bytes);
        let cutout = decode(&bytes);
        assert!(
            cutout.color().has_alpha(),
            "{}: an alpha channel",
            offer.provider
        );
        let cutout = cutout.to_rgba8();
        assert_eq!(cutout.dimensions(), (32, 32));
        assert_eq!(
            cutout.get_pixel(0, 0)[3],
            0,
            "{}: background",
            offer.provider
        );
        assert_eq!(
            cutout.get_pixel(16, 16)[3],
            255,
            "{}: subject",
            offer.provider
        );
    }
    assert!(spec_violations(&sandbox).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_cutout_format_is_produced_where_offered_and_refused_before_sending_elsewhere() {
    let sandbox = start().await;
    let (mut produced, mut refused) = (0, 0);
    for offer in offers(Task::RemoveBackground) {
        let providers = providers_for(&sandbox, offer.provider);
        for format in [ImageFormat::Png, ImageFormat::Webp, ImageFormat::Jpeg] {
            let request = RemoveBackground::new(sample_png(24, 24)).format(format);
            let before = sandbox.traffic().len();
            let outcome = providers.run_on(offer.provider, request).await;
            if offer.formats.contains(&format) {
                let result = outcome.unwrap_or_else(|e| panic!("{} {format}: {e}", offer.provider));
                let bytes = result_bytes(&result).await;
                assert_eq!(
                    ImageFormat::detect(&bytes),
                    Some(format),
                    "{}",
                    offer.provider
                );
                let cutout = decode(&bytes).to_rgba8();
                assert_eq!(cutout.get_pixel(0, 0)[3], 0, "{} {format}", offer.provider);
                produced += 1;
            } else {
                assert_refused_before_sending(&sandbox, before, offer.provider, outcome);
                refused += 1;
            }
        }
    }
    // Some provider offers a second format, and none offers them all.
    let listing = offers(Task::RemoveBackground)
        .iter()
        .filter(|offer| !offer.formats.is_empty())
        .count();
    assert!(produced > listing, "{produced}");
    assert!(refused > 0);
}

#[tokio::test(start_paused = true)]
async fn every_upscaler_multiplies_both_sides_by_each_factor_it_offers() {
    let sandbox = start().await;
    let offers = offers(Task::Upscale);
    assert!(offers.len() >= 2, "{offers:?}");
    let all_factors: BTreeSet<u32> = offers.iter().flat_map(|o| o.factors.clone()).collect();
    for offer in &offers {
        let providers = providers_for(&sandbox, offer.provider);
        assert!(!offer.factors.is_empty(), "{}", offer.provider);
        for factor in &all_factors {
            let request = Upscale::new(sample_png(12, 8), *factor);
            let before = sandbox.traffic().len();
            let outcome = providers.run_on(offer.provider, request).await;
            if !offer.factors.contains(factor) {
                assert_refused_before_sending(&sandbox, before, offer.provider, outcome);
                continue;
            }
            let result = outcome.unwrap_or_else(|e| panic!("{} x{factor}: {e}", offer.provider));
            let large = decode(&result_bytes(&result).await);
            assert_eq!(
                (large.width(), large.height()),
                (12 * factor, 8 * factor),
                "{} x{factor}",
                offer.provider
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_colorizer_adds_colour_to_a_grey_picture() {
    let sandbox = start().await;
    let grey = grey_png(32, 8);
    assert!(
        decode(&grey)
            .to_rgb8()
            .pixels()
            .all(|p| p[0] == p[1] && p[1] == p[2]),
        "the input has no colour"
    );
    let offers = offers(Task::Colorize);
    assert!(offers.len() >= 2, "{offers:?}");
    for offer in offers {
        let result = providers_for(&sandbox, offer.provider)
            .run_on(offer.provider, Colorize::new(grey.clone()))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", offer.provider));
        let colour = decode(&result_bytes(&result).await).to_rgb8();
        assert_eq!(colour.dimensions(), (32, 8), "{}", offer.provider);
        let coloured = colour
            .pixels()
            .filter(|p| p[0].abs_diff(p[1]) > 8 || p[1].abs_diff(p[2]) > 8)
            .count();
        assert!(
            coloured * 2 > colour.pixels().len(),
            "{}: only {coloured} of {} pixels have colour",
            offer.provider,
            colour.pixels().len()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn every_restorer_keeps_the_size_and_only_some_remove_scratches() {
    let sandbox = start().await;
    let offers = offers(Task::Restore);
    assert!(offers.len() >= 2, "{offers:?}");
    assert!(offers.iter().any(|o| o.removes_scratches));
    for offer in offers {
        let providers = providers_for(&sandbox, offer.provider);
        for scratches in [false, true] {
            let request = Restore::new(sample_png(20, 14)).remove_scratches(scratches);
            let before = sandbox.traffic().len();
            let outcome = providers.run_on(offer.provider, request).await;
            if scratches && !offer.removes_scratches {
                assert_refused_before_sending(&sandbox, before, offer.provider, outcome);
                continue;
            }
            let result = outcome.unwrap_or_else(|e| panic!("{}: {e}", offer.provider));
            let restored = decode(&result_bytes(&result).await);
            assert_eq!(
                (restored.width(), restored.height()),
                (20, 14),
                "{}: restoring keeps the size",
                offer.provider
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_generator_answers_a_prompt_with_its_kind_of_result() {
    let sandbox = start().await;
    let offers = offers(Task::Generate);
    assert!(offers.iter().any(|o| o.animated) && offers.iter().any(|o| !o.animated));
    for offer in offers {
        let providers = providers_for(&sandbox, offer.provider);
        let before = sandbox.traffic().len();
        let other_kind = Generate::new("a lighthouse at dusk").animated(!offer.animated);
        let outcome = providers.run_on(offer.provider, other_kind).await;
        assert_refused_before_sending(&sandbox, before, offer.provider, outcome);

        let result = providers
            .run_on(offer.provider, Generate::new("a lighthouse at dusk"))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", offer.provider));
        let bytes = result_bytes(&result).await;
        assert_default_format(&offer, &bytes);
        let frames = match ImageFormat::detect(&bytes) {
            Some(ImageFormat::Gif) => image::codecs::gif::GifDecoder::new(Cursor::new(&bytes))
                .expect("a GIF")
                .into_frames()
                .collect_frames()
                .expect("frames decode")
                .len(),
            _ => {
                decode(&bytes);
                1
            }
        };
        assert_eq!(
            frames > 1,
            offer.animated,
            "{}: {frames} frames",
            offer.provider
        );
        assert!(
            result.job_id().is_some(),
            "{}: an id to report",
            offer.provider
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_503_moves_the_task_to_the_next_provider_and_only_that_one_charges() {
    // The submission route of each provider that cuts out, and the provider tried next.
    let perfect_run = Feature::BackgroundRemoval
        .facts()
        .operation("run_task")
        .expect("a run-task operation")
        .path;
    let perfect_v2_run = V2Feature::BackgroundRemoval
        .facts()
        .operation("run_task")
        .expect("a run-task operation")
        .path;
    let cases = [
        (Provider::Hotpot, "/remove-background", Provider::Hitpaw),
        (
            Provider::Hitpaw,
            "/api/image-segmentation",
            Provider::Perfect,
        ),
        (Provider::Perfect, perfect_run, Provider::Hotpot),
        (Provider::PerfectV2, perfect_v2_run, Provider::Hotpot),
    ];
    for (first, path, second) in cases {
        let sandbox = start().await;
        sandbox.inject(
            FaultRule::new(route(first), path, Fault::Status(503))
                .method("POST")
                .times(100),
        );
        let result = providers_for(&sandbox, first)
            .run(RemoveBackground::new(sample_png(32, 32)), &[first, second])
            .await
            .unwrap_or_else(|e| panic!("{first} then {second}: {e}"));
        assert_eq!(result.provider(), second);
        let cutout = decode(&result_bytes(&result).await).to_rgba8();
        assert_eq!(cutout.get_pixel(0, 0)[3], 0, "a real cut-out");

        let [attempt] = result.failed_attempts() else {
            panic!("one failed attempt: {:?}", result.failed_attempts());
        };
        assert_eq!(attempt.provider, first);
        assert_eq!(attempt.stage, Stage::Submitting);
        assert_eq!(attempt.charge, Charge::Nothing);
        assert_eq!(attempt.error.status(), Some(503), "{}", attempt.error);

        let charges = sandbox.charges();
        assert_eq!(charges.len(), 1, "{first} then {second}: {charges:?}");
        assert_eq!(charges[0].provider, route(second));

        let report = serde_json::to_value(&result).expect("a report");
        assert_eq!(report["provider"], second.id());
        assert_eq!(report["task"], "remove-background");
        assert_eq!(report["failed_attempts"][0]["provider"], first.id());
        assert_eq!(report["failed_attempts"][0]["status"], 503);
        assert_eq!(report["failed_attempts"][0]["charge"], "nothing");
        assert_eq!(report["failed_attempts"][0]["kind"], "server_error");
    }
}

#[tokio::test(start_paused = true)]
async fn when_every_provider_is_unavailable_the_error_keeps_every_attempt() {
    let sandbox = start().await;
    for (provider, path) in [
        (Provider::Hotpot, "/remove-background"),
        (Provider::Hitpaw, "/api/image-segmentation"),
    ] {
        sandbox.inject(FaultRule::new(route(provider), path, Fault::Status(503)).times(100));
    }
    let error = providers(&sandbox)
        .run(
            RemoveBackground::new(sample_png(16, 16)),
            &[Provider::Hotpot, Provider::Hitpaw],
        )
        .await
        .expect_err("both are unavailable");
    let Error::TaskFailed { attempts, .. } = &error else {
        panic!("{error:?}");
    };
    let tried: Vec<Provider> = attempts.iter().map(|a| a.provider).collect();
    assert_eq!(tried, [Provider::Hotpot, Provider::Hitpaw]);
    assert!(attempts.iter().all(|a| a.charge == Charge::Nothing));
    // The accessors speak of the last attempt; nothing was charged, so a later run may work.
    assert_eq!(error.provider(), Some(Provider::Hitpaw));
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert!(error.is_retryable());
    let message = error.to_string();
    assert!(
        message.contains("Hotpot") && message.contains("HitPaw"),
        "{message}"
    );
    assert!(sandbox.charges().is_empty());
}

#[tokio::test(start_paused = true)]
async fn reported_credits_match_the_sandbox_accounts() {
    let sandbox = start().await;
    let providers = providers(&sandbox);
    let cutout = providers
        .run_on(Provider::Hitpaw, RemoveBackground::new(sample_png(16, 16)))
        .await
        .expect("cut out");
    let animation = providers
        .run_on(Provider::Segmind, Generate::new("a fox"))
        .await
        .expect("generated");
    let charges = sandbox.charges();
    for (result, unit) in [
        (&cutout, CreditUnit::Coins),
        (&animation, CreditUnit::Credits),
    ] {
        let credits = result.credits().expect("the provider reports its price");
        assert_eq!(credits.unit, unit);
        assert_eq!(credits.basis, CreditBasis::Reported);
        let charged = charges
            .iter()
            .find(|c| c.provider == route(result.provider()))
            .expect("a charge");
        assert_eq!(
            credits.amount,
            charged.amount as f64,
            "{}",
            result.provider()
        );
    }
    assert_eq!(
        cutout.job_id(),
        charges
            .iter()
            .find(|c| c.provider == pixmill_sandbox::Provider::Hitpaw)
            .and_then(|c| c.reference.as_deref()),
        "the job id is the one HitPaw charged for"
    );
}

#[tokio::test(start_paused = true)]
async fn a_submission_that_may_have_been_charged_stops_the_run() {
    for fault in [Fault::Status(500), Fault::DropAfterProcessing] {
        let sandbox = start().await;
        sandbox.inject(FaultRule::new(
            pixmill_sandbox::Provider::Hotpot,
            "/remove-background",
            fault.clone(),
        ));
        let error = providers(&sandbox)
            .run(
                RemoveBackground::new(sample_png(16, 16)),
                &[Provider::Hotpot, Provider::Hitpaw],
            )
            .await
            .expect_err("no fallback after an unknown outcome");
        let Error::TaskFailed { task, attempts, .. } = &error else {
            panic!("{fault:?}: {error:?}");
        };
        assert_eq!(*task, Task::RemoveBackground);
        let [attempt] = attempts.as_slice() else {
            panic!("{fault:?}: one attempt only: {attempts:?}");
        };
        assert_eq!(attempt.error.kind(), ErrorKind::OutcomeUnknown, "{fault:?}");
        assert_eq!(attempt.charge, Charge::Possible);
        assert!(!error.is_retryable());
        assert_eq!(
            sandbox
                .traffic()
                .iter()
                .filter(|e| e.provider == Some(pixmill_sandbox::Provider::Hitpaw))
                .count(),
            0,
            "{fault:?}: HitPaw was never tried"
        );
        // A dropped answer was processed and charged; a 500 was not: never a second charge.
        let expected = usize::from(fault == Fault::DropAfterProcessing);
        assert_eq!(sandbox.charges().len(), expected, "{fault:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_hitpaw_job_whose_wait_fails_is_charged_and_never_moves_on() {
    let sandbox = start().await;
    // Every status poll is refused: retryable, yet the coins were taken at submission.
    sandbox.inject(
        FaultRule::new(
            pixmill_sandbox::Provider::Hitpaw,
            "/api/task-status",
            Fault::Status(503),
        )
        .times(100_000),
    );
    let polls = PollPolicy::new(Duration::from_millis(50)).with_deadline(Duration::from_secs(1));
    let error = providers_polling(&sandbox, polls)
        .run(
            RemoveBackground::new(sample_png(16, 16)),
            &[Provider::Hitpaw, Provider::Perfect],
        )
        .await
        .expect_err("the wait times out");
    let Error::TaskFailed { attempts, .. } = &error else {
        panic!("{error:?}");
    };
    let [attempt] = attempts.as_slice() else {
        panic!("one attempt only: {attempts:?}");
    };
    assert_eq!(attempt.stage, Stage::Waiting);
    assert_eq!(attempt.charge, Charge::Certain);
    assert_eq!(attempt.error.kind(), ErrorKind::Timeout);
    assert!(
        attempt.error.is_retryable(),
        "the poll failures were retryable; the charge alone stops the run"
    );
    assert!(!attempt.allows_fallback());
    assert!(attempt.job_id.is_some());
    assert!(!error.is_retryable());
    let charges = sandbox.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].provider, pixmill_sandbox::Provider::Hitpaw);
    assert_eq!(charges[0].reference, attempt.job_id);
    assert!(
        sandbox
            .traffic()
            .iter()
            .all(|e| e.provider != Some(pixmill_sandbox::Provider::Perfect)),
        "Perfect was never tried"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_of_one_provider_moves_on_without_anything_sent() {
    let sandbox = start().await;
    let providers = providers(&sandbox);

    // Hotpot needs the picture itself; HitPaw fetches URLs.
    let hitpaw = pixmill::hitpaw::Client::builder()
        .api_key(sandbox.credentials().hitpaw_api_key.clone())
        .base_url(sandbox.base_url(pixmill_sandbox::Provider::Hitpaw))
        .build()
        .expect("hitpaw client");
    let url = hitpaw
        .upload(&ImageInput::from_bytes(sample_png(16, 16)))
        .await
        .expect("uploads");
    let result = providers
        .run(
            RemoveBackground::new(ImageInput::from_url(url)),
            &[Provider::Hotpot, Provider::Hitpaw],
        )
        .await
        .expect("HitPaw takes the URL");
    assert_eq!(result.provider(), Provider::Hitpaw);
    let [refusal] = result.failed_attempts() else {
        panic!("{:?}", result.failed_attempts());
    };
    assert_eq!(refusal.provider, Provider::Hotpot);
    assert_eq!(refusal.error.kind(), ErrorKind::InvalidInput);
    assert_eq!(refusal.charge, Charge::Nothing);

    // An upscale factor Perfect lacks: refused before sending, then done by Hotpot.
    let largest = offers(Task::Upscale)
        .iter()
        .flat_map(|o| o.factors.clone())
        .max()
        .expect("factors");
    let result = providers
        .run(
            Upscale::new(sample_png(8, 8), largest),
            &[Provider::Perfect, Provider::Hotpot],
        )
        .await
        .expect("Hotpot upscales");
    assert_eq!(result.provider(), Provider::Hotpot);
    assert_eq!(
        result.failed_attempts()[0].error.kind(),
        ErrorKind::Unsupported
    );
    assert!(
        sandbox
            .traffic()
            .iter()
            .all(|e| e.provider != Some(pixmill_sandbox::Provider::Perfect)),
        "nothing reached Perfect"
    );
    assert!(
        sandbox
            .traffic()
            .iter()
            .filter(|e| e.provider == Some(pixmill_sandbox::Provider::Hotpot))
            .all(|e| e.path == "/supersize-image"),
        "the URL never reached Hotpot"
    );
}

#[tokio::test(start_paused = true)]
async fn input_every_provider_refuses_stops_before_any_provider() {
    let sandbox = start().await;
    let providers = providers(&sandbox);
    let error = providers
        .run_any(RemoveBackground::new(b"not a picture".to_vec()))
        .await
        .expect_err("not an image");
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    let error = providers
        .run_any(Upscale::new(sample_png(8, 8), 1))
        .await
        .expect_err("a factor of 1 enlarges nothing");
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    assert!(sandbox.traffic().is_empty(), "no provider was called");
}

#[tokio::test(start_paused = true)]
async fn available_lists_the_configured_providers_that_offer_a_task() {
    let sandbox = start().await;
    // One of Perfect's APIs at a time: they share one place among the clients.
    for perfect in [Provider::Perfect, Provider::PerfectV2] {
        let all = providers_for(&sandbox, perfect);
        for task in Task::ALL {
            let offering: Vec<Provider> = offers(*task)
                .iter()
                .map(|o| o.provider)
                .filter(|provider| !is_perfect(*provider) || *provider == perfect)
                .collect();
            assert_eq!(all.available(*task), offering, "{perfect}: {task}");
        }
    }
    let credentials = sandbox.credentials();
    let some = Providers::new()
        .with(
            pixmill::perfect::Client::builder()
                .client_id(credentials.perfect_client_id.clone())
                .client_secret(credentials.perfect_client_secret.clone())
                .base_url(sandbox.base_url(pixmill_sandbox::Provider::Perfect))
                .rate_limits(RateLimits::unlimited())
                .poll_policy(quick_polls())
                .build()
                .expect("perfect client"),
        )
        .with(
            pixmill::hotpot::Client::builder()
                .api_key(credentials.hotpot_api_key.clone())
                .base_url(sandbox.base_url(pixmill_sandbox::Provider::Hotpot))
                .build()
                .expect("hotpot client"),
        );
    assert_eq!(some.configured(), [Provider::Hotpot, Provider::Perfect]);
    assert_eq!(
        some.available(Task::Upscale),
        [Provider::Hotpot, Provider::Perfect]
    );
    assert_eq!(some.available(Task::Generate), [Provider::Perfect]);

    // A provider without credentials is an attempt that moves on.
    let result = some
        .run(
            Generate::new("a red kite"),
            &[Provider::Segmind, Provider::Perfect],
        )
        .await
        .expect("Perfect generates");
    assert_eq!(result.provider(), Provider::Perfect);
    assert_eq!(
        result.failed_attempts()[0].error.kind(),
        ErrorKind::Configuration
    );
    let error = some
        .run_on(Provider::Segmind, Generate::new("a red kite"))
        .await
        .expect_err("no Segmind client");
    assert_eq!(error.kind(), ErrorKind::Configuration);
}

/// A request for `task` that every provider offering it accepts with its defaults.
fn sample_request(task: Task) -> Request {
    match task {
        Task::RemoveBackground => RemoveBackground::new(sample_png(32, 32)).into(),
        Task::Upscale => Upscale::new(sample_png(12, 8), 2).into(),
        Task::Colorize => Colorize::new(grey_png(32, 8)).into(),
        Task::Restore => Restore::new(sample_png(20, 14)).into(),
        Task::Generate => Generate::new("a lighthouse at dusk").into(),
        other => panic!("no sample request for {other}"),
    }
}

/// The V2 feature an offer runs, read from its operation (`` `enhance` (scale 1) ``).
fn v2_feature(offer: &Offer) -> V2Feature {
    let name = offer
        .operation
        .split('`')
        .nth(1)
        .expect("the operation names a feature");
    name.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", offer.operation))
}

/// The price V2's feature table documents for one result of `feature` run at `scale`.
fn v2_price(feature: V2Feature, scale: Option<u32>) -> f64 {
    let scale = scale.map(|scale| scale.to_string());
    feature
        .facts()
        .costs
        .iter()
        .find(|cost| match (&cost.applies_to, &scale) {
            (None, _) => true,
            (Some(rule), Some(scale)) => rule.field == "scale" && rule.values.contains(&&**scale),
            (Some(_), None) => false,
        })
        .unwrap_or_else(|| panic!("{feature}: a documented price"))
        .units
}

/// POST requests to Perfect's V2 run-task routes so far.
fn v2_run_tasks(sandbox: &Sandbox) -> usize {
    V2Feature::ALL
        .iter()
        .filter_map(|feature| feature.facts().operation("run_task"))
        .map(|operation| {
            sandbox.request_count(pixmill_sandbox::Provider::Perfect, "POST", operation.path)
        })
        .sum()
}

#[tokio::test(start_paused = true)]
async fn perfect_v2_runs_every_task_it_offers_for_one_charge_at_the_documented_price() {
    let sandbox = start().await;
    let providers = providers_v2(&sandbox);
    let mut runs = 0;
    for task in Task::ALL {
        let Some(offer) = offer(Provider::PerfectV2, *task) else {
            continue;
        };
        let feature = v2_feature(&offer);
        // Every factor of an upscale, since a price may depend on the scale.
        let requests: Vec<(Request, Option<u32>)> = match task {
            Task::Upscale => offer
                .factors
                .iter()
                .map(|factor| {
                    (
                        Upscale::new(sample_png(12, 8), *factor).into(),
                        Some(*factor),
                    )
                })
                .collect(),
            Task::Restore => vec![(sample_request(*task), Some(1))],
            _ => vec![(sample_request(*task), None)],
        };
        for (request, scale) in requests {
            let before = sandbox.charges().len();
            // "Perfect" is V2 when V2 has the client.
            let result = providers
                .run_on(Provider::Perfect, request)
                .await
                .unwrap_or_else(|e| panic!("{task}: {e}"));
            runs += 1;
            assert_eq!(result.provider(), Provider::PerfectV2, "{task}");
            assert!(result.failed_attempts().is_empty());
            decode(&result_bytes(&result).await);

            let credits = result.credits().expect("a documented price");
            assert_eq!(credits.unit, CreditUnit::Credits, "{task}");
            assert_eq!(credits.basis, CreditBasis::Documented, "{task}");
            assert_eq!(credits.amount, v2_price(feature, scale), "{task}");

            let charges = sandbox.charges();
            let [charge] = &charges[before..] else {
                panic!("{task}: one charge: {:?}", &charges[before..]);
            };
            assert_eq!(charge.provider, pixmill_sandbox::Provider::Perfect);
            let run_task = feature.facts().operation("run_task").expect("a run task");
            assert_eq!(charge.operation, run_task.operation_id, "{task}");
            assert_eq!(charge.reference.as_deref(), result.job_id(), "{task}");
            assert_eq!(charge.amount as f64, credits.amount, "{task}");
        }
    }
    assert!(runs >= Task::ALL.len(), "V2 offers every task: {runs} runs");
    assert_eq!(
        sandbox.request_count(
            pixmill_sandbox::Provider::Perfect,
            "POST",
            "/s2s/v1.0/client/auth"
        ),
        0,
        "the older API was never used"
    );
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_v2_refusal_before_sending_moves_on_with_nothing_charged() {
    let v2_upscale = offer(Provider::PerfectV2, Task::Upscale).expect("V2 upscales");
    let beyond = offers(Task::Upscale)
        .iter()
        .flat_map(|o| o.factors.clone())
        .find(|factor| !v2_upscale.factors.contains(factor))
        .expect("a factor V2 lacks");
    let longest = offer(Provider::PerfectV2, Task::Colorize)
        .and_then(|o| o.limits)
        .and_then(|limits| limits.max_long_side)
        .expect("V2 documents a longest side");
    let too_long = longest + 1;
    let cases: Vec<(&str, Request, Provider, ErrorKind)> = vec![
        (
            "a result format V2 does not promise",
            RemoveBackground::new(sample_png(24, 24))
                .format(ImageFormat::Png)
                .into(),
            Provider::Hotpot,
            ErrorKind::Unsupported,
        ),
        (
            "a factor V2 lacks",
            Upscale::new(sample_png(8, 8), beyond).into(),
            Provider::Hotpot,
            ErrorKind::Unsupported,
        ),
        (
            "a side beyond V2's documented limit",
            Colorize::new(grey_png(too_long, 4)).into(),
            Provider::Hotpot,
            ErrorKind::InvalidInput,
        ),
        (
            "a style of the older API's catalogue",
            Generate::new("a red kite")
                .perfect_style(pixmill::perfect::StyleChoice {
                    group_id: 1,
                    style_id: 1,
                })
                .into(),
            Provider::Segmind,
            ErrorKind::Unsupported,
        ),
    ];
    for (what, request, second, kind) in cases {
        let sandbox = start().await;
        let result = providers_v2(&sandbox)
            .run(request, &[Provider::Perfect, second])
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(result.provider(), second, "{what}");
        let [attempt] = result.failed_attempts() else {
            panic!("{what}: one failed attempt: {:?}", result.failed_attempts());
        };
        assert_eq!(attempt.provider, Provider::PerfectV2, "{what}");
        assert_eq!(attempt.stage, Stage::Preparing, "{what}");
        assert_eq!(attempt.charge, Charge::Nothing, "{what}");
        assert_eq!(attempt.error.kind(), kind, "{what}: {}", attempt.error);
        assert!(
            sandbox
                .traffic()
                .iter()
                .all(|e| e.provider != Some(pixmill_sandbox::Provider::Perfect)),
            "{what}: nothing reached Perfect"
        );
        let charges = sandbox.charges();
        assert_eq!(charges.len(), 1, "{what}: {charges:?}");
        assert_eq!(charges[0].provider, route(second), "{what}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_v2_upload_moves_on_before_any_run_task() {
    // The file API's route, where uploads are registered.
    const CREATE_FILE: &str = "/s2s/v2.0/file";
    let sandbox = start().await;
    sandbox.inject(
        FaultRule::new(
            pixmill_sandbox::Provider::Perfect,
            CREATE_FILE,
            Fault::Status(503),
        )
        .method("POST")
        .times(100),
    );
    let result = providers_v2(&sandbox)
        .run(
            Restore::new(sample_png(20, 14)),
            &[Provider::Perfect, Provider::Hotpot],
        )
        .await
        .expect("Hotpot restores");
    assert_eq!(result.provider(), Provider::Hotpot);
    let [attempt] = result.failed_attempts() else {
        panic!("{:?}", result.failed_attempts());
    };
    assert_eq!(attempt.provider, Provider::PerfectV2);
    assert_eq!(attempt.stage, Stage::Preparing);
    assert_eq!(attempt.charge, Charge::Nothing);
    assert_eq!(attempt.error.status(), Some(503), "{}", attempt.error);
    assert_eq!(v2_run_tasks(&sandbox), 0, "no run task was sent");
    let charges = sandbox.charges();
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0].provider, pixmill_sandbox::Provider::Hotpot);
}

#[tokio::test(start_paused = true)]
async fn a_v2_run_task_that_may_have_reached_perfect_stops_the_run() {
    let run = V2Feature::Colorize
        .facts()
        .operation("run_task")
        .expect("a run task")
        .path;
    for fault in [Fault::Status(500), Fault::DropAfterProcessing] {
        let sandbox = start().await;
        sandbox.inject(
            FaultRule::new(pixmill_sandbox::Provider::Perfect, run, fault.clone()).method("POST"),
        );
        let error = providers_v2(&sandbox)
            .run(
                Colorize::new(grey_png(32, 8)),
                &[Provider::Perfect, Provider::Hotpot],
            )
            .await
            .expect_err("no fallback once the run task may have reached Perfect");
        let Error::TaskFailed { attempts, .. } = &error else {
            panic!("{fault:?}: {error:?}");
        };
        let [attempt] = attempts.as_slice() else {
            panic!("{fault:?}: one attempt only: {attempts:?}");
        };
        assert_eq!(attempt.provider, Provider::PerfectV2, "{fault:?}");
        assert_eq!(attempt.stage, Stage::Submitting, "{fault:?}");
        assert_eq!(attempt.charge, Charge::Possible, "{fault:?}");
        assert_eq!(attempt.error.kind(), ErrorKind::OutcomeUnknown, "{fault:?}");
        assert!(!attempt.allows_fallback());
        assert!(!error.is_retryable());
        assert_eq!(
            sandbox.request_count(pixmill_sandbox::Provider::Perfect, "POST", run),
            1,
            "{fault:?}: the run task was sent once"
        );
        assert!(
            sandbox
                .traffic()
                .iter()
                .all(|e| e.provider != Some(pixmill_sandbox::Provider::Hotpot)),
            "{fault:?}: Hotpot was never tried"
        );
        // V2 charges when a finished task is first polled; nobody polled this one.
        assert!(sandbox.charges().is_empty(), "{fault:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn perfect_means_the_api_that_has_the_client() {
    let sandbox = start().await;
    let v1 = providers(&sandbox);
    let v2 = providers_v2(&sandbox);
    assert!(v1.configured().contains(&Provider::Perfect));
    assert!(!v1.configured().contains(&Provider::PerfectV2));
    assert!(v2.configured().contains(&Provider::PerfectV2));
    assert!(
        !v2.configured().contains(&Provider::Perfect),
        "a V2 client takes the older one's place"
    );
    let back = v2.clone().with(perfect_v1(&sandbox, quick_polls()));
    assert_eq!(
        back.configured(),
        v1.configured(),
        "and the other way round"
    );
    assert!(v2.available(Task::Upscale).contains(&Provider::PerfectV2));

    // Asked for by either name, V2 runs and is named in the result.
    for asked in [Provider::Perfect, Provider::PerfectV2] {
        let result = v2
            .run_on(asked, Upscale::new(sample_png(12, 8), 2))
            .await
            .unwrap_or_else(|e| panic!("{asked}: {e}"));
        assert_eq!(result.provider(), Provider::PerfectV2, "{asked}");
        let report = serde_json::to_value(&result).expect("a report");
        assert_eq!(report["provider"], "perfect-v2");
    }
    assert_eq!(
        sandbox.request_count(
            pixmill_sandbox::Provider::Perfect,
            "POST",
            "/s2s/v1.0/client/auth"
        ),
        0,
        "the older API was never used"
    );

    // V2 by its own name is never the older API.
    let before = sandbox.traffic().len();
    let error = v1
        .run_on(Provider::PerfectV2, Upscale::new(sample_png(12, 8), 2))
        .await
        .expect_err("no V2 client");
    assert_eq!(error.kind(), ErrorKind::Configuration, "{error}");
    assert_eq!(sandbox.traffic().len(), before, "nothing was sent");

    // Both names in a preference list are one attempt.
    let run = V2Feature::Enhance
        .facts()
        .operation("run_task")
        .expect("a run task")
        .path;
    sandbox.inject(
        FaultRule::new(pixmill_sandbox::Provider::Perfect, run, Fault::Status(503))
            .method("POST")
            .times(100),
    );
    let error = v2
        .run(
            Upscale::new(sample_png(12, 8), 2),
            &[Provider::Perfect, Provider::PerfectV2],
        )
        .await
        .expect_err("V2 is unavailable");
    let Error::TaskFailed { attempts, .. } = &error else {
        panic!("{error:?}");
    };
    let tried: Vec<Provider> = attempts.iter().map(|a| a.provider).collect();
    assert_eq!(tried, [Provider::PerfectV2]);
    assert_eq!(attempts[0].charge, Charge::Nothing);
}

#[tokio::test(start_paused = true)]
async fn each_perfect_api_takes_a_catalogue_choice_of_its_own() {
    let sandbox = start().await;
    let listing = V2Feature::TextToImage
        .facts()
        .operation("list_templates")
        .expect("a catalogue")
        .path;
    let listed = || sandbox.request_count(pixmill_sandbox::Provider::Perfect, "GET", listing);
    let v2 = providers_v2(&sandbox);

    // No template given: the first of the catalogue, read once.
    let result = v2
        .run_on(Provider::Perfect, Generate::new("a red kite"))
        .await
        .expect("generates");
    assert_eq!(result.provider(), Provider::PerfectV2);
    assert_eq!(listed(), 1, "one catalogue page");

    // A template given is used as it is.
    let template = perfect_v2(&sandbox)
        .templates(V2Feature::TextToImage)
        .try_next()
        .await
        .expect("the catalogue lists")
        .expect("a template")
        .id;
    let before = listed();
    let style = pixmill::perfect::StyleChoice {
        group_id: 1,
        style_id: 1,
    };
    let result = v2
        .run_on(
            Provider::Perfect,
            Generate::new("a red kite")
                .perfect_style(style)
                .perfect_v2_template(template.clone()),
        )
        .await
        .expect("generates with the template");
    assert_eq!(result.provider(), Provider::PerfectV2);
    assert_eq!(listed(), before, "no catalogue read");

    // A choice for the other API only is refused before anything is sent.
    let traffic = sandbox.traffic().len();
    let outcome = v2
        .run_on(
            Provider::Perfect,
            Generate::new("a red kite").perfect_style(style),
        )
        .await;
    assert_refused_before_sending(&sandbox, traffic, Provider::PerfectV2, outcome);
    let outcome = providers(&sandbox)
        .run_on(
            Provider::Perfect,
            Generate::new("a red kite").perfect_v2_template(template),
        )
        .await;
    assert_refused_before_sending(&sandbox, traffic, Provider::Perfect, outcome);
}

/// The variables `Providers::from_env` reads, whatever the developer's shell has set.
const PROVIDER_VARIABLES: &[&str] = &[
    "HOTPOT_API_KEY",
    "HOTPOT_BASE_URL",
    "HITPAW_API_KEY",
    "HITPAW_BASE_URL",
    "SEGMIND_API_KEY",
    "SEGMIND_BASE_URL",
    "PERFECT_CLIENT_ID",
    "PERFECT_CLIENT_SECRET",
    "PERFECT_API_KEY",
    "PERFECT_BASE_URL",
];

/// Set in the child process that checks one environment.
const CHILD_EXPECTS: &str = "PIXMILL_TEST_FROM_ENV_EXPECTS";

#[tokio::test(flavor = "multi_thread")]
async fn from_env_builds_the_providers_whose_variables_are_set() {
    // The environment of a process cannot be changed safely while other tests run, so each
    // case runs this test again in a child process with the variables set at spawn.
    if let Ok(expected) = std::env::var(CHILD_EXPECTS) {
        let outcome = Providers::from_env().map(|p| p.configured());
        match expected.strip_prefix("error:") {
            Some(variable) => {
                let error = outcome.expect_err("a half-set pair is an error");
                assert_eq!(error.kind(), ErrorKind::Configuration);
                assert!(error.to_string().contains(variable), "{error}");
            }
            None => {
                let ids: Vec<&str> = outcome.expect("builds").iter().map(|p| p.id()).collect();
                assert_eq!(ids.join(","), expected);
            }
        }
        return;
    }
    let sandbox = start().await;
    let vars = sandbox.env_vars();
    let pick = |prefix: &str| -> Vec<(&'static str, String)> {
        vars.iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .cloned()
            .collect()
    };
    let without = |names: &[&str]| -> Vec<(&'static str, String)> {
        pick("PERFECT_")
            .into_iter()
            .filter(|(name, _)| !names.contains(name))
            .collect()
    };
    let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
        (Vec::new(), ""),
        // With the API key, Perfect is its V2 API, whether or not the pair is set.
        (
            [pick("HOTPOT_"), pick("PERFECT_")].concat(),
            "hotpot,perfect-v2",
        ),
        (vars.clone(), "hotpot,hitpaw,segmind,perfect-v2"),
        (
            without(&["PERFECT_CLIENT_ID", "PERFECT_CLIENT_SECRET"]),
            "perfect-v2",
        ),
        // The pair alone is the older API.
        (without(&["PERFECT_API_KEY"]), "perfect"),
        // Beside a key the pair is not read, so half of it is no error.
        (without(&["PERFECT_CLIENT_SECRET"]), "perfect-v2"),
        (
            vec![("PERFECT_CLIENT_ID", "id".to_string())],
            "error:PERFECT_CLIENT_SECRET",
        ),
    ];
    // libtest names a test by its module path without the binary's own name.
    let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
    let test = format!("{module}::from_env_builds_the_providers_whose_variables_are_set");
    for (set, expected) in cases {
        let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"));
        child.args(["--exact", test.as_str(), "--test-threads=1"]);
        for name in PROVIDER_VARIABLES {
            child.env_remove(name);
        }
        child.envs(set).env(CHILD_EXPECTS, expected);
        let output = child.output().expect("the child runs");
        assert!(
            output.status.success(),
            "expected {expected:?}:\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("1 passed"),
            "the child ran the test"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The same fault at every provider

/// For each provider: a request it serves, and the route of the call that starts the work and
/// may charge for it.
fn work_and_its_charged_route(provider: Provider) -> (Request, &'static str) {
    use pixmill::raw;
    let cutout = || RemoveBackground::new(sample_png(16, 16)).into();
    let run_task = |facts: &pixmill_spec::features::FeatureFacts| {
        facts
            .operation("run_task")
            .expect("a run-task operation")
            .path
    };
    match provider {
        Provider::Hotpot => (cutout(), raw::hotpot::service::remove_background::PATH),
        Provider::Hitpaw => (cutout(), raw::hitpaw::service::image_segmentation::PATH),
        Provider::Segmind => (
            Generate::new("a fox").into(),
            raw::segmind::service::hotshot_xl::PATH,
        ),
        Provider::Perfect => (cutout(), run_task(Feature::BackgroundRemoval.facts())),
        Provider::PerfectV2 => (cutout(), run_task(V2Feature::BackgroundRemoval.facts())),
        other => panic!("{other}: add its work and charged route to this table"),
    }
}

#[tokio::test(start_paused = true)]
async fn every_provider_retries_a_429_and_charges_once() {
    for &provider in Provider::ALL {
        let sandbox = start().await;
        let (request, charged_route) = work_and_its_charged_route(provider);
        sandbox.inject(
            FaultRule::new(
                route(provider),
                charged_route,
                Fault::TooManyRequests {
                    retry_after_secs: 0,
                },
            )
            .method("POST"),
        );
        let result = providers_for(&sandbox, provider)
            .run_on(provider, request)
            .await
            .unwrap_or_else(|e| panic!("{provider}: the retry succeeds: {e}"));
        assert!(
            !result_bytes(&result).await.is_empty(),
            "{provider}: a result"
        );
        assert_eq!(
            sandbox.request_count(route(provider), "POST", charged_route),
            2,
            "{provider}: refused once, then sent again"
        );
        assert_eq!(sandbox.charges().len(), 1, "{provider}: charged once");
        let violations = spec_violations(&sandbox);
        assert!(violations.is_empty(), "{provider}: {violations:#?}");
    }
}

#[tokio::test(start_paused = true)]
async fn no_provider_resends_a_charged_call_whose_answer_was_lost() {
    for &provider in Provider::ALL {
        let sandbox = start().await;
        let (request, charged_route) = work_and_its_charged_route(provider);
        sandbox.inject(
            FaultRule::new(route(provider), charged_route, Fault::DropAfterProcessing)
                .method("POST"),
        );
        let outcome = providers_for(&sandbox, provider)
            .run_on(provider, request)
            .await;
        let sent = sandbox.request_count(route(provider), "POST", charged_route);
        let charges = sandbox.charges().len();
        if provider == Provider::Perfect {
            // Perfect's older run-task carries a `request_id`: sending it again is safe, and
            // the provider answers with the task it already started.
            outcome.unwrap_or_else(|e| panic!("{provider}: resent safely: {e}"));
            assert_eq!(sent, 2, "{provider}: sent again with the same request id");
            assert_eq!(charges, 1, "{provider}: the one task is charged once");
            continue;
        }
        let error = outcome.expect_err("no answer arrives");
        assert_eq!(
            error.kind(),
            ErrorKind::OutcomeUnknown,
            "{provider}: {error:?}"
        );
        assert_eq!(error.provider(), Some(provider), "{error}");
        assert!(
            error.to_string().contains("outcome is unknown"),
            "{provider}: {error}"
        );
        assert!(!error.is_retryable(), "{provider}");
        assert_eq!(sent, 1, "{provider}: never sent twice");
        // Perfect V2 charges when a task succeeds, and nobody polls this one; the others
        // charge for the call itself.
        let expected = usize::from(provider != Provider::PerfectV2);
        assert_eq!(charges, expected, "{provider}");
    }
}

/// Clients for `provider` alone, one credential wrong, and the secret that must never show.
/// Perfect's older API gets an unknown client id beside the real secret.
fn with_a_wrong_credential(sandbox: &Sandbox, provider: Provider) -> (Providers, String) {
    let credentials = sandbox.credentials();
    let secret = format!("{}-wrong-but-secret", provider.id());
    let base_url = sandbox.base_url(route(provider));
    let providers = Providers::new();
    let providers = match provider {
        Provider::Hotpot => providers.with(
            pixmill::hotpot::Client::builder()
                .api_key(secret.clone())
                .base_url(base_url)
                .http_client(http())
                .build()
                .expect("hotpot client"),
        ),
        Provider::Hitpaw => providers.with(
            pixmill::hitpaw::Client::builder()
                .api_key(secret.clone())
                .base_url(base_url)
                .http_client(http())
                .build()
                .expect("hitpaw client"),
        ),
        Provider::Segmind => providers.with(
            pixmill::segmind::Client::builder()
                .api_key(secret.clone())
                .base_url(base_url)
                .http_client(http())
                .build()
                .expect("segmind client"),
        ),
        Provider::Perfect => {
            let client = pixmill::perfect::Client::builder()
                .client_id("not-this-client")
                .client_secret(credentials.perfect_client_secret.clone())
                .base_url(base_url)
                .http_client(http())
                .rate_limits(RateLimits::unlimited())
                .build()
                .expect("perfect client");
            return (
                providers.with(client),
                credentials.perfect_client_secret.clone(),
            );
        }
        Provider::PerfectV2 => providers.with(
            pixmill::perfect::v2::Client::builder()
                .api_key(secret.clone())
                .base_url(base_url)
                .http_client(http())
                .build()
                .expect("perfect v2 client"),
        ),
        other => panic!("{other}: add its client to this table"),
    };
    (providers, secret)
}

#[tokio::test(start_paused = true)]
async fn a_wrong_credential_at_every_provider_is_an_authentication_error_that_never_shows() {
    for &provider in Provider::ALL {
        let sandbox = start().await;
        let (providers, secret) = with_a_wrong_credential(&sandbox, provider);
        let (request, _) = work_and_its_charged_route(provider);
        let error = providers
            .run_on(provider, request)
            .await
            .expect_err("the credential is refused");
        // Each provider's own status; HitPaw's is a 400 whose code says what it means.
        let status = match provider {
            Provider::Hotpot => 403,
            Provider::Hitpaw => 400,
            _ => 401,
        };
        assert_eq!(error.status(), Some(status), "{provider}: {error}");
        assert_eq!(
            error.kind(),
            ErrorKind::Authentication,
            "{provider}: {error}"
        );
        assert_eq!(error.provider(), Some(provider), "{error}");
        assert!(!error.is_retryable(), "{provider}");
        let sent = sandbox
            .traffic()
            .iter()
            .filter(|exchange| exchange.provider == Some(route(provider)))
            .count();
        assert_eq!(
            sent,
            1,
            "{provider}: refused once, never sent again: {:#?}",
            sandbox.traffic()
        );
        for shown in [
            error.to_string(),
            format!("{error:?}"),
            format!("{providers:?}"),
        ] {
            assert!(!shown.contains(&secret), "{provider}: {shown}");
        }
        assert!(sandbox.charges().is_empty(), "{provider}");
        let violations = spec_violations(&sandbox);
        assert!(violations.is_empty(), "{provider}: {violations:#?}");
    }
}
