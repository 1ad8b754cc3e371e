//! Perfect Corp: RSA `id_token` exchange for expiring bearer tokens, presigned uploads, async
//! tasks that are lost when not polled, `request_id` idempotency, style catalogues, credits
//! charged only on success, and the two documented rate limits.

use std::collections::HashMap;
use std::net::IpAddr;
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
use pixmill_perfect_api::constants::parameters::{
    PAGE_SIZE_DEFAULT, PAGE_SIZE_MAXIMUM, PAGE_SIZE_MINIMUM,
};
use pixmill_perfect_api::features::Feature;
use pixmill_perfect_api::service::{self, RETENTION};
use pixmill_perfect_api::types::{self, EngineErrorCode, TaskStatus};
use rand::Rng as _;
use serde_json::{Value, json};

use crate::body::{self, Object};
use crate::config::SandboxConfig;
use crate::errors::json_status;
use crate::imaging::{self, DynamicImage, ImageFormat};
use crate::provider::Provider;
use crate::ratelimit::Windows;
use crate::server::Peer;
use crate::shared::{Shared, lock, method_filter};

/// What the sandbox's engine does for a feature. This is emulation, not a spec fact: the
/// feature table itself (slugs, limits, inputs, outputs, catalogues) is the generated one, and
/// a feature added to the spec later gets its source image back.
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
    Echo,
}

fn effect(feature: Feature) -> Effect {
    match feature {
        Feature::HairStyle
        | Feature::Wig
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
        _ => Effect::Echo,
    }
}

/// Random bytes in an id: 47 encode to 64 characters and one `=`, the length of the document's
/// ids.
const ID_BYTES: usize = 47;

/// A file, task or result id shaped like Perfect's: standard base64, so it carries `+`, `/` and
/// `=`. Drawn until it holds both `+` and `/` (about three draws), so that every id tests a
/// client's percent-encoding.
fn perfect_id() -> String {
    loop {
        let mut bytes = [0u8; ID_BYTES];
        rand::thread_rng().fill(&mut bytes[..]);
        let id = base64::engine::general_purpose::STANDARD.encode(bytes);
        if id.contains('+') && id.contains('/') {
            return id;
        }
    }
}

/// Ages of an aging series, youngest first, and the age the sandbox reads on every face.
pub(crate) const SERIES_AGES: [u32; 5] = [10, 25, 40, 55, 70];
pub(crate) const ESTIMATED_AGE: u32 = 40;

/// What aging fades towards, and the look of a makeup reference without any colour.
pub(crate) const GREY: [u8; 3] = [128, 128, 128];

fn feature_index(feature: Feature) -> usize {
    Feature::ALL
        .iter()
        .position(|f| *f == feature)
        .unwrap_or_default()
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
    feature: Feature,
    ready_at: Instant,
    last_polled: Instant,
    outcome: Result<Success, EngineErrorCode>,
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
    let mut router = Router::new().route(service::auth::PATH, post(auth));
    // Each feature's operations at the methods and paths its spec rows give; run and status
    // may share a path.
    for &feature in Feature::ALL {
        for op in feature.facts().operations {
            let method = method_filter(op.method);
            let handler = match op.role {
                "create_file" => on(method, move |state: AxumState<Arc<Shared>>, body: Bytes| {
                    create_file(state, feature, body)
                }),
                "run_task" => on(method, move |state: AxumState<Arc<Shared>>, body: Bytes| {
                    run_task(state, feature, body)
                }),
                "check_status" => on(
                    method,
                    move |state: AxumState<Arc<Shared>>, query: Query<HashMap<String, String>>| {
                        check_status(state, feature, query)
                    },
                ),
                "list_style_groups" => on(method, move |query: Query<HashMap<String, String>>| {
                    list_style_groups(feature, query)
                }),
                "list_styles" => on(
                    method,
                    move |state: AxumState<Arc<Shared>>, query: Query<HashMap<String, String>>| {
                        list_styles(state, feature, query)
                    },
                ),
                _ => continue,
            };
            router = router.route(op.path, handler);
        }
    }
    router
        // V2's unit operations still take this API's access token.
        .route(
            pixmill_perfect_v2_api::service::credit_balance::PATH,
            get(crate::perfect_v2::credit_balance),
        )
        .route(
            pixmill_perfect_v2_api::service::credit_history::PATH,
            get(crate::perfect_v2::credit_history),
        )
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
    let is_auth = request.uri().path() == service::auth::PATH;
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
    let (client_id, id_token) = match body::typed::<types::AuthRequest>(&bytes) {
        Ok(request) => (request.client_id.to_string(), request.id_token.to_string()),
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

async fn create_file(
    AxumState(shared): AxumState<Arc<Shared>>,
    feature: Feature,
    bytes: Bytes,
) -> Response {
    if let Err(message) = body::object(&bytes)
        .and_then(|o| body::conform(&Value::Object(o), |v| feature.check_create_file_body(v)))
    {
        return invalid(message);
    }
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
        if !feature.facts().accepts_upload(&content_type) {
            return invalid(format!(
                "files[{index}]: content_type {content_type} is not accepted by {}",
                feature.facts().slug
            ));
        }
        let file_id = perfect_id();
        // The id holds `/`, so the object gets a key of its own to be served under.
        let key = shared.new_id("perfect-");
        let url = shared.presign(&key, &content_type, RETENTION.uploads);
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

/// Reads a run-task request after checking it against the feature's generated body type.
fn parse_run_task(feature: Feature, bytes: &[u8]) -> Result<RunTask, String> {
    let facts = feature.facts();
    let o = body::object(bytes)?;
    body::conform(&Value::Object(o.clone()), |v| {
        feature.check_run_task_body(v)
    })?;
    let request_id = body::required_integer(&o, "request_id")?;
    if request_id < 0 {
        return Err("`request_id` must not be negative".into());
    }
    let payload = o
        .get("payload")
        .and_then(Value::as_object)
        .ok_or("`payload` is required")?;
    let file_sets = payload.get("file_sets").and_then(Value::as_object);
    let mut slots: HashMap<&str, Vec<String>> = HashMap::new();
    for slot in facts.inputs {
        let ids = id_list(file_sets, slot.id_field)?;
        if ids.len() < slot.min || slot.max.is_some_and(|max| ids.len() > max) {
            return Err(format!(
                "`{}` takes {} to {} files, not {}",
                slot.id_field,
                slot.min,
                slot.max.map_or("any number of".into(), |m| m.to_string()),
                ids.len()
            ));
        }
        slots.insert(slot.name, ids);
    }
    let mut take = |name: &str| slots.remove(name).unwrap_or_default();
    let (sources, references, masks) = (take("src"), take("ref"), take("mask"));
    if !masks.is_empty() && masks.len() != sources.len() {
        return Err("one mask in `mask_ids` per source file".into());
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
    let params = action
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let style = match (
        body::integer(&params, "style_group_id")?,
        params
            .get("style_ids")
            .and_then(Value::as_array)
            .and_then(|ids| ids.first())
            .and_then(Value::as_i64),
    ) {
        (Some(group), Some(id)) => Some((group, id)),
        _ => None,
    };
    let prompt = body::string(&params, "prompt")?;
    let scale = body::integer(&params, "scale")?
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(1);
    let default_output = facts.default_output.or(facts.outputs.first().copied());
    let output_ext = match body::string(payload, "output_ext")? {
        None => default_output.unwrap_or("jpg"),
        Some(ext) => facts
            .outputs
            .iter()
            .copied()
            .find(|allowed| *allowed == ext)
            .ok_or_else(|| format!("`output_ext` must be one of {:?}", facts.outputs))?,
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
fn style_exists(feature: Feature, group: i64, style: i64) -> bool {
    let index = feature_index(feature);
    (0..GROUP_TITLES.len()).any(|g| {
        let base = group_id(index, g);
        base == group && style > base && style <= base + STYLES_PER_GROUP
    })
}

async fn run_task(
    AxumState(shared): AxumState<Arc<Shared>>,
    feature: Feature,
    bytes: Bytes,
) -> Response {
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
        feature.facts().slug,
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
    let task_id = perfect_id();
    let outcome = match injected {
        // Injected codes go out verbatim, so that a test can play a code the spec does not
        // list yet; the sandbox's own failures are all documented ones.
        Some(code) => Err(EngineErrorCode::from(code.as_str())),
        None => {
            let request = request.clone();
            let shared_for_work = shared.clone();
            tokio::task::spawn_blocking(move || {
                process(&shared_for_work, feature, &request, &files)
            })
            .await
            .unwrap_or(Err(EngineErrorCode::UnknownInternalError))
        }
    };
    let now = Instant::now();
    let task = Task {
        feature,
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
    feature: Feature,
    request: &RunTask,
    files: &[Bytes],
) -> Result<Success, EngineErrorCode> {
    let set = feature.facts().limits.first();
    let decode =
        |bytes: &Bytes, undecodable: EngineErrorCode| -> Result<DynamicImage, EngineErrorCode> {
            if let Some(max) = set.and_then(|s| s.max_bytes)
                && bytes.len() as u64 > max
            {
                return Err(EngineErrorCode::ExceedMaxFilesize);
            }
            let (image, format) = imaging::decode(bytes).map_err(|_| undecodable)?;
            if let Some(set) = set {
                if !set.accepts_format(imaging::extension(format)) {
                    return Err(EngineErrorCode::InvalidParameter);
                }
                if let Some(max) = set.max_long_side
                    && image.width().max(image.height()) > max
                {
                    return Err(EngineErrorCode::InvalidParameter);
                }
            }
            Ok(image)
        };
    let sources = request.sources.len();
    let references = request.references.len();
    let source = files
        .first()
        .map(|f| decode(f, EngineErrorCode::ErrorDecodeImage))
        .transpose()?;
    let output = |image: &DynamicImage| -> Result<(Vec<u8>, ImageFormat), EngineErrorCode> {
        let format = match request.output_ext {
            "png" => ImageFormat::Png,
            "webp" => ImageFormat::WebP,
            _ => ImageFormat::Jpeg,
        };
        imaging::encode(image, format)
            .map(|bytes| (bytes, format))
            .map_err(|_| EngineErrorCode::ErrorUpload)
    };
    let mut rendered: Vec<(DynamicImage, Option<u32>)> = Vec::new();
    let mut custom_info = None;
    match (effect(feature), source) {
        (Effect::TextToImage, _) => {
            let (_, style) = request.style.unwrap_or_default();
            let prompt = request.prompt.clone().unwrap_or_default();
            rendered.push((imaging::text_to_image(&prompt, style, 1024, 1024), None));
        }
        (_, None) => return Err(EngineErrorCode::InvalidParameter),
        (Effect::Hair, Some(image)) => {
            // The style's id, read as a colour, tints the picture: each style looks different.
            let (_, style) = request.style.unwrap_or_default();
            let [r, g, b, ..] = style.to_le_bytes();
            rendered.push((imaging::tint(&image, [r, g, b], 0.3), None));
        }
        (Effect::Aging, Some(image)) => {
            custom_info = Some(json!({
                "age": ESTIMATED_AGE,
                "age_idx": SERIES_AGES.iter().position(|a| *a == ESTIMATED_AGE),
                "age_min": SERIES_AGES.first(),
                "age_max": SERIES_AGES.last(),
                "num_of_photos": SERIES_AGES.len(),
            }));
            // Older photos fade further towards grey.
            for age in SERIES_AGES {
                let faded = imaging::tint(&image, GREY, age as f32 / 100.0);
                rendered.push((faded, Some(age)));
            }
        }
        (Effect::Makeup, Some(image)) => {
            let reference = decode(&files[sources], EngineErrorCode::ErrorDecodeImage)?;
            let look = imaging::dominant_colors(&reference, 1);
            let colour = look.first().copied().unwrap_or(GREY);
            rendered.push((imaging::tint(&image, colour, 0.5), None));
        }
        (Effect::ObjectRemoval, Some(image)) => {
            let mask = decode(
                &files[sources + references],
                EngineErrorCode::ErrorDecodeMask,
            )?;
            if mask.width() != image.width() || mask.height() != image.height() {
                return Err(EngineErrorCode::InvalidParameter);
            }
            rendered.push((imaging::remove_object(&image, &mask.to_luma8()), None));
        }
        (Effect::Colorize, Some(image)) => {
            rendered.push((DynamicImage::ImageRgb8(imaging::colorize(&image)), None));
        }
        (Effect::BackgroundRemoval, Some(image)) => {
            let (cutout, _) = imaging::remove_background(&image);
            rendered.push((DynamicImage::ImageRgba8(cutout), None));
        }
        (Effect::Enhance, Some(image)) => {
            rendered.push((imaging::scale(&image, request.scale), None));
        }
        (Effect::Echo, Some(image)) => rendered.push((image, None)),
    }
    let mut results = Vec::new();
    for (image, res_age) in &rendered {
        let (bytes, format) = output(image)?;
        let dst_id = perfect_id();
        let key = shared.new_id("perfect-");
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
    feature: Feature,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(task_id) = query.get("task_id") else {
        return invalid("`task_id` is required");
    };
    let now = Instant::now();
    let loss_after = shared.config.perfect_task_loss_after;
    let price = shared.config.perfect_price;
    let mut state = lock(&shared.perfect);
    let Some(task) = state
        .tasks
        .get_mut(task_id)
        .filter(|t| t.feature == feature)
    else {
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
        result["status"] = json!(TaskStatus::Error);
        result["error"] = json!(EngineErrorCode::UnknownInternalError.as_str());
        return ok(result);
    }
    if now < task.ready_at {
        result["status"] = json!(TaskStatus::Running);
        return ok(result);
    }
    match task.outcome.clone() {
        Err(code) => {
            result["status"] = json!(TaskStatus::Error);
            result["error"] = json!(code.as_str());
        }
        Ok(success) => {
            if !task.charged {
                // Credits are taken when the result exists, and only once.
                let charged = lock(&shared.ledger).charge(
                    Provider::Perfect,
                    &format!("{}_run_task", feature.name()),
                    Some(task_id),
                    price,
                );
                if charged.is_none() {
                    let code = EngineErrorCode::UnknownInternalError;
                    result["status"] = json!(TaskStatus::Error);
                    result["error"] = json!(code.as_str());
                    task.outcome = Err(code);
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
            result["status"] = json!(TaskStatus::Success);
            result["results"] = json!([{ "id": success.action_id, "data": data }]);
            if let Some(info) = success.custom_info {
                result["custom_info"] = info;
            }
        }
    }
    ok(result)
}

/// Reads `page_size` (the spec's range and default) and `starting_token` (an offset).
fn page(query: &HashMap<String, String>) -> Result<(usize, usize), String> {
    let size = match query.get("page_size") {
        None => PAGE_SIZE_DEFAULT,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (PAGE_SIZE_MINIMUM..=PAGE_SIZE_MAXIMUM).contains(&n) => n,
            _ => {
                return Err(format!(
                    "`page_size` must be between {PAGE_SIZE_MINIMUM} and {PAGE_SIZE_MAXIMUM}"
                ));
            }
        },
    } as usize;
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

async fn list_style_groups(
    feature: Feature,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let index = feature_index(feature);
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
    feature: Feature,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let index = feature_index(feature);
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
        for f in Feature::ALL
            .iter()
            .copied()
            .filter(|f| f.facts().catalogue.is_some())
        {
            let group = group_id(feature_index(f), 0);
            assert!(group > 1 << 53, "{f}");
            assert!(style_exists(f, group, group + 1));
            assert!(!style_exists(f, group, group + STYLES_PER_GROUP + 1));
        }
    }

    #[test]
    fn pages_carry_a_next_token_until_the_end() {
        let largest = PAGE_SIZE_MAXIMUM.to_string();
        let query: HashMap<String, String> =
            [("page_size".to_string(), largest)].into_iter().collect();
        assert_eq!(page(&query).unwrap(), (PAGE_SIZE_MAXIMUM as usize, 0));
        let bad: HashMap<String, String> =
            [("page_size".to_string(), (PAGE_SIZE_MAXIMUM + 1).to_string())]
                .into_iter()
                .collect();
        assert!(page(&bad).is_err());
    }
}
