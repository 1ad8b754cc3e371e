//! The sandbox's Perfect Corp emulation end to end, through the generated client: the RSA
//! `id_token` exchange and expiring tokens, presigned uploads, every feature with results
//! decoded and checked, input checks, `request_id` idempotency, result files reused as inputs,
//! lost tasks, catalogue paging, both rate limits, accounting and injected faults. Every test
//! ends by checking that each JSON answer the sandbox gave matches `specs/perfect.yaml`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use image::{DynamicImage, GenericImageView as _, ImageFormat};
use pixmill_perfect_api::types::{
    self, Action, AgingRunTaskRequest, AgingTaskPayload, BackgroundRemovalRunTaskRequest,
    BackgroundRemovalTaskPayload, ColorizeRunTaskRequest, ColorizeTaskPayload, CreateFileRequest,
    EngineErrorCode, EnhanceAction, EnhanceParams, EnhanceRunTaskRequest, EnhanceTaskPayload,
    FileRequest, HairEditRunTaskRequest, HairEditTaskPayload, ImageContentType, JpgOutputExt,
    JpgWebpOutputExt, MakeupTransferContentType, MakeupTransferCreateFileRequest,
    MakeupTransferFileRequest, MakeupTransferFileSet, MakeupTransferRunTaskRequest,
    MakeupTransferTaskPayload, ObjectRemovalFileSet, ObjectRemovalRunTaskRequest,
    ObjectRemovalTaskPayload, PngWebpOutputExt, Scale as EnhanceParamsScale, SingleSourceFileSet,
    SourceFileSet, StyleAction, StyleParams, StyleRunTaskRequest, StyleTaskPayload,
    TaskActionResult, TaskResultFile, TaskStatus, TextToImageAction, TextToImageParams,
    TextToImageRunTaskRequest, TextToImageTaskPayload, UploadedFile,
};
use pixmill_perfect_api::{Client, Error, ResponseValue};
use pixmill_sandbox::{Fault, FaultRule, JobFailure, Provider, RateLimit, Sandbox, SandboxConfig};
use pixmill_tests::sandbox::{
    http_with, now_ms, perfect, perfect_id_token, quick_config, sample_jpeg, sample_png,
    spec_violations,
};
use serde_json::{Value, json};

const PERFECT: Provider = Provider::Perfect;
const ENHANCE: &str = "/s2s/v1.0/task/enhance";

/// Polls a `check_status` call every `polling_interval` ms until the task leaves `running`, and
/// returns the final `result`. The call expression is evaluated afresh for every poll.
macro_rules! poll {
    ($call:expr) => {{
        let started = Instant::now();
        loop {
            let result = $call
                .send()
                .await
                .expect("check_status answers")
                .into_inner()
                .result;
            let interval = result.polling_interval.expect("polling_interval is given");
            assert!(interval > 0, "polling_interval {interval}");
            if result.status != TaskStatus::Running {
                break result;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the task is still running after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(interval as u64)).await;
        }
    }};
}

/// Registers one image with a `create_file` builder and returns its upload slot.
macro_rules! create_file {
    ($builder:expr, $content_type:expr) => {
        $builder
            .body(CreateFileRequest {
                files: vec![FileRequest {
                    content_type: $content_type,
                    file_name: "input".parse().unwrap(),
                }],
            })
            .send()
            .await
            .expect("create_file succeeds")
            .into_inner()
            .result
            .files
            .remove(0)
    };
}

/// Registers and uploads one image; returns its `file_id`.
macro_rules! upload_input {
    ($builder:expr, $content_type:expr, $bytes:expr) => {{
        let file = create_file!($builder, $content_type);
        assert_eq!(
            put_upload(&file, $bytes).await,
            200,
            "the upload is accepted"
        );
        file.file_id
    }};
}

/// Picks a listed style of a hair feature, uploads a portrait, runs the feature with that style
/// and polls it to the end. `$request` builds the run-task body from the file id and the style.
macro_rules! run_hair_feature {
    ($client:expr, $groups:ident, $styles:ident, $create:ident, $run:ident, $check:ident, $request:expr) => {{
        let client: &Client = $client;
        let groups = client
            .$groups()
            .send()
            .await
            .expect("style groups are listed")
            .into_inner()
            .result
            .groups;
        let group = groups.last().expect("a style group").id;
        let styles = client
            .$styles()
            .style_group_id(group)
            .send()
            .await
            .expect("styles are listed")
            .into_inner()
            .result
            .styles;
        let style = styles.last().expect("a style").id;
        let file_id = upload_input!(
            client.$create(),
            ImageContentType::ImageJpeg,
            sample_jpeg(120, 160)
        );
        let params = StyleParams {
            style_group_id: group,
            style_ids: [style],
        };
        let task = client
            .$run()
            .body($request(file_id, params))
            .send()
            .await
            .expect("run_task succeeds")
            .into_inner()
            .result
            .task_id;
        poll!(client.$check().task_id(&task))
    }};
}

/// The quick settings without rate limits, so a test can make as many calls as it needs.
fn unlimited() -> SandboxConfig {
    SandboxConfig {
        perfect_token_limit: None,
        perfect_ip_limit: None,
        ..quick_config()
    }
}

async fn start(config: SandboxConfig) -> Sandbox {
    Sandbox::start_with(config).await.expect("sandbox starts")
}

/// Every JSON answer so far matches `specs/perfect.yaml`.
fn assert_conforms(sandbox: &Sandbox) {
    let violations = spec_violations(sandbox);
    assert!(
        violations.is_empty(),
        "answers that break the spec:\n{}",
        violations.join("\n")
    );
}

fn url(sandbox: &Sandbox, path: &str) -> String {
    format!("{}{path}", sandbox.base_url(PERFECT))
}

async fn auth_raw(sandbox: &Sandbox, client_id: &str, id_token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url(sandbox, "/s2s/v1.0/client/auth"))
        .json(&json!({ "client_id": client_id, "id_token": id_token }))
        .send()
        .await
        .expect("auth answers")
}

fn valid_id_token(sandbox: &Sandbox) -> String {
    let c = sandbox.credentials();
    perfect_id_token(&c.perfect_client_id, &c.perfect_client_secret, now_ms())
}

async fn access_token(sandbox: &Sandbox) -> String {
    let client_id = sandbox.credentials().perfect_client_id.clone();
    let response = auth_raw(sandbox, &client_id, &valid_id_token(sandbox)).await;
    assert_eq!(response.status(), 200, "valid credentials are accepted");
    let body: Value = response.json().await.expect("auth answers JSON");
    assert_eq!(body["status"], 200);
    body["result"]["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .expect("an access token")
        .to_string()
}

fn client_with_token(sandbox: &Sandbox, token: &str) -> Client {
    Client::new_with_client(
        &sandbox.base_url(PERFECT),
        http_with("authorization", &format!("Bearer {token}")),
        Default::default(),
    )
}

/// Checks Perfect's `{status, error, error_code}` error body and returns `error_code`.
fn error_code_of(body: &Value, status: u16) -> String {
    assert_eq!(body["status"], json!(status), "status repeated in {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no `error` in {body}"
    );
    body["error_code"]
        .as_str()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| panic!("no `error_code` in {body}"))
        .to_string()
}

/// Asserts a raw answer is `status` with Perfect's error body; returns `error_code`.
async fn refusal(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status, "answer status");
    let body: Value = response.json().await.expect("error answers are JSON");
    error_code_of(&body, status)
}

/// Asserts a generated call got a `status` answer with Perfect's error body; returns
/// `error_code`.
fn refused<T: std::fmt::Debug>(
    result: Result<ResponseValue<T>, Error<types::Error>>,
    status: u16,
) -> String {
    match result {
        Err(Error::ErrorResponse(answer)) => {
            assert_eq!(answer.status().as_u16(), status, "answer status");
            let body = serde_json::to_value(answer.into_inner()).expect("serializes");
            error_code_of(&body, status)
        }
        other => panic!("expected a {status} answer, got {other:?}"),
    }
}

async fn post_raw(sandbox: &Sandbox, token: &str, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url(sandbox, path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("the sandbox answers")
}

async fn get_raw(sandbox: &Sandbox, token: &str, path_and_query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url(sandbox, path_and_query))
        .bearer_auth(token)
        .send()
        .await
        .expect("the sandbox answers")
}

/// Performs the upload a `create_file` answer describes: its method, URL and exactly its headers.
async fn put_upload(file: &UploadedFile, bytes: Vec<u8>) -> u16 {
    let [request] = file.requests.as_slice() else {
        panic!("one upload request per file, got {:?}", file.requests);
    };
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("an HTTP method");
    let mut upload = reqwest::Client::new()
        .request(method, &request.url)
        .body(bytes);
    for (name, value) in &request.headers {
        upload = upload.header(name.as_str(), value.as_str());
    }
    upload
        .send()
        .await
        .expect("the upload answers")
        .status()
        .as_u16()
}

/// A PUT to a presigned URL with a chosen `Content-Type` (or none).
async fn put_with_content_type(url: &str, content_type: Option<&str>, bytes: Vec<u8>) -> u16 {
    let mut upload = reqwest::Client::new().put(url).body(bytes);
    if let Some(content_type) = content_type {
        upload = upload.header("content-type", content_type);
    }
    upload.send().await.expect("answers").status().as_u16()
}

/// Downloads a result with a plain client and decodes it; checks the served type matches.
async fn download(url: &str) -> (DynamicImage, ImageFormat) {
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "result on the sandbox: {url}"
    );
    let response = reqwest::get(url).await.expect("the result downloads");
    assert_eq!(response.status(), 200, "{url}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response.bytes().await.expect("the result body");
    let format = image::guess_format(&bytes).expect("the result is an image");
    assert_eq!(content_type, format.to_mime_type(), "served type of {url}");
    let image = image::load_from_memory(&bytes).expect("the result decodes");
    (image, format)
}

/// The single output file of a successful single-action task.
fn single_output(status: TaskStatus, results: &[TaskActionResult]) -> TaskResultFile {
    assert_eq!(status, TaskStatus::Success);
    let [action] = results else {
        panic!("one action result, got {results:?}");
    };
    assert_eq!(action.id, Some(0), "labelled with the action id");
    let [file] = action.data.as_slice() else {
        panic!("one output file, got {:?}", action.data);
    };
    assert!(file.dst_id.as_deref().is_some_and(|d| !d.is_empty()));
    file.clone()
}

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encodes");
    out.into_inner()
}

/// A grey ramp, darkest on the left.
fn grey_png(width: u32, height: u32) -> Vec<u8> {
    let ramp = image::GrayImage::from_fn(width, height, |x, _| {
        image::Luma([(x * 255 / (width - 1)) as u8])
    });
    encode(DynamicImage::ImageLuma8(ramp), ImageFormat::Png)
}

/// A grey-scale mask, white inside the rectangle `x0..x1` × `y0..y1`.
fn mask_png(width: u32, height: u32, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> Vec<u8> {
    let mask = image::GrayImage::from_fn(width, height, |x, y| {
        let inside = (x0..x1).contains(&x) && (y0..y1).contains(&y);
        image::Luma([if inside { 255 } else { 0 }])
    });
    encode(DynamicImage::ImageLuma8(mask), ImageFormat::Png)
}

fn solid_png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb(rgb));
    encode(DynamicImage::ImageRgb8(image), ImageFormat::Png)
}

fn enhance_request(request_id: i64, file_id: &str, scale: i32) -> EnhanceRunTaskRequest {
    EnhanceRunTaskRequest {
        request_id,
        payload: EnhanceTaskPayload {
            actions: [EnhanceAction {
                id: 0,
                params: EnhanceParams {
                    scale: EnhanceParamsScale::try_from(i64::from(scale))
                        .expect("a documented scale"),
                },
            }],
            file_sets: SourceFileSet {
                src_ids: vec![file_id.to_string().parse().unwrap()],
            },
            output_ext: None,
        },
    }
}

async fn run_enhance(client: &Client, request_id: i64, file_id: &str, scale: i32) -> String {
    client
        .enhance_run_task()
        .body(enhance_request(request_id, file_id, scale))
        .send()
        .await
        .expect("enhance_run_task succeeds")
        .into_inner()
        .result
        .task_id
}

fn charged_tasks(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .charges()
        .into_iter()
        .map(|c| {
            assert_eq!(c.provider, PERFECT);
            assert_eq!(c.amount, sandbox.config().perfect_price);
            c.reference.expect("a charge names its task")
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Auth

#[tokio::test(start_paused = true)]
async fn auth_accepts_a_valid_id_token_and_refuses_everything_else() {
    let sandbox = start(unlimited()).await;
    let creds = sandbox.credentials().clone();
    // A sandbox with a key pair of its own: its secret is "another key" here.
    let elsewhere = start(unlimited().with_fresh_key()).await;
    let other_secret = elsewhere.credentials().perfect_client_secret.clone();
    assert_ne!(other_secret, creds.perfect_client_secret);

    let client = client_with_token(&sandbox, &access_token(&sandbox).await);
    let groups = client
        .hair_style_list_style_groups()
        .send()
        .await
        .expect("a fresh token works");
    assert!(!groups.into_inner().result.groups.is_empty());

    let other_id = format!("{}0", creds.perfect_client_id);
    let wrong_client = perfect_id_token(&other_id, &creds.perfect_client_secret, now_ms());
    let code = refusal(auth_raw(&sandbox, &other_id, &wrong_client).await, 401).await;
    assert_eq!(code, "InvalidClientId");

    let names_other_client = perfect_id_token(&other_id, &creds.perfect_client_secret, now_ms());
    let code = refusal(
        auth_raw(&sandbox, &creds.perfect_client_id, &names_other_client).await,
        401,
    )
    .await;
    assert_eq!(code, "InvalidIdToken");

    let other_key_token = perfect_id_token(&creds.perfect_client_id, &other_secret, now_ms());
    let code = refusal(
        auth_raw(&sandbox, &creds.perfect_client_id, &other_key_token).await,
        401,
    )
    .await;
    assert_eq!(code, "InvalidIdToken");

    let skew = sandbox.config().perfect_id_token_skew.as_millis();
    for timestamp in [now_ms() - skew - 5_000, now_ms() + skew + 5_000] {
        let stale = perfect_id_token(
            &creds.perfect_client_id,
            &creds.perfect_client_secret,
            timestamp,
        );
        let code = refusal(
            auth_raw(&sandbox, &creds.perfect_client_id, &stale).await,
            401,
        )
        .await;
        assert_eq!(code, "InvalidIdToken", "timestamp {timestamp}");
    }

    let code = refusal(
        auth_raw(&sandbox, &creds.perfect_client_id, "bm90IGVuY3J5cHRlZA==").await,
        401,
    )
    .await;
    assert_eq!(code, "InvalidIdToken");

    let anonymous = Client::new_with_client(
        &sandbox.base_url(PERFECT),
        reqwest::Client::new(),
        Default::default(),
    );
    let code = refused(anonymous.hair_style_list_style_groups().send().await, 401);
    assert_eq!(code, "InvalidAccessToken");
    let unknown = client_with_token(&sandbox, "not-a-token-this-sandbox-issued");
    let code = refused(unknown.hair_style_list_style_groups().send().await, 401);
    assert_eq!(code, "InvalidAccessToken");

    let code = refusal(
        reqwest::Client::new()
            .get(url(&sandbox, "/s2s/v1.0/task/style-group/wig"))
            .header(
                "authorization",
                format!("Token {}", access_token(&sandbox).await),
            )
            .send()
            .await
            .expect("answers"),
        401,
    )
    .await;
    assert_eq!(
        code, "InvalidAccessToken",
        "only bearer tokens are accepted"
    );

    // A token of another sandbox is unknown here.
    let foreign = client_with_token(&sandbox, &access_token(&elsewhere).await);
    let code = refused(foreign.hair_style_list_style_groups().send().await, 401);
    assert_eq!(code, "InvalidAccessToken");
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn access_tokens_expire_after_their_ttl() {
    let ttl = Duration::from_secs(1);
    let sandbox = start(SandboxConfig {
        perfect_token_ttl: ttl,
        ..unlimited()
    })
    .await;
    let token = access_token(&sandbox).await;
    // The sandbox fixed the expiry before answering, so it lies at most `ttl` after this.
    let received = Instant::now();
    let client = client_with_token(&sandbox, &token);
    client
        .hair_style_list_style_groups()
        .send()
        .await
        .expect("the token works before it expires");

    tokio::time::sleep(
        (received + ttl + Duration::from_millis(1)).saturating_duration_since(Instant::now()),
    )
    .await;
    let code = refused(client.hair_style_list_style_groups().send().await, 401);
    assert_eq!(code, "InvalidAccessToken");

    let renewed = client_with_token(&sandbox, &access_token(&sandbox).await);
    renewed
        .hair_style_list_style_groups()
        .send()
        .await
        .expect("a new token works");
    assert_conforms(&sandbox);
}

// ---------------------------------------------------------------------------------------------
// Uploads

#[tokio::test(start_paused = true)]
async fn upload_slots_close_after_the_documented_retention() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let retention = pixmill_perfect_api::service::RETENTION
        .uploads
        .expect("the spec states how long uploads are kept");
    let early = create_file!(client.enhance_create_file(), ImageContentType::ImagePng);
    let late = create_file!(client.enhance_create_file(), ImageContentType::ImagePng);

    tokio::time::advance(retention - Duration::from_secs(1)).await;
    assert_eq!(
        put_upload(&early, sample_png(8, 8)).await,
        200,
        "still open"
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(
        put_upload(&late, sample_png(8, 8)).await,
        403,
        "closed once the retention has passed"
    );
}

#[tokio::test(start_paused = true)]
async fn uploads_need_exactly_the_signed_request() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;

    let file = create_file!(client.enhance_create_file(), ImageContentType::ImagePng);
    assert_eq!(file.content_type.as_deref(), Some("image/png"));
    assert_eq!(file.file_name.as_deref(), Some("input"));
    let [request] = file.requests.as_slice() else {
        panic!("one upload request: {:?}", file.requests);
    };
    assert_eq!(request.method, "PUT");
    assert!(
        request
            .url
            .starts_with(&format!("http://{}/", sandbox.addr()))
    );
    assert_eq!(
        request.headers,
        HashMap::from([("Content-Type".to_string(), "image/png".to_string())])
    );

    let png = sample_png(40, 30);
    assert_eq!(
        put_with_content_type(&request.url, Some("image/jpeg"), png.clone()).await,
        403,
        "another Content-Type breaks the signature"
    );
    assert_eq!(
        put_with_content_type(&request.url, None, png.clone()).await,
        403
    );
    let forged = format!("{}x", request.url);
    assert_eq!(
        put_with_content_type(&forged, Some("image/png"), png.clone()).await,
        403,
        "no slot was signed for that URL"
    );

    // Declared but never uploaded (the refused PUTs stored nothing).
    let code = refused(
        client
            .enhance_run_task()
            .body(enhance_request(0, &file.file_id, 2))
            .send()
            .await,
        400,
    );
    assert_eq!(code, "InvalidParameters");
    let code = refused(
        client
            .enhance_run_task()
            .body(enhance_request(0, "never-declared", 2))
            .send()
            .await,
        400,
    );
    assert_eq!(code, "InvalidParameters");

    assert_eq!(put_upload(&file, png).await, 200);
    let task = run_enhance(&client, 0, &file.file_id, 2).await;
    let result = poll!(client.enhance_check_status().task_id(&task));
    let output = single_output(result.status.clone(), &result.results);
    let (image, _) = download(output.url.as_deref().expect("a url")).await;
    assert_eq!(image.dimensions(), (80, 60));

    // Several files at once get distinct ids and slots.
    let files = client
        .colorize_create_file()
        .body(CreateFileRequest {
            files: vec![
                FileRequest {
                    content_type: ImageContentType::ImageJpeg,
                    file_name: "a.jpg".parse().unwrap(),
                },
                FileRequest {
                    content_type: ImageContentType::ImagePng,
                    file_name: "b.png".parse().unwrap(),
                },
            ],
        })
        .send()
        .await
        .expect("two files register")
        .into_inner()
        .result
        .files;
    assert_eq!(files.len(), 2);
    assert_ne!(files[0].file_id, files[1].file_id);
    assert_ne!(files[0].requests[0].url, files[1].requests[0].url);
    assert_eq!(files[0].file_name.as_deref(), Some("a.jpg"));
    assert_eq!(files[1].requests[0].headers["Content-Type"], "image/png");
    assert_conforms(&sandbox);
}

// ---------------------------------------------------------------------------------------------
// Every feature end to end

#[tokio::test(start_paused = true)]
async fn hair_features_apply_a_listed_style() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let style_request = |file: String, params: StyleParams| StyleRunTaskRequest {
        request_id: 0,
        payload: StyleTaskPayload {
            actions: [StyleAction { id: 0, params }],
            file_sets: SingleSourceFileSet {
                src_ids: [file.parse().unwrap()],
            },
            output_ext: Some(JpgOutputExt::Jpg),
        },
    };
    let edit_request = |file: String, params: StyleParams| HairEditRunTaskRequest {
        request_id: 0,
        payload: HairEditTaskPayload {
            actions: [StyleAction { id: 0, params }],
            file_sets: SourceFileSet {
                src_ids: vec![file.parse().unwrap()],
            },
            output_ext: None,
        },
    };
    let results = [
        run_hair_feature!(
            &client,
            hair_style_list_style_groups,
            hair_style_list_styles,
            hair_style_create_file,
            hair_style_run_task,
            hair_style_check_status,
            style_request
        ),
        run_hair_feature!(
            &client,
            wig_list_style_groups,
            wig_list_styles,
            wig_create_file,
            wig_run_task,
            wig_check_status,
            style_request
        ),
        run_hair_feature!(
            &client,
            hair_extension_list_style_groups,
            hair_extension_list_styles,
            hair_extension_create_file,
            hair_extension_run_task,
            hair_extension_check_status,
            edit_request
        ),
        run_hair_feature!(
            &client,
            hair_bang_list_style_groups,
            hair_bang_list_styles,
            hair_bang_create_file,
            hair_bang_run_task,
            hair_bang_check_status,
            edit_request
        ),
        run_hair_feature!(
            &client,
            hair_volume_list_style_groups,
            hair_volume_list_styles,
            hair_volume_create_file,
            hair_volume_run_task,
            hair_volume_check_status,
            edit_request
        ),
    ];
    for result in &results {
        let output = single_output(result.status.clone(), &result.results);
        let (image, format) = download(output.url.as_deref().expect("a url")).await;
        assert_eq!(format, ImageFormat::Jpeg);
        assert_eq!(image.dimensions(), (120, 160), "same size as the portrait");
    }
    let operations: Vec<String> = sandbox.charges().into_iter().map(|c| c.operation).collect();
    assert_eq!(
        operations,
        [
            "hair_style_run_task",
            "wig_run_task",
            "hair_extension_run_task",
            "hair_bang_run_task",
            "hair_volume_run_task"
        ]
    );
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn aging_returns_an_ascending_series_with_consistent_info() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let file = upload_input!(
        client.aging_create_file(),
        ImageContentType::ImageJpg,
        sample_jpeg(90, 120)
    );
    let task = client
        .aging_run_task()
        .body(AgingRunTaskRequest {
            request_id: 0,
            payload: AgingTaskPayload {
                actions: [Action { id: 0 }],
                file_sets: SingleSourceFileSet {
                    src_ids: [file.parse().unwrap()],
                },
                output_ext: None,
            },
        })
        .send()
        .await
        .expect("aging starts")
        .into_inner()
        .result
        .task_id;
    let result = poll!(client.aging_check_status().task_id(&task));
    assert_eq!(result.status, TaskStatus::Success);
    let [series] = result.results.as_slice() else {
        panic!("one action result: {:?}", result.results);
    };
    assert_eq!(series.id, Some(0));
    assert!(series.data.len() > 1, "several photos: {:?}", series.data);
    let ages: Vec<i32> = series
        .data
        .iter()
        .map(|d| d.res_age.expect("every photo has res_age"))
        .collect();
    assert!(
        ages.windows(2).all(|w| w[0] < w[1]),
        "ascending ages: {ages:?}"
    );
    let info = result.custom_info.expect("custom_info on success");
    assert_eq!(info.age_min, ages.first().copied());
    assert_eq!(info.age_max, ages.last().copied());
    assert_eq!(info.num_of_photos, Some(ages.len() as i32));
    let age = info.age.expect("an age estimate");
    assert!(
        (ages[0]..=ages[ages.len() - 1]).contains(&age),
        "{age} in {ages:?}"
    );
    let index = info.age_idx.expect("age_idx") as usize;
    assert!(index < ages.len());
    let mut dst_ids = HashSet::new();
    for photo in &series.data {
        assert!(dst_ids.insert(photo.dst_id.clone().expect("a dst_id")));
        let (image, _) = download(photo.url.as_deref().expect("a url")).await;
        assert_eq!(image.dimensions(), (90, 120));
    }
    assert_eq!(charged_tasks(&sandbox), [task], "one charge for the series");
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn makeup_transfer_takes_the_look_of_the_reference() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let selfie = sample_png(80, 100);
    let files = client
        .makeup_transfer_create_file()
        .body(MakeupTransferCreateFileRequest {
            files: vec![
                MakeupTransferFileRequest {
                    content_type: MakeupTransferContentType::ImagePng,
                    file_name: "selfie.png".parse().unwrap(),
                },
                MakeupTransferFileRequest {
                    content_type: MakeupTransferContentType::ImagePng,
                    file_name: "look.png".parse().unwrap(),
                },
            ],
        })
        .send()
        .await
        .expect("both files register")
        .into_inner()
        .result
        .files;
    let [selfie_file, look_file] = files.as_slice() else {
        panic!("two files: {files:?}");
    };
    assert_eq!(put_upload(selfie_file, selfie.clone()).await, 200);
    assert_eq!(
        put_upload(look_file, solid_png(50, 50, [20, 40, 230])).await,
        200
    );
    let task = client
        .makeup_transfer_run_task()
        .body(MakeupTransferRunTaskRequest {
            request_id: 0,
            payload: MakeupTransferTaskPayload {
                actions: [Action { id: 0 }],
                file_sets: MakeupTransferFileSet {
                    src_ids: [selfie_file.file_id.clone().parse().unwrap()],
                    ref_ids: [look_file.file_id.clone().parse().unwrap()],
                },
                output_ext: None,
            },
        })
        .send()
        .await
        .expect("makeup transfer starts")
        .into_inner()
        .result
        .task_id;
    let result = poll!(client.makeup_transfer_check_status().task_id(&task));
    let output = single_output(result.status.clone(), &result.results);
    let (image, format) = download(output.url.as_deref().expect("a url")).await;
    assert_eq!(format, ImageFormat::Jpeg);
    assert_eq!(image.dimensions(), (80, 100));
    // The face area (the centre) moves towards the blue reference.
    let before = image::load_from_memory(&selfie).expect("decodes").to_rgb8();
    let after = image.to_rgb8();
    let (b0, b1) = (before.get_pixel(40, 45)[2], after.get_pixel(40, 45)[2]);
    assert!(b1 > b0.saturating_add(30), "blue {b0} -> {b1}");
    assert_eq!(charged_tasks(&sandbox), [task]);
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn object_removal_fills_the_masked_area() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let (width, height) = (96, 64);
    let photo = upload_input!(
        client.object_removal_create_file(),
        ImageContentType::ImagePng,
        sample_png(width, height)
    );
    // The red square of the sample spans x 25..71, y 17..47.
    let mask = upload_input!(
        client.object_removal_create_file(),
        ImageContentType::ImagePng,
        mask_png(width, height, (20, 12, 76, 52))
    );
    let task = client
        .object_removal_run_task()
        .body(ObjectRemovalRunTaskRequest {
            request_id: 0,
            payload: ObjectRemovalTaskPayload {
                actions: [Action { id: 0 }],
                file_sets: ObjectRemovalFileSet {
                    src_ids: vec![photo.parse().unwrap()],
                    mask_ids: vec![mask.parse().unwrap()],
                },
                output_ext: None,
            },
        })
        .send()
        .await
        .expect("object removal starts")
        .into_inner()
        .result
        .task_id;
    let result = poll!(client.object_removal_check_status().task_id(&task));
    let output = single_output(result.status.clone(), &result.results);
    let (image, _) = download(output.url.as_deref().expect("a url")).await;
    assert_eq!(image.dimensions(), (width, height));
    let centre = image.to_rgb8().get_pixel(48, 32).0;
    assert!(
        centre.iter().all(|c| *c > 200),
        "the red object is gone: {centre:?}"
    );
    assert_eq!(charged_tasks(&sandbox), [task]);
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn colorize_turns_grey_into_rgb_colour() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let file = upload_input!(
        client.colorize_create_file(),
        ImageContentType::ImagePng,
        grey_png(64, 32)
    );
    let mut tasks = Vec::new();
    for (request_id, output_ext, expected) in [
        (0, None, ImageFormat::Jpeg),
        (1, Some(JpgWebpOutputExt::Webp), ImageFormat::WebP),
    ] {
        let task = client
            .colorize_run_task()
            .body(ColorizeRunTaskRequest {
                request_id,
                payload: ColorizeTaskPayload {
                    actions: [Action { id: 0 }],
                    file_sets: SourceFileSet {
                        src_ids: vec![file.clone().parse().unwrap()],
                    },
                    output_ext,
                },
            })
            .send()
            .await
            .expect("colorize starts")
            .into_inner()
            .result
            .task_id;
        let result = poll!(client.colorize_check_status().task_id(&task));
        let output = single_output(result.status.clone(), &result.results);
        let (image, format) = download(output.url.as_deref().expect("a url")).await;
        assert_eq!(format, expected);
        assert_eq!(image.color(), image::ColorType::Rgb8, "{format:?}");
        assert_eq!(image.dimensions(), (64, 32));
        let chroma = image
            .to_rgb8()
            .pixels()
            .map(|p| p.0.iter().max().unwrap() - p.0.iter().min().unwrap())
            .max()
            .unwrap_or(0);
        assert!(
            chroma > 40,
            "the grey input gained colour (chroma {chroma})"
        );
        tasks.push(task);
    }
    assert_eq!(charged_tasks(&sandbox), tasks);
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn background_removal_returns_a_transparent_cutout() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let file = upload_input!(
        client.background_removal_create_file(),
        ImageContentType::ImageJpeg,
        sample_jpeg(80, 60)
    );
    let mut tasks = Vec::new();
    for (request_id, output_ext, expected) in [
        (0, None, ImageFormat::Png),
        (1, Some(PngWebpOutputExt::Png), ImageFormat::Png),
        (2, Some(PngWebpOutputExt::Webp), ImageFormat::WebP),
    ] {
        let task = client
            .background_removal_run_task()
            .body(BackgroundRemovalRunTaskRequest {
                request_id,
                payload: BackgroundRemovalTaskPayload {
                    actions: [Action { id: 0 }],
                    file_sets: SourceFileSet {
                        src_ids: vec![file.clone().parse().unwrap()],
                    },
                    output_ext,
                },
            })
            .send()
            .await
            .expect("background removal starts")
            .into_inner()
            .result
            .task_id;
        let result = poll!(client.background_removal_check_status().task_id(&task));
        let output = single_output(result.status.clone(), &result.results);
        let (image, format) = download(output.url.as_deref().expect("a url")).await;
        assert_eq!(format, expected);
        assert_eq!(image.color(), image::ColorType::Rgba8, "{format:?}");
        assert_eq!(image.dimensions(), (80, 60));
        let rgba = image.to_rgba8();
        assert_eq!(rgba.get_pixel(0, 0)[3], 0, "the corner is transparent");
        assert_eq!(rgba.get_pixel(40, 30)[3], 255, "the subject is opaque");
        tasks.push(task);
    }
    assert_eq!(charged_tasks(&sandbox), tasks);
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn enhance_scales_both_sides() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let file = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImagePng,
        sample_png(50, 30)
    );
    let mut tasks = Vec::new();
    for (request_id, scale) in [(0, 2), (1, 4), (2, 1)] {
        let task = run_enhance(&client, request_id, &file, scale).await;
        let result = poll!(client.enhance_check_status().task_id(&task));
        assert_eq!(
            result.polling_interval,
            Some(sandbox.config().perfect_polling_interval.as_millis() as i32)
        );
        let output = single_output(result.status.clone(), &result.results);
        let (image, format) = download(output.url.as_deref().expect("a url")).await;
        assert_eq!(format, ImageFormat::Jpeg, "jpg by default");
        let factor = scale as u32;
        assert_eq!(
            image.dimensions(),
            (50 * factor, 30 * factor),
            "scale {scale}"
        );
        tasks.push(task);
    }
    assert_eq!(charged_tasks(&sandbox), tasks);
    assert_conforms(&sandbox);
}

fn text_to_image_request(
    request_id: i64,
    prompt: &str,
    group: i64,
    style: i64,
) -> TextToImageRunTaskRequest {
    TextToImageRunTaskRequest {
        request_id,
        payload: TextToImageTaskPayload {
            actions: [TextToImageAction {
                id: 0,
                params: TextToImageParams {
                    prompt: prompt.parse().unwrap(),
                    style_group_id: group,
                    style_ids: [style],
                },
            }],
            output_ext: None,
        },
    }
}

#[tokio::test(start_paused = true)]
async fn text_to_image_renders_1024_square_per_prompt() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let groups = client
        .text_to_image_list_style_groups()
        .send()
        .await
        .expect("groups")
        .into_inner()
        .result
        .groups;
    let group = groups[0].id;
    let styles = client
        .text_to_image_list_styles()
        .style_group_id(group)
        .page_size(5u32)
        .send()
        .await
        .expect("styles")
        .into_inner()
        .result
        .styles;
    let style = styles[4].id;
    let run = |request_id: i64, prompt: &'static str| {
        let client = &client;
        async move {
            client
                .text_to_image_run_task()
                .body(text_to_image_request(request_id, prompt, group, style))
                .send()
                .await
                .expect("text to image starts")
                .into_inner()
                .result
                .task_id
        }
    };
    let lighthouse = run(0, "a lighthouse at dusk").await;
    assert_eq!(run(0, "a lighthouse at dusk").await, lighthouse, "a repeat");
    // The prompt is the input: a counter starting at 0 for each new prompt is new work.
    let orchard = run(0, "an orchard in spring").await;
    assert_ne!(orchard, lighthouse);

    let mut pictures = Vec::new();
    for task in [&lighthouse, &orchard] {
        let result = poll!(client.text_to_image_check_status().task_id(task));
        let output = single_output(result.status.clone(), &result.results);
        let (image, format) = download(output.url.as_deref().expect("a url")).await;
        assert_eq!(format, ImageFormat::Jpeg);
        assert_eq!(image.dimensions(), (1024, 1024));
        pictures.push(image.to_rgb8());
    }
    assert_ne!(pictures[0], pictures[1], "each prompt has its own picture");
    assert_eq!(charged_tasks(&sandbox), [lighthouse, orchard]);
    assert_conforms(&sandbox);
}

// ---------------------------------------------------------------------------------------------
// Input checks

#[tokio::test(start_paused = true)]
async fn bad_inputs_are_refused_or_fail_without_charge() {
    let sandbox = start(unlimited()).await;
    let token = access_token(&sandbox).await;
    let client = client_with_token(&sandbox, &token);

    // A mask of another size: the task runs and ends in invalid_parameter.
    let photo = upload_input!(
        client.object_removal_create_file(),
        ImageContentType::ImagePng,
        sample_png(96, 64)
    );
    let small_mask = upload_input!(
        client.object_removal_create_file(),
        ImageContentType::ImagePng,
        mask_png(80, 64, (10, 10, 40, 40))
    );
    let broken_mask = upload_input!(
        client.object_removal_create_file(),
        ImageContentType::ImagePng,
        b"GIF89a but not really".to_vec()
    );
    let mut errors = Vec::new();
    for (request_id, mask) in [(0, &small_mask), (1, &broken_mask)] {
        let task = client
            .object_removal_run_task()
            .body(ObjectRemovalRunTaskRequest {
                request_id,
                payload: ObjectRemovalTaskPayload {
                    actions: [Action { id: 0 }],
                    file_sets: ObjectRemovalFileSet {
                        src_ids: vec![photo.clone().parse().unwrap()],
                        mask_ids: vec![mask.clone().parse().unwrap()],
                    },
                    output_ext: None,
                },
            })
            .send()
            .await
            .expect("object removal starts")
            .into_inner()
            .result
            .task_id;
        let result = poll!(client.object_removal_check_status().task_id(&task));
        assert_eq!(result.status, TaskStatus::Error);
        assert!(result.results.is_empty());
        errors.push(result.error);
    }
    assert_eq!(
        errors,
        [
            Some(EngineErrorCode::InvalidParameter),
            Some(EngineErrorCode::ErrorDecodeMask)
        ]
    );

    // Bytes that are not an image: the upload is accepted, the task fails to decode them.
    let not_an_image = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImagePng,
        b"these bytes are not a picture".to_vec()
    );
    let task = run_enhance(&client, 0, &not_an_image, 2).await;
    let result = poll!(client.enhance_check_status().task_id(&task));
    assert_eq!(result.status, TaskStatus::Error);
    assert_eq!(result.error, Some(EngineErrorCode::ErrorDecodeImage));

    // One byte over the documented size limit: uploaded fine, refused by the engine.
    let too_large = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImageJpeg,
        vec![0u8; 10_485_760]
    );
    let task = run_enhance(&client, 0, &too_large, 2).await;
    let result = poll!(client.enhance_check_status().task_id(&task));
    assert_eq!(result.status, TaskStatus::Error);
    assert_eq!(result.error, Some(EngineErrorCode::ExceedMaxFilesize));

    // Page sizes outside 1..=20.
    let code = refused(
        client
            .hair_style_list_styles()
            .page_size(21u32)
            .send()
            .await,
        400,
    );
    assert_eq!(code, "InvalidParameters");
    assert!(matches!(
        client.hair_style_list_styles().page_size(0u32).send().await,
        Err(Error::InvalidRequest(_))
    ));
    for query in [
        "page_size=0",
        "page_size=21",
        "page_size=-1",
        "page_size=ten",
    ] {
        let path = format!("/s2s/v1.0/task/style/hair-style?{query}");
        let code = refusal(get_raw(&sandbox, &token, &path).await, 400).await;
        assert_eq!(code, "InvalidParameters", "{query}");
        let path = format!("/s2s/v1.0/task/style-group/wig?{query}");
        refusal(get_raw(&sandbox, &token, &path).await, 400).await;
    }
    let code = refusal(
        get_raw(
            &sandbox,
            &token,
            "/s2s/v1.0/task/style/hair-style?starting_token=abc",
        )
        .await,
        400,
    )
    .await;
    assert_eq!(code, "InvalidParameters");

    // Run-task bodies the document does not allow.
    let image = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImagePng,
        sample_png(20, 20)
    );
    let enhance = |actions: Value| {
        json!({
            "request_id": 5,
            "payload": { "file_sets": { "src_ids": [image] }, "actions": actions },
        })
    };
    let bad_bodies = [
        enhance(
            json!([{ "id": 0, "params": { "scale": 2 } }, { "id": 1, "params": { "scale": 2 } }]),
        ),
        enhance(json!([{ "id": 0, "params": { "scale": 3 } }])),
        enhance(json!([])),
        enhance(json!([{ "id": 0 }])),
        json!({ "request_id": -1, "payload": { "file_sets": { "src_ids": [image] }, "actions": [{ "id": 0, "params": { "scale": 2 } }] } }),
        json!({ "payload": { "file_sets": { "src_ids": [image] }, "actions": [{ "id": 0, "params": { "scale": 2 } }] } }),
        json!({ "request_id": 5, "payload": { "file_sets": { "src_ids": [image] }, "actions": [{ "id": 0, "params": { "scale": 2 } }], "output_ext": "png" } }),
    ];
    let bad_bodies = bad_bodies.into_iter().chain(
        // Action ids are int32 from 0 up.
        [json!(-1), json!(1i64 << 32)]
            .map(|id| enhance(json!([{ "id": id, "params": { "scale": 2 } }]))),
    );
    for body in &bad_bodies.collect::<Vec<_>>() {
        let code = refusal(post_raw(&sandbox, &token, ENHANCE, body).await, 400).await;
        assert_eq!(code, "InvalidParameters", "{body}");
    }
    assert!(
        EnhanceParamsScale::try_from(3).is_err(),
        "the client refuses scale 3 too"
    );

    // A style that is not in the named group, and a makeup transfer without its reference.
    let groups = client
        .hair_style_list_style_groups()
        .send()
        .await
        .expect("groups")
        .into_inner()
        .result
        .groups;
    let other_group_style = client
        .hair_style_list_styles()
        .style_group_id(groups[1].id)
        .send()
        .await
        .expect("styles")
        .into_inner()
        .result
        .styles[0]
        .id;
    let hair = upload_input!(
        client.hair_style_create_file(),
        ImageContentType::ImageJpeg,
        sample_jpeg(60, 80)
    );
    let code = refused(
        client
            .hair_style_run_task()
            .body(StyleRunTaskRequest {
                request_id: 0,
                payload: StyleTaskPayload {
                    actions: [StyleAction {
                        id: 0,
                        params: StyleParams {
                            style_group_id: groups[0].id,
                            style_ids: [other_group_style],
                        },
                    }],
                    file_sets: SingleSourceFileSet {
                        src_ids: [hair.parse().unwrap()],
                    },
                    output_ext: None,
                },
            })
            .send()
            .await,
        400,
    );
    assert_eq!(code, "InvalidParameters");
    let selfie = client
        .makeup_transfer_create_file()
        .body(MakeupTransferCreateFileRequest {
            files: vec![MakeupTransferFileRequest {
                content_type: MakeupTransferContentType::ImagePng,
                file_name: "selfie.png".parse().unwrap(),
            }],
        })
        .send()
        .await
        .expect("the selfie registers")
        .into_inner()
        .result
        .files
        .remove(0);
    assert_eq!(put_upload(&selfie, sample_png(40, 40)).await, 200);
    let selfie = selfie.file_id;
    let no_reference = json!({
        "request_id": 0,
        "payload": { "file_sets": { "src_ids": [selfie] }, "actions": [{ "id": 0 }] },
    });
    refusal(
        post_raw(
            &sandbox,
            &token,
            "/s2s/v1.0/task/mu-trans-rec",
            &no_reference,
        )
        .await,
        400,
    )
    .await;
    let code = refused(
        client
            .hair_style_create_file()
            .body_map(|b| b.files(Vec::new()))
            .send()
            .await,
        400,
    );
    assert_eq!(code, "InvalidParameters");
    let gif = json!({ "files": [{ "content_type": "image/gif", "file_name": "a.gif" }] });
    refusal(
        post_raw(&sandbox, &token, "/s2s/v1.0/file/enhance", &gif).await,
        400,
    )
    .await;

    assert!(sandbox.charges().is_empty(), "{:?}", sandbox.charges());
    assert_eq!(
        sandbox.balance(PERFECT),
        sandbox.config().balances.perfect,
        "nothing was charged"
    );
    assert_conforms(&sandbox);
}

// ---------------------------------------------------------------------------------------------
// Idempotency and chaining

#[tokio::test(start_paused = true)]
async fn request_id_makes_run_task_idempotent() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let file = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImagePng,
        sample_png(32, 24)
    );
    let first = run_enhance(&client, 7, &file, 2).await;
    let again = run_enhance(&client, 7, &file, 2).await;
    assert_eq!(first, again, "the same body is the same task");

    // Concurrent duplicates race through rendering; all of them still get the one task.
    let racing = futures::future::join_all((0..6).map(|_| run_enhance(&client, 9, &file, 2))).await;
    assert!(racing.iter().all(|t| *t == racing[0]), "{racing:?}");
    assert_ne!(racing[0], first);

    for task in [&first, &racing[0]] {
        let result = poll!(client.enhance_check_status().task_id(task));
        single_output(result.status, &result.results);
    }
    let result = poll!(client.enhance_check_status().task_id(&first));
    assert_eq!(result.status, TaskStatus::Success, "polling again is fine");
    assert_eq!(
        run_enhance(&client, 7, &file, 2).await,
        first,
        "a finished task is still the answer to its request_id"
    );
    assert_eq!(charged_tasks(&sandbox), [first.clone(), racing[0].clone()]);

    // Another request_id, or the same one with another file, is new work.
    let other = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImagePng,
        sample_png(32, 24)
    );
    let next = run_enhance(&client, 8, &file, 2).await;
    let other_file = run_enhance(&client, 7, &other, 2).await;
    let distinct: HashSet<&String> = [&first, &racing[0], &next, &other_file]
        .into_iter()
        .collect();
    assert_eq!(distinct.len(), 4);
    for task in [&next, &other_file] {
        let result = poll!(client.enhance_check_status().task_id(task));
        assert_eq!(result.status, TaskStatus::Success);
    }
    assert_eq!(
        charged_tasks(&sandbox),
        [first, racing[0].clone(), next, other_file]
    );
    assert_eq!(
        sandbox.balance(PERFECT),
        sandbox.config().balances.perfect - 4 * sandbox.config().perfect_price
    );
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn a_result_dst_id_is_an_input_without_uploading() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let file = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImageJpeg,
        sample_jpeg(40, 30)
    );
    let enhanced = run_enhance(&client, 0, &file, 2).await;
    let result = poll!(client.enhance_check_status().task_id(&enhanced));
    let dst_id = single_output(result.status, &result.results)
        .dst_id
        .expect("a dst_id");

    let cut = client
        .background_removal_run_task()
        .body(BackgroundRemovalRunTaskRequest {
            request_id: 0,
            payload: BackgroundRemovalTaskPayload {
                actions: [Action { id: 0 }],
                file_sets: SourceFileSet {
                    src_ids: vec![dst_id.parse().unwrap()],
                },
                output_ext: None,
            },
        })
        .send()
        .await
        .expect("a dst_id is a valid input")
        .into_inner()
        .result
        .task_id;
    let result = poll!(client.background_removal_check_status().task_id(&cut));
    let output = single_output(result.status.clone(), &result.results);
    let (image, format) = download(output.url.as_deref().expect("a url")).await;
    assert_eq!(format, ImageFormat::Png);
    assert_eq!(
        image.dimensions(),
        (80, 60),
        "the enhanced size carried over"
    );
    assert_eq!(image.to_rgba8().get_pixel(0, 0)[3], 0);

    let uploads = sandbox
        .traffic()
        .iter()
        .filter(|e| e.method == "PUT" && e.path.starts_with("/_uploads/"))
        .count();
    assert_eq!(uploads, 1, "only the first input was uploaded");
    let registered: usize = ["enhance", "sod"]
        .iter()
        .map(|slug| sandbox.request_count(PERFECT, "POST", &format!("/s2s/v1.0/file/{slug}")))
        .sum();
    assert_eq!(registered, 1);
    assert_eq!(charged_tasks(&sandbox), [enhanced, cut]);
    assert_conforms(&sandbox);
}

/// Whether an id has every character that needs percent-encoding in a URL, as real ids do.
fn needs_encoding(id: &str) -> bool {
    id.contains('+') && id.contains('/') && id.contains('=')
}

#[tokio::test(start_paused = true)]
async fn ids_with_plus_slash_and_equals_round_trip() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let file = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImagePng,
        sample_png(20, 10)
    );
    assert!(needs_encoding(&file), "file id {file}");
    let task = run_enhance(&client, 0, &file, 2).await;
    assert!(needs_encoding(&task), "task id {task}");

    // The generated client percent-encodes the query value; the sandbox decodes it back.
    let result = poll!(client.enhance_check_status().task_id(&task));
    let dst_id = single_output(result.status, &result.results)
        .dst_id
        .expect("a dst_id");
    assert!(needs_encoding(&dst_id), "dst_id {dst_id}");
    assert_eq!(
        charged_tasks(&sandbox),
        [task.as_str()],
        "the exact id was charged"
    );

    // Sent without encoding, `+` reads as a space: the id is not this task's.
    let token = access_token(&sandbox).await;
    let path = "/s2s/v1.0/task/enhance";
    let code = refusal(
        get_raw(&sandbox, &token, &format!("{path}?task_id={task}")).await,
        400,
    )
    .await;
    assert_eq!(code, "InvalidParameters");
    let encoded = reqwest::Client::new()
        .get(url(&sandbox, path))
        .query(&[("task_id", &task)])
        .bearer_auth(&token)
        .send()
        .await
        .expect("the sandbox answers");
    assert_eq!(encoded.status(), 200);
    assert_conforms(&sandbox);
}

// ---------------------------------------------------------------------------------------------
// Lost tasks

#[tokio::test(start_paused = true)]
async fn a_task_not_polled_in_time_is_lost_and_free() {
    let sandbox = start(SandboxConfig {
        perfect_task_loss_after: Duration::from_millis(300),
        perfect_task_duration: Duration::from_secs(1),
        ..unlimited()
    })
    .await;
    let client = perfect(&sandbox).await;
    let file = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImagePng,
        sample_png(24, 24)
    );
    let abandoned = run_enhance(&client, 0, &file, 2).await;
    let kept = run_enhance(&client, 1, &file, 2).await;

    let keep_polling = async { poll!(client.enhance_check_status().task_id(&kept)) };
    let come_back_late = async {
        tokio::time::sleep(Duration::from_millis(450)).await;
        client
            .enhance_check_status()
            .task_id(&abandoned)
            .send()
            .await
            .expect("check_status answers")
            .into_inner()
            .result
    };
    let (kept_result, late) = tokio::join!(keep_polling, come_back_late);
    assert_eq!(late.status, TaskStatus::Error, "{late:?}");
    assert!(late.error.is_some());
    assert!(late.results.is_empty());
    single_output(kept_result.status, &kept_result.results);

    // Past its processing time the lost task stays lost.
    let later = client
        .enhance_check_status()
        .task_id(&abandoned)
        .send()
        .await
        .expect("check_status answers")
        .into_inner()
        .result;
    assert_eq!(later.status, TaskStatus::Error);
    assert_eq!(
        charged_tasks(&sandbox),
        [kept],
        "only the polled task is charged"
    );
    assert_eq!(sandbox.lost_tasks(), 1);
    assert_conforms(&sandbox);
}

// ---------------------------------------------------------------------------------------------
// Catalogues

async fn all_styles(client: &Client, group: Option<i64>, page_size: Option<u32>) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    let limit = page_size.unwrap_or(20) as usize;
    for _ in 0..100 {
        let mut call = client.hair_style_list_styles();
        if let Some(group) = group {
            call = call.style_group_id(group);
        }
        if let Some(size) = page_size {
            call = call.page_size(size);
        }
        if let Some(token) = next.take() {
            call = call.starting_token(token);
        }
        let page = call
            .send()
            .await
            .expect("a page of styles")
            .into_inner()
            .result;
        assert!(page.styles.len() <= limit);
        ids.extend(page.styles.iter().map(|s| s.id));
        match page.next_token {
            Some(token) => {
                assert_eq!(page.styles.len(), limit, "only the last page is short");
                next = Some(token);
            }
            None => return ids,
        }
    }
    panic!("paging never ended");
}

async fn all_groups(client: &Client, page_size: Option<u32>) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..100 {
        let mut call = client.hair_style_list_style_groups();
        if let Some(size) = page_size {
            call = call.page_size(size);
        }
        if let Some(token) = next.take() {
            call = call.starting_token(token);
        }
        let page = call
            .send()
            .await
            .expect("a page of groups")
            .into_inner()
            .result;
        assert!(page.groups.len() <= page_size.unwrap_or(20) as usize);
        assert!(
            page.groups
                .iter()
                .all(|g| g.info.as_ref().and_then(|i| i.title.as_ref()).is_some())
        );
        ids.extend(page.groups.iter().map(|g| g.id));
        match page.next_token {
            Some(token) => next = Some(token),
            None => return ids,
        }
    }
    panic!("paging never ended");
}

fn assert_catalogue_ids(ids: &[i64]) {
    let unique: HashSet<&i64> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no duplicates: {ids:?}");
    assert!(
        ids.iter().all(|id| *id > 1i64 << 53),
        "ids exceed 2^53: {ids:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn catalogues_page_with_next_token() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;

    let groups = all_groups(&client, None).await;
    assert!(groups.len() > 1);
    assert_catalogue_ids(&groups);
    assert_eq!(all_groups(&client, Some(7)).await, groups);
    assert_eq!(
        all_groups(&client, Some(1)).await,
        groups,
        "one group per page"
    );

    let mut every_group = Vec::new();
    for group in &groups {
        let whole = all_styles(&client, Some(*group), None).await;
        assert!(whole.len() > 20, "the catalogue needs more than one page");
        assert_catalogue_ids(&whole);
        assert_eq!(all_styles(&client, Some(*group), Some(7)).await, whole);
        assert_eq!(all_styles(&client, Some(*group), Some(20)).await, whole);
        every_group.extend(whole);
    }
    let unfiltered = all_styles(&client, None, Some(7)).await;
    assert_catalogue_ids(&unfiltered);
    assert_eq!(unfiltered, every_group, "all styles are the groups' styles");
    assert_eq!(all_styles(&client, None, None).await, every_group);

    // Thumbnails are served.
    let first = client
        .hair_style_list_styles()
        .page_size(1u32)
        .send()
        .await
        .expect("a style")
        .into_inner()
        .result
        .styles
        .remove(0);
    let thumb = first.info.and_then(|i| i.thumb).expect("a thumbnail URL");
    download(&thumb).await;

    let code = refused(
        client
            .hair_style_list_styles()
            .style_group_id(42i64)
            .send()
            .await,
        400,
    );
    assert_eq!(code, "InvalidParameters");
    let code = refused(
        client
            .wig_list_styles()
            .style_group_id(groups[0])
            .send()
            .await,
        400,
    );
    assert_eq!(
        code, "InvalidParameters",
        "a hair-style group is not a wig group"
    );
    assert_conforms(&sandbox);
}

// ---------------------------------------------------------------------------------------------
// Rate limits

fn five_a_minute() -> Option<RateLimit> {
    Some(RateLimit {
        max: 5,
        window: Duration::from_secs(60),
    })
}

#[tokio::test(start_paused = true)]
async fn the_token_limit_answers_429() {
    let sandbox = start(SandboxConfig {
        perfect_token_limit: five_a_minute(),
        ..unlimited()
    })
    .await;
    let client = client_with_token(&sandbox, &access_token(&sandbox).await);
    for n in 1..=5 {
        client
            .hair_style_list_style_groups()
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {n} is within the limit: {e:?}"));
    }
    let code = refused(client.hair_style_list_style_groups().send().await, 429);
    assert_eq!(code, "RateLimitExceeded");
    let code = refused(client.enhance_check_status().task_id("x").send().await, 429);
    assert_eq!(code, "RateLimitExceeded", "every operation counts");

    let fresh = client_with_token(&sandbox, &access_token(&sandbox).await);
    fresh
        .hair_style_list_style_groups()
        .send()
        .await
        .expect("another token has its own budget");
    assert_eq!(sandbox.rate_limited(), 2);
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn the_ip_limit_answers_429_even_to_auth() {
    let sandbox = start(SandboxConfig {
        perfect_ip_limit: five_a_minute(),
        ..unlimited()
    })
    .await;
    let client = client_with_token(&sandbox, &access_token(&sandbox).await);
    for n in 2..=5 {
        client
            .hair_style_list_style_groups()
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {n} is within the limit: {e:?}"));
    }
    let client_id = sandbox.credentials().perfect_client_id.clone();
    let code = refusal(
        auth_raw(&sandbox, &client_id, &valid_id_token(&sandbox)).await,
        429,
    )
    .await;
    assert_eq!(code, "RateLimitExceeded");
    let code = refused(client.hair_style_list_style_groups().send().await, 429);
    assert_eq!(code, "RateLimitExceeded");
    assert_eq!(sandbox.rate_limited(), 2);
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn rate_limits_can_be_turned_off() {
    let sandbox = start(unlimited()).await;
    let client = client_with_token(&sandbox, &access_token(&sandbox).await);
    for n in 0..150 {
        client
            .hair_style_list_style_groups()
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {n} is not limited: {e:?}"));
    }
    for _ in 0..3 {
        access_token(&sandbox).await;
    }
    assert_eq!(sandbox.rate_limited(), 0);
    assert_conforms(&sandbox);
}

// ---------------------------------------------------------------------------------------------
// Accounting

#[tokio::test(start_paused = true)]
async fn credits_are_charged_only_for_successes() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let file = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImagePng,
        sample_png(24, 24)
    );

    sandbox.set_balance(PERFECT, 0);
    let code = refused(
        client
            .enhance_run_task()
            .body(enhance_request(0, &file, 2))
            .send()
            .await,
        402,
    );
    assert_eq!(code, "InsufficientCredits");
    assert!(sandbox.charges().is_empty());
    assert_eq!(sandbox.balance(PERFECT), 0);

    sandbox.set_balance(PERFECT, 10);
    sandbox.fail_next_jobs(JobFailure {
        provider: PERFECT,
        code: "error_no_face".into(),
        times: 1,
    });
    let failing = run_enhance(&client, 0, &file, 2).await;
    let result = poll!(client.enhance_check_status().task_id(&failing));
    assert_eq!(result.status, TaskStatus::Error);
    assert_eq!(result.error, Some(EngineErrorCode::ErrorNoFace));
    assert!(result.results.is_empty());
    assert!(sandbox.charges().is_empty());
    assert_eq!(sandbox.balance(PERFECT), 10);

    // The failure was used up: the next task succeeds and is charged.
    let working = run_enhance(&client, 1, &file, 2).await;
    let result = poll!(client.enhance_check_status().task_id(&working));
    assert_eq!(result.status, TaskStatus::Success);
    assert_eq!(charged_tasks(&sandbox), std::slice::from_ref(&working));
    assert_eq!(
        sandbox.balance(PERFECT),
        10 - sandbox.config().perfect_price
    );

    // Credits that run out while a task runs: it fails and costs nothing.
    let starved = run_enhance(&client, 2, &file, 2).await;
    sandbox.set_balance(PERFECT, 0);
    let result = poll!(client.enhance_check_status().task_id(&starved));
    assert_eq!(result.status, TaskStatus::Error);
    assert_eq!(charged_tasks(&sandbox), [working]);
    assert_eq!(sandbox.balance(PERFECT), 0);
    assert_conforms(&sandbox);
}

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test(start_paused = true)]
async fn a_retry_after_a_dropped_answer_returns_the_same_task() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let file = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImagePng,
        sample_png(24, 24)
    );
    sandbox.inject(FaultRule::new(PERFECT, ENHANCE, Fault::DropAfterProcessing).method("POST"));
    let dropped = client
        .enhance_run_task()
        .body(enhance_request(3, &file, 2))
        .send()
        .await
        .expect_err("the connection is dropped");
    assert!(
        matches!(dropped, Error::CommunicationError(_)),
        "{dropped:?}"
    );

    // Any new task would take this failure; the retry must not start one.
    sandbox.fail_next_jobs(JobFailure {
        provider: PERFECT,
        code: "error_inference".into(),
        times: 1,
    });
    let task = run_enhance(&client, 3, &file, 2).await;
    assert_eq!(sandbox.request_count(PERFECT, "POST", ENHANCE), 2);
    let result = poll!(client.enhance_check_status().task_id(&task));
    single_output(result.status, &result.results);
    assert_eq!(charged_tasks(&sandbox), std::slice::from_ref(&task));

    let fresh = run_enhance(&client, 4, &file, 2).await;
    let result = poll!(client.enhance_check_status().task_id(&fresh));
    assert_eq!(result.error, Some(EngineErrorCode::ErrorInference));
    assert_eq!(charged_tasks(&sandbox), [task], "charged once in all");
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn injected_error_answers_use_perfects_error_body() {
    let sandbox = start(unlimited()).await;
    let client = perfect(&sandbox).await;
    let file = upload_input!(
        client.enhance_create_file(),
        ImageContentType::ImagePng,
        sample_png(24, 24)
    );
    let task = run_enhance(&client, 0, &file, 2).await;
    sandbox.inject(FaultRule::new(PERFECT, ENHANCE, Fault::Status(503)).method("GET"));
    let code = refused(
        client.enhance_check_status().task_id(&task).send().await,
        503,
    );
    assert_eq!(code, "ServiceUnavailable");
    sandbox.inject(FaultRule::new(
        PERFECT,
        ENHANCE,
        Fault::TooManyRequests {
            retry_after_secs: 2,
        },
    ));
    let answer = reqwest::Client::new()
        .get(url(&sandbox, &format!("{ENHANCE}?task_id={task}")))
        .send()
        .await
        .expect("answers");
    assert_eq!(answer.headers()["retry-after"], "2");
    assert_eq!(refusal(answer, 429).await, "RateLimitExceeded");

    let result = poll!(client.enhance_check_status().task_id(&task));
    single_output(result.status, &result.results);
    assert_eq!(charged_tasks(&sandbox), [task]);
    assert_conforms(&sandbox);
}

// ---------------------------------------------------------------------------------------------
// Empty strings and nulls

#[tokio::test(start_paused = true)]
async fn empty_strings_and_nulls_are_refused_by_name() {
    let sandbox = start(unlimited()).await;
    let token = access_token(&sandbox).await;
    let client_id = sandbox.credentials().perfect_client_id.clone();
    let auth = json!({ "client_id": client_id, "id_token": valid_id_token(&sandbox) });
    let create = serde_json::to_value(CreateFileRequest {
        files: vec![FileRequest {
            content_type: ImageContentType::ImagePng,
            file_name: "a.png".parse().unwrap(),
        }],
    })
    .unwrap();
    let run = serde_json::to_value(enhance_request(0, "an-id", 2)).unwrap();
    // Sets the field at a JSON pointer, adding it when the body leaves it out.
    let with = |body: &Value, at: &str, value: Value| {
        let mut body = body.clone();
        let (parent, key) = at.rsplit_once('/').expect("a pointer");
        match body.pointer_mut(parent).expect("the parent exists") {
            Value::Object(fields) => {
                fields.insert(key.to_string(), value);
            }
            Value::Array(items) => items[key.parse::<usize>().expect("an index")] = value,
            other => panic!("{other} holds no field"),
        }
        body
    };
    let auth_path = "/s2s/v1.0/client/auth";
    let file_path = "/s2s/v1.0/file/enhance";
    let task_path = "/s2s/v1.0/task/enhance";
    let cases = [
        (
            auth_path,
            with(&auth, "/client_id", json!("")),
            "`client_id` must not be empty",
        ),
        (
            auth_path,
            with(&auth, "/id_token", Value::Null),
            "`id_token` must not be null",
        ),
        (
            file_path,
            with(&create, "/files/0/file_name", json!("")),
            "`files[0].file_name` must not be empty",
        ),
        (
            file_path,
            with(&create, "/files/0/content_type", Value::Null),
            "`files[0].content_type` must not be null",
        ),
        (
            task_path,
            with(&run, "/payload/file_sets/src_ids/0", json!("")),
            "`payload.file_sets.src_ids[0]` must not be empty",
        ),
        // Optional in the spec, yet not nullable.
        (
            task_path,
            with(&run, "/payload/output_ext", Value::Null),
            "`payload.output_ext` must not be null",
        ),
    ];
    for (path, body, expected) in cases {
        let response = post_raw(&sandbox, &token, path, &body).await;
        assert_eq!(response.status(), 400, "{path}");
        let answer: Value = response.json().await.expect("JSON");
        assert_eq!(error_code_of(&answer, 400), "InvalidParameters", "{path}");
        assert_eq!(answer["error"], expected, "{path}");
    }
    assert!(sandbox.charges().is_empty());
    assert_conforms(&sandbox);
}
