//! Perfect Corp: RSA `id_token` exchange for expiring bearer tokens, presigned uploads, async
//! tasks that are lost when not polled, `request_id` idempotency, style catalogues, credits
//! charged only on success, and the two documented rate limits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, Query, Request, State as AxumState};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine as _;
use bytes::Bytes;
use pixmill_perfect_api::limits;
use pixmill_perfect_api::types::{EngineErrorCode, ImageContentType, MakeupTransferContentType};
use pixmill_spec::InputLimits;
use rand::Rng as _;
use serde_json::{Value, json};

use crate::body::{self, Object};
use crate::config::SandboxConfig;
use crate::errors::json_status;
use crate::imaging::{self, DynamicImage, ImageFormat};
use crate::provider::Provider;
use crate::ratelimit::Windows;
use crate::server::Peer;
use crate::shared::{Shared, lock};

/// What a feature's engine does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Hair,
    Aging,
    Makeup,
    ObjectRemoval,
    Colorize,
    BackgroundRemoval,
    Enhance,
    TextToImage,
}

/// One feature of the document, by its path slug.
#[derive(Clone, Copy, Debug)]
struct Feature {
    slug: &'static str,
    /// Operation name prefix, as in the spec's operation ids.
    name: &'static str,
    kind: Kind,
    limits: &'static [InputLimits],
    output_exts: &'static [&'static str],
    /// Whether `src_ids` takes exactly one file.
    single_source: bool,
}

const FEATURES: &[Feature] = &[
    Feature {
        slug: "hair-style",
        name: "hair_style",
        kind: Kind::Hair,
        limits: limits::HAIR_STYLE_CREATE_FILE,
        output_exts: &["jpg"],
        single_source: true,
    },
    Feature {
        slug: "wig",
        name: "wig",
        kind: Kind::Hair,
        limits: limits::WIG_CREATE_FILE,
        output_exts: &["jpg"],
        single_source: true,
    },
    Feature {
        slug: "hair-ext",
        name: "hair_extension",
        kind: Kind::Hair,
        limits: limits::HAIR_EXTENSION_CREATE_FILE,
        output_exts: &["jpg"],
        single_source: false,
    },
    Feature {
        slug: "hair-bang",
        name: "hair_bang",
        kind: Kind::Hair,
        limits: limits::HAIR_BANG_CREATE_FILE,
        output_exts: &["jpg"],
        single_source: false,
    },
    Feature {
        slug: "hair-vol",
        name: "hair_volume",
        kind: Kind::Hair,
        limits: limits::HAIR_VOLUME_CREATE_FILE,
        output_exts: &["jpg"],
        single_source: false,
    },
    Feature {
        slug: "aging",
        name: "aging",
        kind: Kind::Aging,
        limits: limits::AGING_CREATE_FILE,
        output_exts: &["jpg"],
        single_source: true,
    },
    Feature {
        slug: "mu-trans-rec",
        name: "makeup_transfer",
        kind: Kind::Makeup,
        limits: limits::MAKEUP_TRANSFER_CREATE_FILE,
        output_exts: &["jpg"],
        single_source: true,
    },
    Feature {
        slug: "obj-removal",
        name: "object_removal",
        kind: Kind::ObjectRemoval,
        limits: limits::OBJECT_REMOVAL_CREATE_FILE,
        output_exts: &["jpg", "webp"],
        single_source: false,
    },
    Feature {
        slug: "colorize",
        name: "colorize",
        kind: Kind::Colorize,
        limits: limits::COLORIZE_CREATE_FILE,
        output_exts: &["jpg", "webp"],
        single_source: false,
    },
    Feature {
        slug: "sod",
        name: "background_removal",
        kind: Kind::BackgroundRemoval,
        limits: limits::BACKGROUND_REMOVAL_CREATE_FILE,
        output_exts: &["png", "webp"],
        single_source: false,
    },
    Feature {
        slug: "enhance",
        name: "enhance",
        kind: Kind::Enhance,
        limits: limits::ENHANCE_CREATE_FILE,
        output_exts: &["jpg", "webp"],
        single_source: false,
    },
    Feature {
        slug: "text-to-image",
        name: "text_to_image",
        kind: Kind::TextToImage,
        limits: &[],
        output_exts: &["jpg"],
        single_source: false,
    },
];

fn feature(slug: &str) -> Option<&'static Feature> {
    FEATURES.iter().find(|f| f.slug == slug)
}

/// Features with style catalogues.
fn has_styles(feature: &Feature) -> bool {
    matches!(feature.kind, Kind::Hair | Kind::TextToImage)
}

/// First id of the catalogues: style ids exceed 2^53, as in the document.
const CATALOGUE_BASE: i64 = 18_213_963_761_051_864;
const GROUP_TITLES: &[&str] = &["Short", "Medium", "Long"];
/// More styles per group than the largest page, so paging is exercised.
const STYLES_PER_GROUP: i64 = 23;

fn group_id(feature_index: usize, group: usize) -> i64 {
    CATALOGUE_BASE + feature_index as i64 * 1_000_000 + group as i64 * 1_000
}

/// A file the client declared: an upload slot or a task result.
#[derive(Clone, Debug)]
struct StoredFile {
    /// Key of its object in the blob store.
    key: String,
}

#[derive(Clone, Debug)]
struct ResultFile {
    dst_id: String,
    url: String,
    res_age: Option<u32>,
}

#[derive(Clone, Debug)]
struct Success {
    action_id: i64,
    files: Vec<ResultFile>,
    custom_info: Option<Value>,
}

#[derive(Clone, Debug)]
struct Task {
    feature: &'static str,
    ready_at: Instant,
    last_polled: Instant,
    outcome: Result<Success, String>,
    charged: bool,
    lost: bool,
}

/// Perfect's state: tokens, files, tasks, idempotency keys and rate windows.
#[derive(Debug)]
pub(crate) struct State {
    tokens: HashMap<String, Instant>,
    files: HashMap<String, StoredFile>,
    tasks: HashMap<String, Task>,
    by_request: HashMap<String, String>,
    token_windows: Option<Windows<String>>,
    ip_windows: Option<Windows<IpAddr>>,
    pub(crate) lost_tasks: usize,
    pub(crate) rate_limited: usize,
}

impl State {
    pub(crate) fn new(config: &SandboxConfig) -> State {
        State {
            tokens: HashMap::new(),
            files: HashMap::new(),
            tasks: HashMap::new(),
            by_request: HashMap::new(),
            token_windows: config.perfect_token_limit.map(Windows::new),
            ip_windows: config.perfect_ip_limit.map(Windows::new),
            lost_tasks: 0,
            rate_limited: 0,
        }
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/s2s/v1.0/client/auth", post(auth))
        .route("/s2s/v1.0/file/{slug}", post(create_file))
        .route("/s2s/v1.0/task/{slug}", post(run_task).get(check_status))
        .route("/s2s/v1.0/task/style-group/{slug}", get(list_style_groups))
        .route("/s2s/v1.0/task/style/{slug}", get(list_styles))
        .route_layer(middleware::from_fn_with_state(shared, guard))
        .fallback(|| async { error(404, "NotFound", "no such endpoint") })
}

/// Perfect's error body: `{status, error, error_code}`.
pub(crate) fn error(status: u16, code: &str, message: &str) -> Response {
    json_status(
        status,
        json!({ "status": status, "error": message, "error_code": code }),
    )
}

fn ok(result: Value) -> Response {
    json_status(200, json!({ "status": 200, "result": result }))
}

fn invalid(message: impl AsRef<str>) -> Response {
    error(400, "InvalidParameters", message.as_ref())
}

fn rate_limited(wait: Duration) -> Response {
    error(
        429,
        "RateLimitExceeded",
        &format!(
            "Too many requests; the window reopens in {} s",
            wait.as_secs().max(1)
        ),
    )
}

/// Rate limits (per IP always, per token once authenticated) and token checks.
async fn guard(
    AxumState(shared): AxumState<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let now = Instant::now();
    let ip = request
        .extensions()
        .get::<Peer>()
        .map(|peer| peer.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let is_auth = request.uri().path().ends_with("/client/auth");
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    {
        let mut state = lock(&shared.perfect);
        if let Some(windows) = state.ip_windows.as_mut()
            && let Err(wait) = windows.admit(&ip, now)
        {
            state.rate_limited += 1;
            return rate_limited(wait);
        }
        if !is_auth {
            let Some(token) = token else {
                return error(401, "InvalidAccessToken", "missing bearer access token");
            };
            match state.tokens.get(&token) {
                None => return error(401, "InvalidAccessToken", "unknown access token"),
                Some(expires) if *expires <= now => {
                    return error(401, "InvalidAccessToken", "the access token has expired");
                }
                Some(_) => {}
            }
            if let Some(windows) = state.token_windows.as_mut()
                && let Err(wait) = windows.admit(&token, now)
            {
                state.rate_limited += 1;
                return rate_limited(wait);
            }
        }
    }
    next.run(request).await
}

async fn auth(AxumState(shared): AxumState<Arc<Shared>>, bytes: Bytes) -> Response {
    let request = body::object(&bytes).and_then(|o| {
        Ok((
            body::required_string(&o, "client_id")?,
            body::required_string(&o, "id_token")?,
        ))
    });
    let (client_id, id_token) = match request {
        Ok(request) => request,
        Err(message) => return invalid(message),
    };
    if client_id != shared.credentials.perfect_client_id {
        return error(401, "InvalidClientId", "unknown client_id");
    }
    let plain = match decrypt_id_token(&shared.perfect_key, &id_token) {
        Some(plain) => plain,
        None => {
            return error(
                401,
                "InvalidIdToken",
                "id_token does not decrypt with this client's key",
            );
        }
    };
    let mut claimed_id = None;
    let mut timestamp = None;
    for pair in plain.split('&') {
        match pair.split_once('=') {
            Some(("client_id", value)) => claimed_id = Some(value.to_string()),
            Some(("timestamp", value)) => timestamp = value.parse::<u128>().ok(),
            _ => {}
        }
    }
    if claimed_id.as_deref() != Some(client_id.as_str()) {
        return error(401, "InvalidIdToken", "id_token names another client_id");
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let skew = shared.config.perfect_id_token_skew.as_millis();
    match timestamp {
        Some(ms) if ms.abs_diff(now_ms) <= skew => {}
        Some(_) => return error(401, "InvalidIdToken", "id_token timestamp is not recent"),
        None => {
            return error(
                401,
                "InvalidIdToken",
                "id_token has no millisecond timestamp",
            );
        }
    }
    let bytes: [u8; 24] = rand::thread_rng().r#gen();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    lock(&shared.perfect).tokens.insert(
        token.clone(),
        Instant::now() + shared.config.perfect_token_ttl,
    );
    ok(json!({ "access_token": token }))
}

fn decrypt_id_token(key: &rsa::RsaPrivateKey, id_token: &str) -> Option<String> {
    let cipher = base64::engine::general_purpose::STANDARD
        .decode(id_token.trim())
        .ok()?;
    let plain = key.decrypt(rsa::Pkcs1v15Encrypt, &cipher).ok()?;
    String::from_utf8(plain).ok()
}

fn accepted_content_type(feature: &Feature, content_type: &str) -> bool {
    let value = Value::String(content_type.to_string());
    if feature.kind == Kind::Makeup {
        serde_json::from_value::<MakeupTransferContentType>(value).is_ok()
    } else {
        serde_json::from_value::<ImageContentType>(value).is_ok()
    }
}

async fn create_file(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(slug): Path<String>,
    bytes: Bytes,
) -> Response {
    let Some(feature) = feature(&slug).filter(|f| f.kind != Kind::TextToImage) else {
        return error(404, "NotFound", "no such feature");
    };
    let files = match body::object(&bytes).and_then(|o| {
        body::array(&o, "files")?
            .cloned()
            .ok_or_else(|| "`files` is required".to_string())
    }) {
        Ok(files) if !files.is_empty() => files,
        Ok(_) => return invalid("`files` must not be empty"),
        Err(message) => return invalid(message),
    };
    let mut answered = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let Some(file) = file.as_object() else {
            return invalid(format!("files[{index}] must be an object"));
        };
        let (content_type, file_name) = match (
            body::required_string(file, "content_type"),
            body::required_string(file, "file_name"),
        ) {
            (Ok(ct), Ok(name)) => (ct, name),
            (Err(message), _) | (_, Err(message)) => {
                return invalid(format!("files[{index}]: {message}"));
            }
        };
        if !accepted_content_type(feature, &content_type) {
            return invalid(format!(
                "files[{index}]: content_type {content_type} is not accepted by {}",
                feature.slug
            ));
        }
        let file_id = shared.new_id("pf");
        let key = format!("perfect-{file_id}");
        // Uploaded files are kept for a day, as the document says.
        let url = shared.presign(
            &key,
            &content_type,
            Instant::now() + Duration::from_secs(86_400),
        );
        lock(&shared.perfect)
            .files
            .insert(file_id.clone(), StoredFile { key });
        answered.push(json!({
            "content_type": content_type,
            "file_name": file_name,
            "file_id": file_id,
            "requests": [{
                "url": url,
                "method": "PUT",
                "headers": { "Content-Type": content_type },
            }],
        }));
    }
    ok(json!({ "files": answered }))
}

/// A validated run-task request.
#[derive(Debug, Clone)]
struct RunTask {
    request_id: i64,
    sources: Vec<String>,
    references: Vec<String>,
    masks: Vec<String>,
    action_id: i64,
    style: Option<(i64, i64)>,
    prompt: Option<String>,
    scale: u32,
    output_ext: &'static str,
}

fn id_list(object: Option<&Object>, name: &str) -> Result<Vec<String>, String> {
    match object {
        Some(object) => Ok(body::string_list(object, name)?.unwrap_or_default()),
        None => Ok(Vec::new()),
    }
}

fn parse_run_task(feature: &Feature, bytes: &[u8]) -> Result<RunTask, String> {
    let o = body::object(bytes)?;
    let request_id = body::required_integer(&o, "request_id")?;
    if request_id < 0 {
        return Err("`request_id` must not be negative".into());
    }
    let payload = o
        .get("payload")
        .and_then(Value::as_object)
        .ok_or("`payload` is required")?;
    let file_sets = payload.get("file_sets").and_then(Value::as_object);
    let sources = id_list(file_sets, "src_ids")?;
    let references = id_list(file_sets, "ref_ids")?;
    let masks = id_list(file_sets, "mask_ids")?;
    if feature.kind == Kind::TextToImage {
        if !sources.is_empty() {
            return Err("text to image takes no source file".into());
        }
    } else if sources.is_empty() {
        return Err("`payload.file_sets.src_ids` is required".into());
    } else if feature.single_source && sources.len() != 1 {
        return Err(format!("{} takes exactly one source file", feature.slug));
    }
    if feature.kind == Kind::Makeup && references.len() != 1 {
        return Err("makeup transfer takes exactly one reference file in `ref_ids`".into());
    }
    if feature.kind == Kind::ObjectRemoval && masks.len() != sources.len() {
        return Err("object removal takes one mask in `mask_ids` per source file".into());
    }
    let actions = body::array(payload, "actions")?.ok_or("`payload.actions` is required")?;
    let [action] = actions.as_slice() else {
        return Err("`payload.actions` takes exactly one action".into());
    };
    let action = action.as_object().ok_or("an action must be an object")?;
    let action_id = body::required_integer(action, "id")?;
    // The status answer echoes the id as an int32 `id`; an id the spec does not allow
    // (negative or beyond int32) would make that answer unreadable to typed clients.
    if !(0..=i64::from(i32::MAX)).contains(&action_id) {
        return Err("the action `id` must be between 0 and 2147483647".into());
    }
    let params = action.get("params").and_then(Value::as_object);
    let mut style = None;
    let mut prompt = None;
    let mut scale = 1;
    match feature.kind {
        Kind::Hair | Kind::TextToImage => {
            let params = params.ok_or("the action needs `params`")?;
            let group = body::required_integer(params, "style_group_id")?;
            let ids = body::array(params, "style_ids")?.ok_or("`style_ids` is required")?;
            let [id] = ids.as_slice() else {
                return Err("`style_ids` takes exactly one style".into());
            };
            let id = id.as_i64().ok_or("`style_ids` must hold integers")?;
            style = Some((group, id));
            if feature.kind == Kind::TextToImage {
                prompt = Some(body::required_string(params, "prompt")?);
            }
        }
        Kind::Enhance => {
            let params = params.ok_or("the action needs `params`")?;
            scale = match body::required_integer(params, "scale")? {
                1 => 1,
                2 => 2,
                4 => 4,
                _ => return Err("`scale` must be 1, 2 or 4".into()),
            };
        }
        _ => {}
    }
    let output_ext = match body::string(payload, "output_ext")? {
        None => feature.output_exts[0],
        Some(ext) => feature
            .output_exts
            .iter()
            .copied()
            .find(|allowed| *allowed == ext)
            .ok_or_else(|| format!("`output_ext` must be one of {:?}", feature.output_exts))?,
    };
    Ok(RunTask {
        request_id,
        sources,
        references,
        masks,
        action_id,
        style,
        prompt,
        scale,
        output_ext,
    })
}

/// Whether a style belongs to the feature's catalogue, and to the group named with it.
fn style_exists(feature: &Feature, group: i64, style: i64) -> bool {
    let Some(index) = FEATURES.iter().position(|f| f.slug == feature.slug) else {
        return false;
    };
    (0..GROUP_TITLES.len()).any(|g| {
        let base = group_id(index, g);
        base == group && style > base && style <= base + STYLES_PER_GROUP
    })
}

async fn run_task(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(slug): Path<String>,
    bytes: Bytes,
) -> Response {
    let Some(feature) = feature(&slug) else {
        return error(404, "NotFound", "no such feature");
    };
    let request = match parse_run_task(feature, &bytes) {
        Ok(request) => request,
        Err(message) => return invalid(message),
    };
    if let Some((group, style)) = request.style
        && !style_exists(feature, group, style)
    {
        return invalid(format!("style {style} is not in style group {group}"));
    }
    // Text to image takes no file: its prompt is the input a repeated `request_id` must match.
    let idempotency_key = format!(
        "{}|{}|{}|{}|{}|{}",
        feature.slug,
        request.request_id,
        request.sources.join(","),
        request.references.join(","),
        request.masks.join(","),
        request.prompt.as_deref().unwrap_or_default()
    );
    // Resolve inputs and replay a repeated request under the same lock.
    let inputs = {
        let state = lock(&shared.perfect);
        if let Some(task_id) = state.by_request.get(&idempotency_key) {
            return ok(json!({ "task_id": task_id }));
        }
        let mut keys = Vec::new();
        for id in request
            .sources
            .iter()
            .chain(&request.references)
            .chain(&request.masks)
        {
            match state.files.get(id) {
                Some(file) => keys.push(file.key.clone()),
                None => return invalid(format!("unknown file id {id}")),
            }
        }
        keys
    };
    let mut files = Vec::new();
    for key in &inputs {
        match shared.object(key) {
            Some(blob) => files.push(blob.bytes),
            None => return invalid("a file was declared but never uploaded"),
        }
    }
    if lock(&shared.ledger).balance(Provider::Perfect) < shared.config.perfect_price {
        return error(
            402,
            "InsufficientCredits",
            "not enough credits to run this task",
        );
    }
    let injected = lock(&shared.faults).take_job_failure(Provider::Perfect);
    let task_id = shared.new_id("pt");
    let outcome = match injected {
        Some(code) => Err(code),
        None => {
            let request = request.clone();
            let shared_for_work = shared.clone();
            let task_id = task_id.clone();
            tokio::task::spawn_blocking(move || {
                process(&shared_for_work, feature, &request, &files, &task_id)
            })
            .await
            .unwrap_or_else(|_| Err("unknown_internal_error".to_string()))
        }
    };
    let now = Instant::now();
    let task = Task {
        feature: feature.slug,
        ready_at: now + shared.config.perfect_task_duration,
        last_polled: now,
        outcome,
        charged: false,
        lost: false,
    };
    let mut state = lock(&shared.perfect);
    // Another request with the same key may have won the race while this one rendered.
    if let Some(existing) = state.by_request.get(&idempotency_key) {
        return ok(json!({ "task_id": existing }));
    }
    state.by_request.insert(idempotency_key, task_id.clone());
    state.tasks.insert(task_id.clone(), task);
    ok(json!({ "task_id": task_id }))
}

/// Checks the inputs the way the engine would and renders the result files.
fn process(
    shared: &Shared,
    feature: &Feature,
    request: &RunTask,
    files: &[Bytes],
    task_id: &str,
) -> Result<Success, String> {
    let set = feature.limits.first();
    let decode = |bytes: &Bytes, what: &str| -> Result<DynamicImage, String> {
        if let Some(max) = set.and_then(|s| s.max_bytes)
            && bytes.len() as u64 > max
        {
            return Err("exceed_max_filesize".into());
        }
        let (image, format) = imaging::decode(bytes).map_err(|_| format!("error_decode_{what}"))?;
        if let Some(set) = set {
            if !set.accepts_format(imaging::extension(format)) {
                return Err("invalid_parameter".into());
            }
            if let Some(max) = set.max_long_side
                && image.width().max(image.height()) > max
            {
                return Err("invalid_parameter".into());
            }
        }
        Ok(image)
    };
    let sources = request.sources.len();
    let references = request.references.len();
    let source = files.first().map(|f| decode(f, "image")).transpose()?;
    let output = |image: &DynamicImage| -> Result<(Vec<u8>, ImageFormat), String> {
        let format = match request.output_ext {
            "png" => ImageFormat::Png,
            "webp" => ImageFormat::WebP,
            _ => ImageFormat::Jpeg,
        };
        imaging::encode(image, format)
            .map(|bytes| (bytes, format))
            .map_err(|_| "error_upload".to_string())
    };
    let mut rendered: Vec<(DynamicImage, Option<u32>)> = Vec::new();
    let mut custom_info = None;
    match (feature.kind, source) {
        (Kind::TextToImage, _) => {
            let (_, style) = request.style.unwrap_or_default();
            let prompt = request.prompt.clone().unwrap_or_default();
            rendered.push((imaging::text_to_image(&prompt, style, 1024, 1024), None));
        }
        (_, None) => return Err("invalid_parameter".into()),
        (Kind::Hair, Some(image)) => {
            let (_, style) = request.style.unwrap_or_default();
            rendered.push((imaging::restyle_hair(&image, style), None));
        }
        (Kind::Aging, Some(image)) => {
            let (estimate, series) = imaging::age_series(&image);
            let ages: Vec<u32> = series.iter().map(|(age, _)| *age).collect();
            custom_info = Some(json!({
                "age": estimate,
                "age_idx": ages.iter().position(|a| *a == estimate).unwrap_or(0),
                "age_min": ages.iter().min().copied().unwrap_or(estimate),
                "age_max": ages.iter().max().copied().unwrap_or(estimate),
                "num_of_photos": ages.len(),
            }));
            rendered.extend(series.into_iter().map(|(age, image)| (image, Some(age))));
        }
        (Kind::Makeup, Some(image)) => {
            let reference = decode(&files[sources], "image")?;
            rendered.push((imaging::transfer_makeup(&image, &reference), None));
        }
        (Kind::ObjectRemoval, Some(image)) => {
            let mask = decode(&files[sources + references], "mask")?;
            if mask.width() != image.width() || mask.height() != image.height() {
                return Err("invalid_parameter".into());
            }
            rendered.push((imaging::remove_object(&image, &mask.to_luma8()), None));
        }
        (Kind::Colorize, Some(image)) => {
            rendered.push((DynamicImage::ImageRgb8(imaging::colorize(&image)), None));
        }
        (Kind::BackgroundRemoval, Some(image)) => {
            let (cutout, _) = imaging::remove_background(&image);
            rendered.push((DynamicImage::ImageRgba8(cutout), None));
        }
        (Kind::Enhance, Some(image)) => {
            rendered.push((imaging::scale(&image, request.scale), None));
        }
    }
    let mut results = Vec::new();
    for (index, (image, res_age)) in rendered.iter().enumerate() {
        let (bytes, format) = output(image)?;
        let dst_id = format!("{task_id}r{index}");
        let key = format!("perfect-{dst_id}");
        let url = shared.publish(&key, bytes, imaging::mime(format));
        lock(&shared.perfect)
            .files
            .insert(dst_id.clone(), StoredFile { key });
        results.push(ResultFile {
            dst_id,
            url,
            res_age: *res_age,
        });
    }
    Ok(Success {
        action_id: request.action_id,
        files: results,
        custom_info,
    })
}

async fn check_status(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if feature(&slug).is_none() {
        return error(404, "NotFound", "no such feature");
    }
    let Some(task_id) = query.get("task_id") else {
        return invalid("`task_id` is required");
    };
    let now = Instant::now();
    let loss_after = shared.config.perfect_task_loss_after;
    let price = shared.config.perfect_price;
    let mut state = lock(&shared.perfect);
    let Some(task) = state.tasks.get_mut(task_id).filter(|t| t.feature == slug) else {
        return invalid("unknown task_id");
    };
    let finished_before_leaving = task.ready_at <= task.last_polled + loss_after;
    if !task.lost && now.duration_since(task.last_polled) > loss_after && !finished_before_leaving {
        // The client stopped polling for too long: the engine gave up, nothing is charged.
        task.lost = true;
        state.lost_tasks += 1;
    }
    let Some(task) = state.tasks.get_mut(task_id) else {
        return invalid("unknown task_id");
    };
    task.last_polled = now;
    let interval = shared.config.perfect_polling_interval.as_millis() as u64;
    let mut result = json!({ "polling_interval": interval });
    if task.lost {
        result["status"] = json!("error");
        result["error"] = json!(engine_code("unknown_internal_error"));
        return ok(result);
    }
    if now < task.ready_at {
        result["status"] = json!("running");
        return ok(result);
    }
    match task.outcome.clone() {
        Err(code) => {
            result["status"] = json!("error");
            result["error"] = json!(engine_code(&code));
        }
        Ok(success) => {
            if !task.charged {
                // Credits are taken when the result exists, and only once.
                let charged = lock(&shared.ledger).charge(
                    Provider::Perfect,
                    &format!("{}_run_task", feature_name(&slug)),
                    Some(task_id),
                    price,
                );
                if charged.is_none() {
                    task.outcome = Err("unknown_internal_error".into());
                    result["status"] = json!("error");
                    result["error"] = json!("unknown_internal_error");
                    return ok(result);
                }
                task.charged = true;
            }
            let data: Vec<Value> = success
                .files
                .iter()
                .map(|file| {
                    let mut entry = json!({ "dst_id": file.dst_id, "url": file.url });
                    if let Some(age) = file.res_age {
                        entry["res_age"] = json!(age);
                    }
                    entry
                })
                .collect();
            result["status"] = json!("success");
            result["results"] = json!([{ "id": success.action_id, "data": data }]);
            if let Some(info) = success.custom_info {
                result["custom_info"] = info;
            }
        }
    }
    ok(result)
}

fn feature_name(slug: &str) -> &'static str {
    feature(slug).map(|f| f.name).unwrap_or("unknown")
}

/// Keeps only documented engine codes on the wire; anything else is the catch-all.
fn engine_code(code: &str) -> String {
    match serde_json::from_value::<EngineErrorCode>(Value::String(code.to_string())) {
        Ok(_) => code.to_string(),
        Err(_) => "unknown_internal_error".to_string(),
    }
}

/// Reads `page_size` (1..20, default 20) and `starting_token` (an offset).
fn page(query: &HashMap<String, String>) -> Result<(usize, usize), String> {
    let size = match query.get("page_size") {
        None => 20,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=20).contains(&n) => n,
            _ => return Err("`page_size` must be between 1 and 20".into()),
        },
    };
    let start = match query.get("starting_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| "`starting_token` is not a token this endpoint issued".to_string())?,
    };
    Ok((size, start))
}

fn paged(items: Vec<Value>, size: usize, start: usize, field: &str) -> Response {
    let end = (start + size).min(items.len());
    let slice = items.get(start.min(items.len())..end).unwrap_or_default();
    let mut result = json!({ field: slice });
    if end < items.len() {
        result["next_token"] = json!(end.to_string());
    }
    ok(result)
}

fn catalogue_feature(slug: &str) -> Option<(usize, &'static Feature)> {
    FEATURES
        .iter()
        .enumerate()
        .find(|(_, f)| f.slug == slug && has_styles(f))
}

async fn list_style_groups(
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some((index, _)) = catalogue_feature(&slug) else {
        return error(404, "NotFound", "this feature has no style catalogue");
    };
    let (size, start) = match page(&query) {
        Ok(page) => page,
        Err(message) => return invalid(message),
    };
    let groups = GROUP_TITLES
        .iter()
        .enumerate()
        .map(|(g, title)| json!({ "id": group_id(index, g), "info": { "title": title } }))
        .collect();
    paged(groups, size, start, "groups")
}

async fn list_styles(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some((index, _)) = catalogue_feature(&slug) else {
        return error(404, "NotFound", "this feature has no style catalogue");
    };
    let (size, start) = match page(&query) {
        Ok(page) => page,
        Err(message) => return invalid(message),
    };
    let groups: Vec<usize> = match query.get("style_group_id") {
        None => (0..GROUP_TITLES.len()).collect(),
        Some(text) => {
            let wanted = text.parse::<i64>().ok();
            match (0..GROUP_TITLES.len()).find(|g| Some(group_id(index, *g)) == wanted) {
                Some(g) => vec![g],
                None => return invalid("unknown `style_group_id`"),
            }
        }
    };
    let styles = groups
        .into_iter()
        .flat_map(|g| {
            let base = group_id(index, g);
            let title = GROUP_TITLES[g];
            let origin = shared.origin.clone();
            (1..=STYLES_PER_GROUP).map(move |n| {
                let id = base + n;
                json!({
                    "id": id,
                    "info": { "title": format!("{title} {n}"), "thumb": format!("{origin}/_thumbs/{id}.jpg") },
                })
            })
        })
        .collect();
    paged(styles, size, start, "styles")
}

/// Renders a style thumbnail on demand (the catalogue is too large to render up front).
pub(crate) async fn thumbnail(Path(name): Path<String>) -> Response {
    let id = name
        .trim_end_matches(".jpg")
        .parse::<i64>()
        .unwrap_or_default();
    let image = imaging::text_to_image("thumbnail", id, 64, 64);
    match imaging::encode(&image, ImageFormat::Jpeg) {
        Ok(bytes) => ([(axum::http::header::CONTENT_TYPE, "image/jpeg")], bytes).into_response(),
        Err(_) => crate::errors::plain(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "thumbnail failed",
        ),
    }
}

use axum::response::IntoResponse as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_id_exceeds_2_pow_53() {
        for (index, f) in FEATURES.iter().enumerate().filter(|(_, f)| has_styles(f)) {
            let group = group_id(index, 0);
            assert!(group > 1 << 53, "{}", f.slug);
            assert!(style_exists(f, group, group + 1));
            assert!(!style_exists(f, group, group + STYLES_PER_GROUP + 1));
        }
    }

    #[test]
    fn pages_carry_a_next_token_until_the_end() {
        let query: HashMap<String, String> = [("page_size".to_string(), "20".to_string())]
            .into_iter()
            .collect();
        assert_eq!(page(&query).unwrap(), (20, 0));
        let bad: HashMap<String, String> = [("page_size".to_string(), "21".to_string())]
            .into_iter()
            .collect();
        assert!(page(&bad).is_err());
    }
}
