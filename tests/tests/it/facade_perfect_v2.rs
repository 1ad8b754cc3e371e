//! The Perfect V2 facade end to end against the sandbox: every feature, the API key, task
//! errors, template catalogues across pages, URL inputs, no resent run tasks, bad input and
//! task deletion.

use std::collections::HashSet;
use std::time::Duration;

use futures::TryStreamExt as _;
use pixmill::perfect::v2::{
    Client, ClientBuilder, EngineErrorCode, ErrorCode as V2Code, Feature, HairColor, Hairstyle,
    ImageSize, Input, Scale, TaskOutput, TaskRequest,
};
use pixmill::{Error, ErrorCode, ErrorKind, ImageInput, PollPolicy, RetryPolicy};
use pixmill_perfect_v2_api::constants::{parameters, text_to_image_run_task_request};
use pixmill_sandbox::{Fault, FaultRule, JobFailure, Provider, Sandbox, SandboxConfig};
use pixmill_tests::sandbox::{quick_config, sample_jpeg, sample_png, spec_violations};

const CREATE_FILE: &str = "/s2s/v2.0/file";

/// A photo every feature's documented limits accept (JPEG, short side above 384, long side
/// under 1024).
const PHOTO: (u32, u32) = (480, 400);

fn builder(sandbox: &Sandbox) -> ClientBuilder {
    Client::builder()
        .api_key(sandbox.credentials().perfect_api_key.clone())
        .base_url(sandbox.base_url(Provider::Perfect))
        .retry_policy(
            RetryPolicy::default()
                .with_initial_delay(Duration::from_millis(20))
                .with_max_delay(Duration::from_secs(2)),
        )
        .poll_policy(
            PollPolicy::new(Duration::from_millis(50)).with_deadline(Duration::from_secs(30)),
        )
}

async fn start(config: SandboxConfig) -> (Sandbox, Client) {
    let sandbox = Sandbox::start_with(config).await.expect("sandbox starts");
    let client = builder(&sandbox).build().expect("client builds");
    (sandbox, client)
}

fn photo() -> ImageInput {
    ImageInput::from_bytes(sample_jpeg(PHOTO.0, PHOTO.1))
}

fn mask(width: u32, height: u32) -> ImageInput {
    let mask = image::GrayImage::from_fn(width, height, |x, _| {
        image::Luma([if x < width / 4 { 255 } else { 0 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    mask.write_to(&mut out, image::ImageFormat::Png).unwrap();
    ImageInput::from_bytes(out.into_inner())
}

async fn first_template(client: &Client, feature: Feature) -> String {
    client
        .templates(feature)
        .try_next()
        .await
        .expect("the catalogue lists")
        .expect("a template")
        .id
}

/// Every result of a task, downloaded and decoded.
async fn images(output: &TaskOutput) -> Vec<image::DynamicImage> {
    let mut decoded = Vec::new();
    for file in output.files() {
        let mut bytes = Vec::new();
        file.output().write_to(&mut bytes).await.expect("downloads");
        decoded.push(image::load_from_memory(&bytes).expect("a decodable result"));
    }
    decoded
}

fn size(image: &image::DynamicImage) -> (u32, u32) {
    (image.width(), image.height())
}

/// What a feature's results must look like.
type Check = fn(&TaskOutput, &[image::DynamicImage]);

fn one_like_the_photo(_: &TaskOutput, images: &[image::DynamicImage]) {
    assert_eq!(images.len(), 1);
    assert_eq!(size(&images[0]), PHOTO);
}

#[tokio::test(start_paused = true)]
async fn every_feature_runs_end_to_end() {
    let (sandbox, client) = start(quick_config()).await;
    let mut cases: Vec<(TaskRequest, Check)> = Vec::new();
    for feature in [
        Feature::HairStyle,
        Feature::HairExtension,
        Feature::HairBang,
        Feature::HairVolume,
    ] {
        let template = first_template(&client, feature).await;
        let request = match feature {
            Feature::HairStyle => client.hair_style(photo(), template),
            Feature::HairExtension => client.hair_extension(photo(), template),
            Feature::HairBang => client.hair_bang(photo(), template),
            _ => client.hair_volume(photo(), template),
        };
        cases.push((request, one_like_the_photo));
    }
    let restyle_template = first_template(&client, Feature::HairRestyle).await;
    let text_template = first_template(&client, Feature::TextToImage).await;
    cases.extend([
        (
            client.hair_transfer(photo(), photo()),
            one_like_the_photo as Check,
        ),
        (
            client
                .hair_restyle(photo(), Hairstyle::Template(restyle_template))
                .hair_color(HairColor::Src),
            one_like_the_photo,
        ),
        (client.aging(photo()), |output, images| {
            let ages: Vec<i32> = output.files().iter().filter_map(|f| f.res_age).collect();
            assert!(
                ages.len() > 1 && ages.windows(2).all(|w| w[0] < w[1]),
                "{ages:?}"
            );
            assert_eq!(ages.len(), images.len());
            let info = output.aging().expect("aging results");
            assert_eq!(info.num_of_photos, Some(ages.len() as i32));
            assert_eq!(
                (info.age_min, info.age_max),
                (ages.first().copied(), ages.last().copied())
            );
        }),
        (
            client.makeup_transfer(
                photo(),
                ImageInput::from_bytes(sample_png(PHOTO.0, PHOTO.1)),
            ),
            one_like_the_photo,
        ),
        (
            client.object_removal(photo(), mask(PHOTO.0, PHOTO.1)),
            one_like_the_photo,
        ),
        (client.colorize(photo()), |_, images| {
            assert!(images.len() > 1, "several variants");
            assert!(
                images
                    .iter()
                    .all(|i| matches!(i, image::DynamicImage::ImageRgb8(_)))
            );
            assert_ne!(images[0], images[1], "the variants differ");
        }),
        (client.background_removal(photo()), |_, images| {
            let cutout = images[0].to_rgba8();
            assert_eq!(cutout.dimensions(), PHOTO);
            assert_eq!(cutout.get_pixel(0, 0)[3], 0, "transparent background");
        }),
        (client.enhance(photo(), Scale::X2), |_, images| {
            assert_eq!(size(&images[0]), (PHOTO.0 * 2, PHOTO.1 * 2));
        }),
        (
            client
                .text_to_image("a lighthouse at dawn", text_template)
                .aspect_ratio(3, 4)
                .steps(15)
                .seed(7),
            |_, images| assert_eq!(size(&images[0]), (768, 1024)),
        ),
        (
            client
                .youcam_text_to_image("a lighthouse at dawn")
                .size(ImageSize::X11041472)
                .prompt_extend(false),
            |_, images| {
                let (width, height) = ImageSize::X11041472
                    .to_string()
                    .split_once('*')
                    .map(|(w, h)| (w.parse().unwrap(), h.parse().unwrap()))
                    .unwrap();
                assert_eq!(size(&images[0]), (width, height));
            },
        ),
        (
            client
                .youcam_image_to_image([photo(), photo()], "dress image 1 like image 2")
                .output_size(512, 640),
            |_, images| assert_eq!(size(&images[0]), (512, 640)),
        ),
    ]);
    let covered: HashSet<Feature> = cases.iter().map(|(request, _)| request.feature()).collect();
    assert_eq!(
        covered,
        Feature::ALL.iter().copied().collect(),
        "every feature"
    );

    let mut expected_units = 0;
    for (request, check) in cases {
        let feature = request.feature();
        let output = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{feature}: {e}"))
            .wait()
            .await
            .unwrap_or_else(|e| panic!("{feature}: {e}"));
        check(&output, &images(&output).await);
        expected_units += feature.facts().costs[0].units as i64;
    }
    let charges = sandbox.charges();
    assert_eq!(charges.len(), Feature::ALL.len(), "one charge per task");
    assert_eq!(
        charges.iter().map(|c| c.amount).sum::<i64>(),
        expected_units,
        "each at its documented price"
    );
    assert_eq!(
        sandbox.request_count(Provider::Perfect, "POST", "/s2s/v1.0/client/auth"),
        0,
        "V2 needs no token exchange"
    );
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_bad_key_is_an_authentication_error_that_never_shows_the_key() {
    let sandbox = Sandbox::start_with(quick_config()).await.unwrap();
    let bad_key = "sk-not-this-sandbox-key";
    let client = builder(&sandbox).api_key(bad_key).build().unwrap();
    let error = client
        .enhance(photo(), Scale::X2)
        .send()
        .await
        .expect_err("the key is refused");
    assert_eq!(error.kind(), ErrorKind::Authentication, "{error}");
    assert_eq!(error.status(), Some(401));
    assert_eq!(
        error.code(),
        Some(&ErrorCode::PerfectV2(V2Code::InvalidApiKey))
    );
    let listing = client
        .templates(Feature::HairStyle)
        .try_collect::<Vec<_>>()
        .await
        .expect_err("refused too");
    assert_eq!(listing.kind(), ErrorKind::Authentication);
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{client:?}"),
    ] {
        assert!(!shown.contains(bad_key), "{shown}");
    }
    assert!(sandbox.charges().is_empty());
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_task_error_is_job_failed_with_the_engine_code_and_free() {
    // A documented code, and one the spec does not list: the task fails either way, with the
    // code kept as Perfect sent it.
    let cases = [
        ("error_no_face", EngineErrorCode::ErrorNoFace, true),
        (
            "error_new_in_production",
            EngineErrorCode::Unknown("error_new_in_production".into()),
            false,
        ),
    ];
    for (sent, expected, documented) in cases {
        let (sandbox, client) = start(quick_config()).await;
        sandbox.fail_next_jobs(JobFailure {
            provider: Provider::Perfect,
            code: sent.into(),
            times: 1,
        });
        let task = client.aging(photo()).send().await.unwrap();
        let error = task.wait().await.expect_err("the engine fails");
        assert_eq!(
            error.code(),
            Some(&ErrorCode::PerfectV2Engine(expected)),
            "{sent}"
        );
        match &error {
            Error::JobFailed { job_id, .. } => assert_eq!(job_id, task.id()),
            other => panic!("{other:?}"),
        }
        assert!(sandbox.charges().is_empty(), "a failed task costs nothing");
        if documented {
            let violations = spec_violations(&sandbox);
            assert!(violations.is_empty(), "{violations:#?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn template_catalogues_stream_every_page_once() {
    let (sandbox, client) = start(quick_config()).await;
    let templates: Vec<_> = client
        .templates(Feature::HairRestyle)
        .try_collect()
        .await
        .unwrap();
    let page = usize::try_from(parameters::PAGE_SIZE_MAXIMUM).unwrap();
    assert!(templates.len() > 2 * page, "{} templates", templates.len());
    let ids: HashSet<&str> = templates.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len(), templates.len(), "no template twice");
    assert!(
        templates.iter().all(|t| t.keep_users_color.is_some()),
        "hairstyle templates say whether they keep the portrait's colour"
    );
    assert_eq!(
        sandbox.request_count(
            Provider::Perfect,
            "GET",
            "/s2s/v2.1/task/template/hair-transfer"
        ),
        templates.len().div_ceil(page),
        "one request per page, at the largest page size"
    );
    let none = client
        .templates(Feature::Enhance)
        .try_collect::<Vec<_>>()
        .await;
    assert!(matches!(none, Err(Error::Unsupported { .. })), "{none:?}");
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn url_inputs_and_results_are_passed_without_an_upload() {
    let (sandbox, client) = start(quick_config()).await;
    let enhanced = client
        .enhance(photo(), Scale::X2)
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(
        sandbox.request_count(Provider::Perfect, "POST", CREATE_FILE),
        1
    );
    // A result feeds the next task by its URL.
    let cutout = client
        .background_removal(enhanced.first())
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(size(&images(&cutout).await[0]), (PHOTO.0 * 2, PHOTO.1 * 2));
    // And so does any URL.
    let url = ImageInput::from_url(enhanced.first().url.clone());
    let colored = client
        .colorize(Input::from(url))
        .send()
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert!(colored.files().len() > 1);
    assert_eq!(
        sandbox.request_count(Provider::Perfect, "POST", CREATE_FILE),
        1,
        "no upload for URL inputs"
    );
    let uploads = sandbox
        .traffic()
        .iter()
        .filter(|e| e.path.starts_with("/_uploads/"))
        .count();
    assert_eq!(uploads, 1);
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_run_task_that_may_have_reached_perfect_is_not_sent_again() {
    let (sandbox, client) = start(quick_config()).await;
    let path = Feature::Colorize
        .facts()
        .operation("run_task")
        .unwrap()
        .path;
    let file = client
        .upload(Feature::Colorize, &photo())
        .await
        .expect("uploads");
    sandbox
        .inject(FaultRule::new(Provider::Perfect, path, Fault::DropAfterProcessing).method("POST"));
    let error = client
        .colorize(Input::file(file.clone()))
        .send()
        .await
        .expect_err("the answer was lost");
    assert_eq!(error.kind(), ErrorKind::OutcomeUnknown, "{error}");
    assert_eq!(
        sandbox.request_count(Provider::Perfect, "POST", path),
        1,
        "sent once"
    );

    // A 503 says the task was not taken: that one is sent again.
    sandbox.inject(FaultRule::new(Provider::Perfect, path, Fault::Status(503)).method("POST"));
    let output = client
        .colorize(Input::file(file))
        .send()
        .await
        .expect("retried after the 503")
        .wait()
        .await
        .unwrap();
    assert!(!output.files().is_empty());
    assert_eq!(sandbox.request_count(Provider::Perfect, "POST", path), 3);
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_before_any_request() {
    let (sandbox, client) = start(quick_config()).await;
    let png = ImageInput::from_bytes(sample_png(PHOTO.0, PHOTO.1));
    let template = "hair_style_001";
    let refusals = [
        (
            "PNG for a JPEG-only feature",
            client.hair_style(png, template).send().await,
        ),
        (
            "a short side under aging's minimum",
            client
                .aging(ImageInput::from_bytes(sample_jpeg(400, 200)))
                .send()
                .await,
        ),
        (
            "a mask of another size",
            client
                .object_removal(photo(), mask(PHOTO.1, PHOTO.0))
                .send()
                .await,
        ),
        (
            "more images than the slot takes",
            client
                .youcam_image_to_image((0..4).map(|_| photo()), "combine")
                .send()
                .await,
        ),
        (
            "no image at all",
            client
                .youcam_image_to_image(Vec::<ImageInput>::new(), "combine")
                .send()
                .await,
        ),
        (
            "files mixed with URLs in one slot",
            client
                .youcam_image_to_image(
                    [Input::from(photo()), Input::url("http://127.0.0.1:9/a.jpg")],
                    "combine",
                )
                .send()
                .await,
        ),
        (
            "a blank prompt",
            client.youcam_text_to_image("   ").send().await,
        ),
        (
            "a prompt over the documented length",
            client
                .text_to_image(
                    "x".repeat(text_to_image_run_task_request::PROMPT_MAX_LENGTH + 1),
                    template,
                )
                .send()
                .await,
        ),
        (
            "a text-to-image size that is not documented",
            client
                .youcam_text_to_image("a fox")
                .output_size(1000, 1000)
                .send()
                .await,
        ),
    ];
    for (what, outcome) in refusals {
        let error = outcome.err().unwrap_or_else(|| panic!("{what}: accepted"));
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{what}: {error}");
    }
    let unsupported = client
        .enhance(photo(), Scale::X2)
        .steps(20)
        .send()
        .await
        .expect_err("enhance takes no steps");
    assert_eq!(unsupported.kind(), ErrorKind::Unsupported, "{unsupported}");
    assert!(sandbox.traffic().is_empty(), "the sandbox saw nothing");
}

#[tokio::test(start_paused = true)]
async fn a_task_left_unpolled_expires_with_invalid_task_id() {
    let config = SandboxConfig {
        perfect_task_duration: Duration::from_secs(3600),
        perfect_task_loss_after: Duration::from_millis(100),
        ..quick_config()
    };
    let sandbox = Sandbox::start_with(config).await.unwrap();
    let client = builder(&sandbox)
        // Polls far apart, beyond the sandbox's window.
        .poll_policy(
            PollPolicy::new(Duration::from_millis(400))
                .with_multiplier(1.0)
                .with_deadline(Duration::from_secs(30)),
        )
        .build()
        .unwrap();
    let task = client.enhance(photo(), Scale::X1).send().await.unwrap();
    let error = task.wait().await.expect_err("the task expired");
    assert_eq!(error.status(), Some(400), "{error}");
    assert_eq!(
        error.code(),
        Some(&ErrorCode::PerfectV2(V2Code::InvalidTaskId))
    );
    assert_eq!(sandbox.lost_tasks(), 1);
    assert!(sandbox.charges().is_empty());
}

#[tokio::test(start_paused = true)]
async fn finished_tasks_can_be_deleted_and_running_ones_cannot() {
    let (sandbox, client) = start(quick_config()).await;
    let task = client.enhance(photo(), Scale::X1).send().await.unwrap();
    let output = task.wait().await.unwrap();
    task.delete().await.expect("a finished task is deleted");
    let gone = task.status().await.expect_err("the task is gone");
    assert_eq!(
        gone.code(),
        Some(&ErrorCode::PerfectV2(V2Code::InvalidTaskId))
    );
    let download = output
        .result()
        .bytes()
        .await
        .expect_err("its result is gone");
    assert_eq!(download.status(), Some(404), "{download}");
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");

    let config = SandboxConfig {
        perfect_task_duration: Duration::from_secs(3600),
        ..quick_config()
    };
    let (_sandbox, client) = start(config).await;
    let running = client.enhance(photo(), Scale::X1).send().await.unwrap();
    let refused = running.delete().await.expect_err("still running");
    assert_eq!(
        refused.code(),
        Some(&ErrorCode::PerfectV2(V2Code::OperationInvalid))
    );
}
