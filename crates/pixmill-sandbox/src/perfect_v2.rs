//! Perfect Corp V2 ("YouCam AI API V2"), served beside the older API under the same base URL,
//! as on the real server (`/s2s/v2.0/...` next to `/s2s/v1.0/...`).
//!
//! Everything per feature comes from the generated feature table of `specs/perfect-v2.yaml`:
//! the routes (each operation's own path), the input slots and their URL alternatives, the
//! settings, the documented input limits, the template catalogues and the prices. What the
//! engine does to an image is emulation ([`effect`]).
//!
//! Where the V2 documents are silent, the sandbox decides:
//!
//! - the API key is [`crate::Credentials::perfect_api_key`]; a missing or other key answers
//!   401 `InvalidApiKey`;
//! - tasks run for [`crate::SandboxConfig::perfect_task_duration`], answer no
//!   `polling_interval`, and a task not polled for
//!   [`crate::SandboxConfig::perfect_task_loss_after`] (the older API's documented window) is
//!   lost: it answers 400 `InvalidTaskId` from then on and costs nothing;
//! - units come from the shared Perfect balance, at each feature's documented price
//!   (`x-cost`), when a successful task is first polled; a run the balance cannot pay for
//!   answers 400 `CreditInsufficiency`;
//! - `src_file_url` and its siblings are fetched when the task runs: the sandbox's own files
//!   directly, loopback URLs over HTTP (any host with
//!   [`crate::SandboxConfig::allow_remote_fetch`]), without following redirects; a failed fetch
//!   ends the task with `error_download_image` (`error_download_mask` for a mask);
//! - a slot after the first of a feature that takes a template (the V2.1 hairstyle's reference
//!   photo) stands in for the template: exactly one of the two is required; every other slot is
//!   required;
//! - engine checks (documented formats, sizes, sides, mask size) end the task in `error` with
//!   the documented engine code, as a file id whose bytes were never uploaded does
//!   (`unknown_internal_error`); injected job failures ([`crate::Sandbox::fail_next_jobs`] for
//!   [`crate::Provider::Perfect`]) apply to V2 tasks too, with their code sent as given;
//! - results are JPEG, cut-outs PNG; colorize gives two variants; every catalogue holds more
//!   templates than two of the largest pages;
//! - `credit_balance` and `credit_history` take the older API's access token, as documented.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, Request, State as AxumState};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, on, post};
use base64::Engine as _;
use bytes::Bytes;
use pixmill_perfect_v2_api::constants::{create_file_request, file_request, parameters};
use pixmill_perfect_v2_api::features::Feature;
// The routes of the V2 operations that are not per feature.
use pixmill_perfect_v2_api::service::{
    ROUTES, create_file::PATH as CREATE_FILE, delete_task::PATH as DELETE_TASK,
    feature_cost::PATH as FEATURE_COST,
};
use pixmill_perfect_v2_api::types::{
    CreateFileRequest, CreditType, DeleteTaskRequest, EngineErrorCode, ErrorCode, SkuUnit,
    TaskStatus,
};
use pixmill_spec::features::{Catalogue, FeatureFacts, FileSlot};
use rand::Rng as _;
use serde_json::{Map, Value, json};

use crate::errors::json_status;
use crate::imaging::{self, DynamicImage, ImageFormat};
use crate::perfect::{ESTIMATED_AGE, GREY, SERIES_AGES};
use crate::provider::Provider;
use crate::shared::{Shared, lock, method_filter};

/// Templates in every catalogue: more than two of the largest pages, so paging is exercised.
const TEMPLATES_PER_CATALOGUE: usize = 45;
const TEMPLATE_CATEGORIES: &[&str] = &["Female", "Male", "Unisex"];
/// Long side of a template text-to-image result (the document's 1024 pixels).
const TEXT_TO_IMAGE_SIDE: u32 = 1024;
/// Pixels of an image-to-image result without a size (about 1024 × 1024).
const IMAGE_TO_IMAGE_PIXELS: f64 = 1024.0 * 1024.0;

/// What the sandbox's engine does for a feature. Emulation, not a spec fact; a feature added
/// to the spec later gets its first image back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Hair,
    Aging,
    Makeup,
    ObjectRemoval,
    Colorize,
    BackgroundRemoval,
    Enhance,
    TextToImage,
    FreeTextToImage,
    ImageToImage,
    Echo,
}

fn effect(feature: Feature) -> Effect {
    match feature {
        Feature::HairStyle
        | Feature::HairTransfer
        | Feature::HairRestyle
        | Feature::HairExtension
        | Feature::HairBang
        | Feature::HairVolume => Effect::Hair,
        Feature::Aging => Effect::Aging,
        Feature::MakeupTransfer => Effect::Makeup,
        Feature::ObjectRemoval => Effect::ObjectRemoval,
        Feature::Colorize => Effect::Colorize,
        Feature::BackgroundRemoval => Effect::BackgroundRemoval,
        Feature::Enhance => Effect::Enhance,
        Feature::TextToImage => Effect::TextToImage,
        Feature::YoucamTextToImage => Effect::FreeTextToImage,
        Feature::YoucamImageToImage => Effect::ImageToImage,
        _ => Effect::Echo,
    }
}

/// A registered file: the key of its upload slot in the blob store.
#[derive(Clone, Debug)]
struct StoredFile {
    key: String,
}

/// One input of a task, as the run request named it.
#[derive(Clone, Debug)]
enum InputRef {
    /// The blob key of a registered file.
    Key(String),
    /// A URL to fetch.
    Url(String),
}

#[derive(Clone, Debug)]
struct ResultImage {
    key: String,
    url: String,
    res_age: Option<u32>,
}

#[derive(Clone, Debug)]
struct Success {
    images: Vec<ResultImage>,
    /// Aging's estimate, the selfie's place in the series.
    aging: Option<(u32, usize)>,
}

#[derive(Clone, Debug)]
struct Task {
    feature: Feature,
    ready_at: Instant,
    last_polled: Instant,
    outcome: Result<Success, String>,
    charged: bool,
    lost: bool,
}

/// V2's state: registered files and tasks.
#[derive(Debug, Default)]
pub(crate) struct State {
    files: HashMap<String, StoredFile>,
    tasks: HashMap<String, Task>,
    next: u64,
    pub(crate) lost_tasks: usize,
}

impl State {
    /// A fresh id shaped like Perfect's: base64 with `+`, `/` and a `=` pad, so clients must
    /// percent-encode it in paths.
    fn new_id(&mut self) -> String {
        self.next += 1;
        let mut raw = vec![0xfb, 0xff, 0xbf];
        raw.extend_from_slice(&self.next.to_be_bytes());
        let mut noise = [0u8; 36];
        rand::thread_rng().fill(&mut noise[..]);
        raw.extend_from_slice(&noise);
        base64::engine::general_purpose::STANDARD.encode(raw)
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let mut router = Router::new()
        .route(CREATE_FILE, post(create_file))
        .route(DELETE_TASK, post(delete_task))
        .route(FEATURE_COST, get(feature_cost));
    for &feature in Feature::ALL {
        for op in feature.facts().operations {
            router = match op.role {
                "run_task" => router.route(
                    op.path,
                    on(
                        method_filter(op.method),
                        move |state: AxumState<Arc<Shared>>, body: Bytes| {
                            run_task(state, feature, body)
                        },
                    ),
                ),
                "check_status" => router.route(
                    op.path,
                    on(
                        method_filter(op.method),
                        move |state: AxumState<Arc<Shared>>, id: Path<String>| {
                            check_status(state, feature, id)
                        },
                    ),
                ),
                "list_templates" => router.route(
                    op.path,
                    on(
                        method_filter(op.method),
                        move |state: AxumState<Arc<Shared>>,
                              query: Query<HashMap<String, String>>| {
                            list_templates(state, feature, query)
                        },
                    ),
                ),
                _ => router,
            };
        }
    }
    router.route_layer(middleware::from_fn_with_state(shared, guard))
}

/// The error body of every V2 operation: `{status, error, error_code}`.
fn error(status: u16, code: ErrorCode, message: &str) -> Response {
    json_status(
        status,
        json!({ "status": status, "error": message, "error_code": code.to_string() }),
    )
}

/// Whether a request for `method` and `path` is one of the V2 spec's operations.
pub(crate) fn serves(method: &str, path: &str) -> bool {
    ROUTES.iter().any(|route| route.matches(method, path))
}

/// A V2 error answer for any status: the documented code where one fits the status; none
/// otherwise, as the documents name no code for rate limits or server failures.
pub(crate) fn error_for_status(status: u16, message: &str) -> Response {
    let code = match status {
        400 => Some(ErrorCode::InvalidParameters),
        401 => Some(ErrorCode::InvalidApiKey),
        _ => None,
    };
    let mut body = json!({ "status": status, "error": message });
    if let Some(code) = code {
        body["error_code"] = json!(code.to_string());
    }
    json_status(status, body)
}

fn invalid(message: impl AsRef<str>) -> Response {
    error(400, ErrorCode::InvalidParameters, message.as_ref())
}

fn ok(data: Value) -> Response {
    json_status(200, json!({ "status": 200, "data": data }))
}

/// The API key as bearer token.
async fn guard(
    AxumState(shared): AxumState<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let key = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match key {
        None => error(401, ErrorCode::InvalidApiKey, "missing API key"),
        Some(key) if key != shared.credentials.perfect_api_key => {
            error(401, ErrorCode::InvalidApiKey, "unknown API key")
        }
        Some(_) => next.run(request).await,
    }
}

async fn create_file(AxumState(shared): AxumState<Arc<Shared>>, bytes: Bytes) -> Response {
    let request: CreateFileRequest = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(e) => return invalid(format!("not a file request: {e}")),
    };
    if request.files.len() < create_file_request::FILES_MIN_ITEMS {
        return invalid("`files` must not be empty");
    }
    let mut answered = Vec::new();
    let mut state = lock(&shared.perfect_v2);
    for (index, file) in request.files.iter().enumerate() {
        if !(0..=file_request::FILE_SIZE_MAXIMUM).contains(&file.file_size) {
            return invalid(format!(
                "files[{index}]: `file_size` must be from 0 to {}",
                file_request::FILE_SIZE_MAXIMUM
            ));
        }
        let content_type = file.content_type.as_str().to_string();
        if !(content_type.starts_with("image/") || content_type.starts_with("video/")) {
            return invalid(format!(
                "files[{index}]: `content_type` {content_type} is not an image or video type"
            ));
        }
        let file_id = state.new_id();
        let key = format!("perfect-v2-file-{}", state.next);
        // The V2 documents do not say how long an upload slot lasts: as long as in the older
        // API, whose files live on the same storage.
        let url = shared.presign(
            &key,
            &content_type,
            pixmill_perfect_api::service::RETENTION.uploads,
        );
        state.files.insert(file_id.clone(), StoredFile { key });
        answered.push(json!({
            "content_type": content_type,
            "file_name": file.file_name.as_str(),
            "file_id": file_id,
            "requests": [{
                "url": url,
                "method": "PUT",
                "headers": {
                    "Content-Type": content_type,
                    "Content-Length": file.file_size.to_string(),
                },
            }],
        }));
    }
    ok(json!({ "files": answered }))
}

/// The ids or URLs a request gives a slot: `field` holds one value for a one-file slot, a
/// list otherwise.
fn slot_values(body: &Map<String, Value>, field: &str) -> Result<Vec<String>, String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) if !text.is_empty() => Ok(vec![text.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .filter(|text| !text.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{field}` must hold non-empty strings"))
            })
            .collect(),
        Some(_) => Err(format!("`{field}` must not be empty")),
    }
}

/// Whether `slot` may be left out because a template stands in for it.
fn replaced_by_template(facts: &FeatureFacts, slot: &FileSlot) -> bool {
    facts.params.contains(&"template_id")
        && facts
            .inputs
            .first()
            .is_some_and(|first| first.name != slot.name)
}

/// A validated run request: its inputs per slot, and its settings.
struct RunRequest {
    inputs: Vec<(&'static str, Vec<InputRef>)>,
    body: Map<String, Value>,
    template: Option<usize>,
}

fn parse_run(shared: &Shared, feature: Feature, bytes: &[u8]) -> Result<RunRequest, String> {
    let facts = feature.facts();
    let body = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(body)) => body,
        Ok(_) => return Err("the request body must be a JSON object".into()),
        Err(e) => return Err(format!("the request body is not valid JSON: {e}")),
    };
    feature.check_run_task_body(&Value::Object(body.clone()))?;
    let template = match body.get("template_id").and_then(Value::as_str) {
        None => None,
        Some(id) => {
            Some(template_index(feature, id).ok_or_else(|| format!("unknown template_id `{id}`"))?)
        }
    };
    let state = lock(&shared.perfect_v2);
    let mut inputs = Vec::new();
    for slot in facts.inputs {
        let ids = slot_values(&body, slot.id_field)?;
        let urls = match slot.url_field {
            Some(field) => slot_values(&body, field)?,
            None => Vec::new(),
        };
        let url_field = slot.url_field.unwrap_or_default();
        if !ids.is_empty() && !urls.is_empty() {
            return Err(format!(
                "give `{}` or `{url_field}`, not both",
                slot.id_field
            ));
        }
        let given = ids.len() + urls.len();
        let optional = replaced_by_template(facts, slot);
        if optional && template.is_some() && given > 0 {
            return Err(format!(
                "give exactly one of `template_id`, `{}` and `{url_field}`",
                slot.id_field
            ));
        }
        let needed = !optional || template.is_none();
        let fewest = if needed { slot.min.max(1) } else { 0 };
        if given < fewest || slot.max.is_some_and(|max| given > max) {
            return Err(format!(
                "`{}` or `{url_field}` takes {fewest} to {} files, not {given}",
                slot.id_field,
                slot.max.map_or("any number of".into(), |m| m.to_string()),
            ));
        }
        let mut refs = Vec::with_capacity(given);
        for id in ids {
            match state.files.get(&id) {
                Some(file) => refs.push(InputRef::Key(file.key.clone())),
                None => return Err(format!("unknown file id {id}")),
            }
        }
        refs.extend(urls.into_iter().map(InputRef::Url));
        inputs.push((slot.name, refs));
    }
    Ok(RunRequest {
        inputs,
        body,
        template,
    })
}

/// The documented price of one result of `feature`, in whole units.
fn price(feature: Feature) -> i64 {
    feature
        .facts()
        .costs
        .first()
        .map_or(1, |cost| cost.units.ceil() as i64)
}

async fn run_task(
    AxumState(shared): AxumState<Arc<Shared>>,
    feature: Feature,
    bytes: Bytes,
) -> Response {
    let request = match parse_run(&shared, feature, &bytes) {
        Ok(request) => request,
        Err(message) => return invalid(message),
    };
    if lock(&shared.ledger).balance(Provider::Perfect) < price(feature) {
        return error(
            400,
            ErrorCode::CreditInsufficiency,
            "not enough units to run this task",
        );
    }
    let task_id = lock(&shared.perfect_v2).new_id();
    let injected = lock(&shared.faults).take_job_failure(Provider::Perfect);
    let outcome = match injected {
        Some(code) => Err(code),
        None => {
            let mut images = Vec::new();
            let mut failure = None;
            for (slot, refs) in &request.inputs {
                for input in refs {
                    match load(&shared, input).await {
                        Some(bytes) => images.push((*slot, bytes)),
                        None => {
                            let code = match input {
                                InputRef::Url(_) if *slot == "msk" => {
                                    EngineErrorCode::ErrorDownloadMask
                                }
                                InputRef::Url(_) => EngineErrorCode::ErrorDownloadImage,
                                InputRef::Key(_) => EngineErrorCode::UnknownInternalError,
                            };
                            failure.get_or_insert(code.to_string());
                        }
                    }
                }
            }
            match failure {
                Some(code) => Err(code),
                None => {
                    let shared = shared.clone();
                    let task_id = task_id.clone();
                    tokio::task::spawn_blocking(move || {
                        process(&shared, feature, &request, &images, &task_id)
                    })
                    .await
                    .unwrap_or_else(|_| Err(EngineErrorCode::UnknownInternalError.to_string()))
                }
            }
        }
    };
    let now = Instant::now();
    lock(&shared.perfect_v2).tasks.insert(
        task_id.clone(),
        Task {
            feature,
            ready_at: now + shared.config.perfect_task_duration,
            last_polled: now,
            outcome,
            charged: false,
            lost: false,
        },
    );
    ok(json!({ "task_id": task_id }))
}

/// The bytes of an input: an uploaded file, or a fetched URL. `None` when there are none.
async fn load(shared: &Shared, input: &InputRef) -> Option<Bytes> {
    match input {
        InputRef::Key(key) => shared.object(key).map(|blob| blob.bytes),
        InputRef::Url(url) => fetch(shared, url).await,
    }
}

async fn fetch(shared: &Shared, url: &str) -> Option<Bytes> {
    for route in ["/_files/", "/_uploads/"] {
        if let Some(key) = url.strip_prefix(&format!("{}{route}", shared.origin)) {
            return shared.object(key).map(|blob| blob.bytes);
        }
    }
    let parsed = reqwest::Url::parse(url).ok()?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !loopback && !shared.config.allow_remote_fetch {
        return None;
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()?;
    let response = http.get(parsed).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.bytes().await.ok()
}

/// Checks the inputs the way the engine would and renders the results.
fn process(
    shared: &Shared,
    feature: Feature,
    request: &RunRequest,
    images: &[(&'static str, Bytes)],
    task_id: &str,
) -> Result<Success, String> {
    let facts = feature.facts();
    let limits = facts.limits.first();
    let code = |code: EngineErrorCode| code.to_string();
    let decode = |slot: &str, bytes: &Bytes| -> Result<DynamicImage, String> {
        if let Some(max) = limits.and_then(|l| l.max_bytes)
            && bytes.len() as u64 > max
        {
            return Err(code(EngineErrorCode::ExceedMaxFilesize));
        }
        let undecodable = if slot == "msk" {
            EngineErrorCode::ErrorDecodeMask
        } else {
            EngineErrorCode::ErrorDecodeImage
        };
        let (image, format) = imaging::decode(bytes).map_err(|_| code(undecodable))?;
        if let Some(limits) = limits {
            let (long, short) = (
                image.width().max(image.height()),
                image.width().min(image.height()),
            );
            if !limits.accepts_format(imaging::extension(format)) && slot != "msk" {
                return Err(code(EngineErrorCode::InvalidParameter));
            }
            if limits.max_long_side.is_some_and(|max| long > max) {
                return Err(code(EngineErrorCode::ErrorExceedMaxImageSize));
            }
            if limits.min_short_side.is_some_and(|min| short < min) {
                return Err(code(EngineErrorCode::ErrorBelowMinImageSize));
            }
        }
        Ok(image)
    };
    let mut decoded: Vec<(&str, DynamicImage)> = Vec::with_capacity(images.len());
    for (slot, bytes) in images {
        decoded.push((*slot, decode(slot, bytes)?));
    }
    let first = |name: &str| {
        decoded
            .iter()
            .find(|(slot, _)| *slot == name)
            .map(|(_, i)| i)
    };
    let text = |name: &str| request.body.get(name).and_then(Value::as_str).unwrap_or("");
    let number = |name: &str| request.body.get(name).and_then(Value::as_u64);
    let template = request.template.unwrap_or_default() as i64;
    let mut rendered: Vec<(DynamicImage, Option<u32>)> = Vec::new();
    let mut aging = None;
    let source = first("src");
    match (effect(feature), source) {
        (Effect::TextToImage, _) => {
            let (w, h) = (number("width_ratio"), number("height_ratio"));
            let (width, height) = match (w, h) {
                (Some(w), Some(h)) if w > 0 && h > 0 && w >= h => (
                    TEXT_TO_IMAGE_SIDE,
                    (TEXT_TO_IMAGE_SIDE as u64 * h / w) as u32,
                ),
                (Some(w), Some(h)) if w > 0 && h > 0 => (
                    (TEXT_TO_IMAGE_SIDE as u64 * w / h) as u32,
                    TEXT_TO_IMAGE_SIDE,
                ),
                _ => (TEXT_TO_IMAGE_SIDE, TEXT_TO_IMAGE_SIDE),
            };
            let image = imaging::text_to_image(text("prompt"), template, width, height);
            rendered.push((image, None));
        }
        (Effect::FreeTextToImage, _) => {
            let size = request
                .body
                .get("size")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    pixmill_perfect_v2_api::constants::youcam_text_to_image_size::DEFAULT.into()
                });
            let (width, height) =
                parse_size(&size).ok_or_else(|| code(EngineErrorCode::InvalidParameter))?;
            rendered.push((
                imaging::text_to_image(text("prompt"), 0, width, height),
                None,
            ));
        }
        (_, None) => return Err(code(EngineErrorCode::InvalidParameter)),
        (Effect::Hair, Some(image)) => {
            // The template (or the reference photo's shape), read as a colour, tints the
            // picture: each style looks different.
            let style = match first("ref") {
                Some(reference) => i64::from(reference.width() ^ reference.height()),
                None => template,
            };
            let [r, g, b, ..] = style.to_le_bytes();
            rendered.push((imaging::tint(image, [r, g, b], 0.3), None));
        }
        (Effect::Aging, Some(image)) => {
            let index = SERIES_AGES
                .iter()
                .position(|age| *age == ESTIMATED_AGE)
                .unwrap_or_default();
            aging = Some((ESTIMATED_AGE, index));
            // Older photos fade further towards grey.
            rendered.extend(
                SERIES_AGES
                    .iter()
                    .map(|&age| (imaging::tint(image, GREY, age as f32 / 100.0), Some(age))),
            );
        }
        (Effect::Makeup, Some(image)) => {
            let reference = first("ref").ok_or_else(|| code(EngineErrorCode::InvalidParameter))?;
            rendered.push((imaging::tint(image, dominant(reference), 0.5), None));
        }
        (Effect::ObjectRemoval, Some(image)) => {
            let mask = first("msk").ok_or_else(|| code(EngineErrorCode::InvalidParameter))?;
            if (mask.width(), mask.height()) != (image.width(), image.height()) {
                return Err(code(EngineErrorCode::InvalidParameter));
            }
            rendered.push((imaging::remove_object(image, &mask.to_luma8()), None));
        }
        (Effect::Colorize, Some(image)) => {
            let warm = imaging::colorize(image);
            let mut cool = warm.clone();
            for pixel in cool.pixels_mut() {
                pixel.0.swap(0, 2);
            }
            rendered.push((DynamicImage::ImageRgb8(warm), None));
            rendered.push((DynamicImage::ImageRgb8(cool), None));
        }
        (Effect::BackgroundRemoval, Some(image)) => {
            let (cutout, _) = imaging::remove_background(image);
            rendered.push((DynamicImage::ImageRgba8(cutout), None));
        }
        (Effect::Enhance, Some(image)) => {
            let scale = number("scale")
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(1);
            rendered.push((imaging::scale(image, scale), None));
        }
        (Effect::ImageToImage, Some(_)) => {
            let inputs: Vec<DynamicImage> = decoded
                .iter()
                .filter(|(slot, _)| *slot == "src")
                .map(|(_, image)| image.clone())
                .collect();
            let last = inputs
                .last()
                .ok_or_else(|| code(EngineErrorCode::InvalidParameter))?;
            let (width, height) = match request.body.get("size").and_then(Value::as_str) {
                Some(size) => {
                    parse_size(size).ok_or_else(|| code(EngineErrorCode::InvalidParameter))?
                }
                None => {
                    let ratio = f64::from(last.width().max(1)) / f64::from(last.height().max(1));
                    let height = (IMAGE_TO_IMAGE_PIXELS / ratio).sqrt();
                    (round16(height * ratio), round16(height))
                }
            };
            // The first input takes on the main colour of the last.
            let styled = imaging::tint(&inputs[0], dominant(last), 0.5);
            let resized = styled.resize_exact(width, height, image::imageops::FilterType::Triangle);
            rendered.push((resized, None));
        }
        (Effect::Echo, Some(image)) => rendered.push((image.clone(), None)),
    }
    let mut results = Vec::with_capacity(rendered.len());
    for (index, (image, res_age)) in rendered.iter().enumerate() {
        let format = if image.color().has_alpha() {
            ImageFormat::Png
        } else {
            ImageFormat::Jpeg
        };
        let bytes =
            imaging::encode(image, format).map_err(|_| code(EngineErrorCode::ErrorUpload))?;
        let serial = task_serial(task_id);
        let key = format!("perfect-v2-result-{serial}-{index}");
        let url = shared.publish(&key, bytes, imaging::mime(format));
        results.push(ResultImage {
            key,
            url,
            res_age: *res_age,
        });
    }
    Ok(Success {
        images: results,
        aging,
    })
}

/// A path-safe name for a task's result files.
fn task_serial(task_id: &str) -> String {
    task_id
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(char::from)
        .collect()
}

/// `W*H` in pixels, each side within what the sandbox renders.
fn parse_size(size: &str) -> Option<(u32, u32)> {
    let (width, height) = size.split_once('*')?;
    let (width, height) = (
        width.trim().parse::<u32>().ok()?,
        height.trim().parse::<u32>().ok()?,
    );
    let fits = |side: u32| (1..=imaging::MAX_GENERATED_SIDE).contains(&side);
    (fits(width) && fits(height)).then_some((width, height))
}

/// `value` rounded to a multiple of 16, within what the sandbox renders.
fn round16(value: f64) -> u32 {
    ((value / 16.0).round() as u32)
        .max(1)
        .saturating_mul(16)
        .min(imaging::MAX_GENERATED_SIDE)
}

async fn check_status(
    AxumState(shared): AxumState<Arc<Shared>>,
    feature: Feature,
    Path(task_id): Path<String>,
) -> Response {
    let unknown = || {
        error(
            400,
            ErrorCode::InvalidTaskId,
            "no such task, or it expired without being polled",
        )
    };
    let now = Instant::now();
    let loss_after = shared.config.perfect_task_loss_after;
    let mut state = lock(&shared.perfect_v2);
    let Some(task) = state
        .tasks
        .get_mut(&task_id)
        .filter(|task| task.feature == feature)
    else {
        return unknown();
    };
    if task.lost {
        return unknown();
    }
    let finished_before_leaving = task.ready_at <= task.last_polled + loss_after;
    if now.duration_since(task.last_polled) > loss_after && !finished_before_leaving {
        // The client stopped polling for too long: the task expired, nothing is charged.
        task.lost = true;
        state.lost_tasks += 1;
        return unknown();
    }
    task.last_polled = now;
    if now < task.ready_at {
        return ok(json!({ "task_status": TaskStatus::Running.to_string() }));
    }
    // Injected codes go out verbatim, so that a test can play a code the spec does not list
    // yet; the sandbox's own failures are all documented ones.
    let failed = |code: &str| {
        ok(json!({
            "task_status": TaskStatus::Error.to_string(),
            "error": code,
            "error_message": format!("the engine failed with {code}"),
        }))
    };
    let success = match task.outcome.clone() {
        Err(code) => return failed(&code),
        Ok(success) => success,
    };
    if !task.charged {
        // Units are taken when the result exists, and only once.
        let charged = lock(&shared.ledger).charge(
            Provider::Perfect,
            &format!("{}_run_task", feature.name()),
            Some(&task_id),
            price(feature),
        );
        if charged.is_none() {
            let code = EngineErrorCode::UnknownInternalError.to_string();
            task.outcome = Err(code.clone());
            return failed(&code);
        }
        task.charged = true;
    }
    let urls: Vec<Value> = success
        .images
        .iter()
        .map(|image| {
            let mut entry = json!({ "url": image.url });
            if let Some(age) = image.res_age {
                entry["res_age"] = json!(age);
            }
            entry
        })
        .collect();
    let results = match effect(feature) {
        Effect::Colorize => json!({ "output": urls }),
        Effect::Aging => {
            let ages: Vec<u32> = success.images.iter().filter_map(|i| i.res_age).collect();
            let (estimate, index) = success.aging.unwrap_or_default();
            json!({
                "output": urls,
                "age": estimate,
                "agd_idx": index,
                "age_min": ages.iter().min().copied().unwrap_or(estimate),
                "age_max": ages.iter().max().copied().unwrap_or(estimate),
                "num_of_photos": ages.len(),
            })
        }
        _ => urls.into_iter().next().unwrap_or_else(|| json!({})),
    };
    ok(json!({ "task_status": TaskStatus::Success.to_string(), "results": results }))
}

async fn delete_task(AxumState(shared): AxumState<Arc<Shared>>, bytes: Bytes) -> Response {
    let request: DeleteTaskRequest = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(e) => return invalid(format!("`task_id` is required: {e}")),
    };
    let task_id = request.task_id.as_str().to_string();
    let mut state = lock(&shared.perfect_v2);
    let Some(task) = state.tasks.get(&task_id) else {
        if state.files.contains_key(&task_id) {
            return error(
                400,
                ErrorCode::OperationNotSupport,
                "this is a file id, not a task id",
            );
        }
        return error(400, ErrorCode::InvalidTaskId, "no such task");
    };
    if !task.lost && Instant::now() < task.ready_at {
        return error(
            400,
            ErrorCode::OperationInvalid,
            "the task is still running",
        );
    }
    if let Some(task) = state.tasks.remove(&task_id)
        && let Ok(success) = task.outcome
    {
        let mut blobs = lock(&shared.blobs);
        for image in success.images {
            blobs.objects.remove(&image.key);
        }
    }
    json_status(200, json!({ "status": 200 }))
}

/// The template ids of a feature's catalogue.
fn template_id(feature: Feature, index: usize) -> String {
    format!("{}_{:03}", feature.name(), index + 1)
}

fn template_index(feature: Feature, id: &str) -> Option<usize> {
    if feature.facts().catalogue != Some(Catalogue::Templates) {
        return None;
    }
    (0..TEMPLATES_PER_CATALOGUE).find(|index| template_id(feature, *index) == id)
}

/// Reads `page_size` (within `minimum..=maximum`, `default` when absent) and `starting_token`
/// (an offset this sandbox issued).
fn page(
    query: &HashMap<String, String>,
    (minimum, maximum, default): (i64, i64, i64),
) -> Result<(usize, usize), String> {
    let size = match query.get("page_size") {
        None => default,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (minimum..=maximum).contains(&n) => n,
            _ => return Err(format!("`page_size` must be from {minimum} to {maximum}")),
        },
    };
    let start = match query.get("starting_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| "`starting_token` is not a token this endpoint issued".to_string())?,
    };
    Ok((usize::try_from(size).unwrap_or(1), start))
}

/// One page of `items` and the token of the next, if any.
fn slice(items: Vec<Value>, size: usize, start: usize) -> (Vec<Value>, Option<String>) {
    let end = start.saturating_add(size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    let page = items
        .into_iter()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect();
    (page, next)
}

const PAGE: (i64, i64, i64) = (
    parameters::PAGE_SIZE_MINIMUM,
    parameters::PAGE_SIZE_MAXIMUM,
    parameters::PAGE_SIZE_DEFAULT,
);

async fn list_templates(
    AxumState(shared): AxumState<Arc<Shared>>,
    feature: Feature,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (size, start) = match page(&query, PAGE) {
        Ok(page) => page,
        Err(message) => return invalid(message),
    };
    let keeps_color = feature == Feature::HairRestyle;
    let templates = (0..TEMPLATES_PER_CATALOGUE)
        .map(|index| {
            let category = TEMPLATE_CATEGORIES[index % TEMPLATE_CATEGORIES.len()];
            let mut template = json!({
                "id": template_id(feature, index),
                "title": format!("{} {}", feature.facts().title, index + 1),
                "category_name": category,
                "thumb": format!("{}/_thumbs/{}.jpg", shared.origin, index + 1),
            });
            if keeps_color {
                template["keep_users_color"] = json!(index % 2 == 0);
            }
            template
        })
        .collect();
    let (templates, next) = slice(templates, size, start);
    let mut data = json!({ "templates": templates });
    if let Some(next) = next {
        data["next_token"] = json!(next);
    }
    ok(data)
}

async fn feature_cost(
    AxumState(shared): AxumState<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (size, start) = match page(&query, PAGE) {
        Ok(page) => page,
        Err(message) => return invalid(message),
    };
    let base = format!("{}{}", shared.origin, Provider::Perfect.prefix());
    let skus = Feature::ALL
        .iter()
        .filter_map(|feature| {
            let facts = feature.facts();
            let cost = facts.costs.first()?;
            let run = facts.operation("run_task")?;
            Some(json!({
                "description": facts.title,
                "amount": cost.units,
                "unit": SkuUnit::ResultImage.to_string(),
                "proc_unit": 1,
                "run_task_url": format!("{base}{}", run.path),
            }))
        })
        .collect();
    let (skus, next) = slice(skus, size, start);
    json_status(
        200,
        json!({ "status": 200, "result": { "skus": skus, "next_token": next } }),
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// `credit_balance`: the shared Perfect balance as one pay-as-you-go batch. Routed by the older
/// API's router, behind its access-token check.
pub(crate) async fn credit_balance(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    let balance = lock(&shared.ledger).balance(Provider::Perfect);
    json_status(
        200,
        json!({
            "status": 200,
            "results": [{
                "id": 1,
                "type": CreditType::ApiPaygToken.to_string(),
                "amount": balance,
                "amount_dec": balance as f64,
                "expiry": now_ms() + 365 * 24 * 3_600_000,
            }],
        }),
    )
}

/// `credit_history`: every Perfect charge, newest first. Routed like [`credit_balance`].
pub(crate) async fn credit_history(
    AxumState(shared): AxumState<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let bounds = (
        parameters::HISTORY_PAGE_SIZE_MINIMUM,
        parameters::HISTORY_PAGE_SIZE_MAXIMUM,
        parameters::HISTORY_PAGE_SIZE_DEFAULT,
    );
    let (size, start) = match page(&query, bounds) {
        Ok(page) => page,
        Err(message) => return invalid(message),
    };
    let charges = lock(&shared.ledger).charges();
    let history = charges
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, charge)| charge.provider == Provider::Perfect)
        .map(|(index, charge)| {
            let mut entry = json!({
                "id": index + 1,
                "info": { "credits": [{
                    "id": 1,
                    "amount": -charge.amount,
                    "amount_dec": -(charge.amount as f64),
                }] },
            });
            if let Some(reference) = &charge.reference {
                entry["target_id"] = json!(reference);
            }
            entry
        })
        .collect();
    let (history, next) = slice(history, size, start);
    let mut result = json!({ "history": history });
    if let Some(next) = next {
        result["next_token"] = json!(next);
    }
    json_status(200, json!({ "status": 200, "result": result }))
}

/// The main colour of a picture.
fn dominant(image: &DynamicImage) -> [u8; 3] {
    imaging::dominant_colors(image, 1)
        .first()
        .copied()
        .unwrap_or(GREY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_need_percent_encoding_and_never_repeat() {
        let mut state = State::default();
        let first = state.new_id();
        let second = state.new_id();
        assert_ne!(first, second);
        for id in [&first, &second] {
            assert!(
                id.contains('+') && id.contains('/') && id.ends_with('='),
                "{id}"
            );
        }
    }

    #[test]
    fn every_catalogue_spans_more_than_two_pages() {
        let largest = usize::try_from(parameters::PAGE_SIZE_MAXIMUM).unwrap();
        assert!(TEMPLATES_PER_CATALOGUE > 2 * largest);
        for &feature in Feature::ALL {
            let has = feature.facts().catalogue == Some(Catalogue::Templates);
            assert_eq!(
                template_index(feature, &template_id(feature, 0)).is_some(),
                has
            );
        }
        let items: Vec<Value> = (0..5).map(|n| json!(n)).collect();
        assert_eq!(slice(items.clone(), 2, 4), (vec![json!(4)], None));
        assert_eq!(slice(items, 2, 0).1.as_deref(), Some("2"));
    }

    #[test]
    fn only_a_template_feature_lets_a_later_slot_stand_in_for_it() {
        let restyle = Feature::HairRestyle.facts();
        let optional: Vec<&str> = restyle
            .inputs
            .iter()
            .filter(|slot| replaced_by_template(restyle, slot))
            .map(|slot| slot.name)
            .collect();
        assert_eq!(optional, ["ref"]);
        let makeup = Feature::MakeupTransfer.facts();
        assert!(
            !makeup
                .inputs
                .iter()
                .any(|slot| replaced_by_template(makeup, slot))
        );
    }

    #[test]
    fn sizes_parse_within_bounds() {
        assert_eq!(parse_size("1024*1536"), Some((1024, 1536)));
        assert_eq!(parse_size("0*10"), None);
        assert_eq!(parse_size("wide"), None);
        assert_eq!(round16(1033.0), 1040);
        assert_eq!(round16(f64::MAX), imaging::MAX_GENERATED_SIDE);
    }
}
