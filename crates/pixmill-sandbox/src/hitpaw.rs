//! HitPaw: photo enhancement and segmentation as async jobs, a shared task-status call and a
//! presigned upload. Coins are taken when a job is accepted, as the submit answer reports them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use axum::Router;
use axum::extract::{Request, State as AxumState};
use axum::middleware::{self, Next};
use axum::response::Response;
use bytes::Bytes;
use pixmill_hitpaw_api::constants::presign_put_request;
use pixmill_hitpaw_api::error_codes::ErrorResponseCode as Code;
use pixmill_hitpaw_api::types::{
    ImageSegmentationRequest, JobStatus, PhotoEnhancerRequest, PhotoEnhancerRequestModelName,
    PresignPutRequest, TaskStatusRequest,
};
use pixmill_hitpaw_api::{limits, service};
use pixmill_spec::InputLimits;
use serde_json::{Value, json};

use crate::body::{self, Object};
use crate::errors::json_status;
use crate::imaging::{self, DynamicImage, ImageFormat};
use crate::provider::Provider;
use crate::shared::{Shared, lock, spec_routes};

/// Jobs by id.
#[derive(Debug, Default)]
pub(crate) struct State {
    jobs: HashMap<String, Job>,
}

#[derive(Debug, Clone)]
struct Job {
    ready_at: Instant,
    original_url: String,
    /// Result and mask URLs once done, or `None` for a job that ends in `ERROR`.
    outcome: Option<(String, Option<String>)>,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    spec_routes!(service; photo_enhancer, image_segmentation, task_status, presign_put)
        .route_layer(middleware::from_fn_with_state(shared, auth))
        .fallback(|| async { error(404, Code::BadRequest, documented_message(Code::BadRequest)) })
}

/// HitPaw's error body: `{error_code, message}`.
pub(crate) fn error(status: u16, code: Code, message: &str) -> Response {
    json_status(
        status,
        json!({ "error_code": code.code(), "message": message }),
    )
}

/// The HTTP status HitPaw documents for a code.
fn status_of(code: Code) -> u16 {
    code.documented().map_or(400, |row| row.status)
}

/// The message HitPaw documents for a code.
fn documented_message(code: Code) -> &'static str {
    code.documented().map_or("", |row| row.message)
}

/// HitPaw's answer for `code`, at its documented status.
fn fail(code: Code, message: impl AsRef<str>) -> Response {
    error(status_of(code), code, message.as_ref())
}

/// HitPaw's answer for `code` with its documented message.
fn fail_as_documented(code: Code) -> Response {
    fail(code, documented_message(code))
}

fn ok(data: Value) -> Response {
    json_status(200, json!({ "code": 200, "message": "OK", "data": data }))
}

async fn auth(AxumState(shared): AxumState<Arc<Shared>>, request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get("apikey")
        .and_then(|v| v.to_str().ok());
    if key != Some(shared.credentials.hitpaw_api_key.as_str()) {
        return fail_as_documented(Code::ApiKeyNotValid);
    }
    next.run(request).await
}

/// Reads an input URL: the sandbox's own objects directly, loopback over HTTP, anything else
/// only when the configuration allows it.
async fn fetch(shared: &Shared, url: &str) -> Result<Bytes, String> {
    if let Some(key) = url.strip_prefix(&format!("{}/_files/", shared.origin)) {
        return shared
            .object(key)
            .map(|blob| blob.bytes)
            .ok_or_else(|| "no object at this URL".to_string());
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| "not a URL".to_string())?;
    let loopback_only = !shared.config.allow_remote_fetch;
    if loopback_only && !is_loopback(&parsed) {
        return Err("the sandbox only fetches loopback URLs".into());
    }
    // A loopback server must not be able to redirect the sandbox out to the network.
    let loopback_client;
    let http = if loopback_only {
        loopback_client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 10 {
                    attempt.error("too many redirects")
                } else if is_loopback(attempt.url()) {
                    attempt.follow()
                } else {
                    attempt.error("the sandbox only fetches loopback URLs")
                }
            }))
            .build()
            .map_err(|e| format!("download failed: {e}"))?;
        &loopback_client
    } else {
        &shared.http
    };
    let response = http
        .get(parsed)
        .send()
        .await
        .map_err(|e| format!("download failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("download answered {}", response.status()));
    }
    response
        .bytes()
        .await
        .map_err(|e| format!("download failed: {e}"))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The scale a model name's suffix promises (`_2x` → 2).
fn model_scale(model: &str) -> u32 {
    model
        .rsplit('_')
        .next()
        .and_then(|suffix| suffix.strip_suffix('x'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

fn output_format(extension: &str) -> ImageFormat {
    match extension
        .trim_start_matches('.')
        .to_ascii_lowercase()
        .as_str()
    {
        "jpg" | "jpeg" | "jfif" => ImageFormat::Jpeg,
        "webp" => ImageFormat::WebP,
        "bmp" => ImageFormat::Bmp,
        "tiff" => ImageFormat::Tiff,
        _ => ImageFormat::Png,
    }
}

/// Decodes an input and checks it against a limit set, answering with HitPaw's codes.
fn check_input(
    bytes: &[u8],
    set: &InputLimits,
    scale: u32,
) -> Result<DynamicImage, (Code, String)> {
    let (image, format) = imaging::decode(bytes).map_err(|_| {
        (
            Code::ExtensionNotValid,
            "The input is not a decodable image".to_string(),
        )
    })?;
    if !set.accepts_format(imaging::extension(format)) {
        return Err((
            Code::ExtensionNotValid,
            format!(
                "The extension is not valid: {} is not one of {}",
                imaging::extension(format),
                set.formats.join(", ")
            ),
        ));
    }
    let megapixels = f64::from(image.width()) * f64::from(image.height()) / 1e6;
    if let Some(max) = set.max_megapixels
        && megapixels > max
    {
        return Err((
            Code::InputResolutionOverLimit,
            format!("The input resolution is over limit: {megapixels:.1} MP > {max} MP"),
        ));
    }
    let output = megapixels * f64::from(scale * scale);
    if let Some(max) = set.max_output_megapixels
        && output > max
    {
        return Err((
            Code::TargetResolutionOverLimit,
            format!("The target resolution is over limit: {output:.1} MP > {max} MP"),
        ));
    }
    Ok(image)
}

/// Accepts a job: takes the coins, renders the outcome now and reveals it when the job is due.
fn accept(
    shared: &Shared,
    operation: &str,
    price: i64,
    original_url: String,
    outcome: Option<(String, Option<String>)>,
    job_id: String,
) -> Response {
    if lock(&shared.ledger)
        .charge(Provider::Hitpaw, operation, Some(&job_id), price)
        .is_none()
    {
        return fail_as_documented(Code::CoinsNotEnough);
    }
    let job = Job {
        ready_at: Instant::now() + shared.config.hitpaw_job_duration,
        original_url,
        outcome,
    };
    lock(&shared.hitpaw).jobs.insert(job_id.clone(), job);
    ok(json!({ "job_id": job_id, "consume_coins": price }))
}

fn parse_enum<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(Value::String(value.to_string())).ok()
}

async fn photo_enhancer(AxumState(shared): AxumState<Arc<Shared>>, bytes: Bytes) -> Response {
    let request = match enhancer_request(&bytes) {
        Ok(request) => request,
        Err((code, message)) => return fail(code, message),
    };
    let price = shared.config.hitpaw_enhance_price;
    if lock(&shared.ledger).balance(Provider::Hitpaw) < price {
        return fail_as_documented(Code::CoinsNotEnough);
    }
    let input = match fetch(&shared, &request.img_url).await {
        Ok(input) => input,
        Err(reason) => return fail(Code::InvalidUrl, format!("Invalid URL: {reason}")),
    };
    let Some(set) = InputLimits::select(limits::PHOTO_ENHANCER, "model_name", &request.model)
    else {
        return fail(
            Code::ModelNotSupported,
            "The model is not supported, please try again",
        );
    };
    let scale = model_scale(&request.model);
    let image = match check_input(&input, set, scale) {
        Ok(image) => image,
        Err((code, message)) => return fail(code, message),
    };
    let job_id = shared.new_id("hp-");
    let outcome = if lock(&shared.faults)
        .take_job_failure(Provider::Hitpaw)
        .is_some()
    {
        None
    } else {
        let format = output_format(&request.extension);
        let rendered = tokio::task::spawn_blocking(move || {
            imaging::encode(&imaging::scale(&image, scale), format)
        })
        .await;
        match rendered {
            Ok(Ok(file)) => {
                let key = format!("{job_id}.{}", imaging::extension(format));
                Some((shared.publish(&key, file, imaging::mime(format)), None))
            }
            _ => None,
        }
    };
    accept(
        &shared,
        "photo_enhancer",
        price,
        request.img_url,
        outcome,
        job_id,
    )
}

struct EnhancerRequest {
    model: String,
    img_url: String,
    extension: String,
}

fn enhancer_request(bytes: &[u8]) -> Result<EnhancerRequest, (Code, String)> {
    let invalid = |message: String| (Code::InvalidRequestParameters, message);
    let o: Object = body::object(bytes).map_err(invalid)?;
    // An unknown model has a code of its own, ahead of the general parameter check.
    if let Some(Value::String(model)) = o.get("model_name")
        && parse_enum::<PhotoEnhancerRequestModelName>(model).is_none()
    {
        return Err((
            Code::ModelNotSupported,
            format!("The model is not supported, please try again: `{model}`"),
        ));
    }
    let request: PhotoEnhancerRequest = body::typed_object(o).map_err(invalid)?;
    let extension = request.extension;
    let known = limits::PHOTO_ENHANCER
        .iter()
        .any(|set| set.accepts_format(&extension));
    if !extension.starts_with('.') || !known {
        return Err((
            Code::ExtensionNotValid,
            format!("The extension is not valid: `{extension}`"),
        ));
    }
    if let Some(dpi) = request.dpi
        && dpi <= 0
    {
        return Err(invalid("`DPI` must be positive".into()));
    }
    Ok(EnhancerRequest {
        model: request.model_name.to_string(),
        img_url: request.img_url,
        extension,
    })
}

async fn image_segmentation(AxumState(shared): AxumState<Arc<Shared>>, bytes: Bytes) -> Response {
    let file_url = match body::typed::<ImageSegmentationRequest>(&bytes) {
        Ok(request) => request.file_url,
        Err(message) => return fail(Code::InvalidRequestParameters, message),
    };
    let price = shared.config.hitpaw_segment_price;
    if lock(&shared.ledger).balance(Provider::Hitpaw) < price {
        return fail_as_documented(Code::CoinsNotEnough);
    }
    let input = match fetch(&shared, &file_url).await {
        Ok(input) => input,
        Err(reason) => return fail(Code::InvalidUrl, format!("Invalid URL: {reason}")),
    };
    let set = limits::IMAGE_SEGMENTATION
        .first()
        .copied()
        .unwrap_or(InputLimits::NONE);
    let image = match check_input(&input, &set, 1) {
        Ok(image) => image,
        Err((code, message)) => return fail(code, message),
    };
    let job_id = shared.new_id("hp-");
    let outcome = if lock(&shared.faults)
        .take_job_failure(Provider::Hitpaw)
        .is_some()
    {
        None
    } else {
        let rendered = tokio::task::spawn_blocking(move || {
            let (cutout, mask) = imaging::remove_background(&image);
            let cutout = imaging::encode(&DynamicImage::ImageRgba8(cutout), ImageFormat::Png)?;
            let mask = imaging::encode(&DynamicImage::ImageLuma8(mask), ImageFormat::Png)?;
            Ok::<_, imaging::ImagingError>((cutout, mask))
        })
        .await;
        match rendered {
            Ok(Ok((cutout, mask))) => Some((
                shared.publish(&format!("{job_id}.png"), cutout, "image/png"),
                Some(shared.publish(&format!("{job_id}-mask.png"), mask, "image/png")),
            )),
            _ => None,
        }
    };
    accept(
        &shared,
        "image_segmentation",
        price,
        file_url,
        outcome,
        job_id,
    )
}

async fn task_status(AxumState(shared): AxumState<Arc<Shared>>, bytes: Bytes) -> Response {
    let job_id = match body::typed::<TaskStatusRequest>(&bytes) {
        Ok(request) => request.job_id,
        Err(message) => return fail(Code::InvalidRequestParameters, message),
    };
    let Some(job) = lock(&shared.hitpaw).jobs.get(&job_id).cloned() else {
        return fail_as_documented(Code::TaskDoesNotExist);
    };
    let mut data = json!({ "job_id": job_id, "original_url": job.original_url });
    if Instant::now() < job.ready_at {
        data["status"] = json!(JobStatus::Converting);
    } else {
        match job.outcome {
            Some((res_url, mask_url)) => {
                data["status"] = json!(JobStatus::Completed);
                data["res_url"] = json!(res_url);
                if let Some(mask_url) = mask_url {
                    data["mask_url"] = json!(mask_url);
                }
            }
            None => data["status"] = json!(JobStatus::Error),
        }
    }
    ok(data)
}

async fn presign_put(AxumState(shared): AxumState<Arc<Shared>>, bytes: Bytes) -> Response {
    let request = body::typed::<PresignPutRequest>(&bytes).and_then(|request| {
        use presign_put_request::{EXPIRE_SECONDS_MAXIMUM, EXPIRE_SECONDS_MINIMUM};
        let expire = request.expire_seconds;
        if !(EXPIRE_SECONDS_MINIMUM..=EXPIRE_SECONDS_MAXIMUM).contains(&expire) {
            return Err(format!(
                "`expire_seconds` must be between {EXPIRE_SECONDS_MINIMUM} and {EXPIRE_SECONDS_MAXIMUM}"
            ));
        }
        Ok((
            request.filename.to_string(),
            request.content_type.to_string(),
            expire,
        ))
    });
    let (filename, content_type, expire) = match request {
        Ok(request) => request,
        Err(message) => return error(400, Code::BadRequest, &message),
    };
    let safe_name: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let object_key = format!("{}-{safe_name}", shared.new_id("up-"));
    let lifetime = Duration::from_secs(expire as u64);
    let upload_url = shared.presign(&object_key, &content_type, Some(lifetime));
    let expire_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|now| (now + lifetime).as_secs())
        .unwrap_or_default();
    json_status(
        200,
        json!({
            "code": 0,
            "message": "OK",
            "data": {
                "upload_url": upload_url,
                "access_url": format!("{}/_files/{object_key}", shared.origin),
                "object_key": object_key,
                "content_type": content_type,
                "expire_at": expire_at,
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_suffix_gives_the_scale() {
        assert_eq!(model_scale("general_2x"), 2);
        assert_eq!(model_scale("generative_portrait_4x"), 4);
        assert_eq!(model_scale("sharpen_denoise_1x"), 1);
    }

    #[test]
    fn documented_statuses_and_messages_follow_the_code() {
        assert_eq!(status_of(Code::CoinsNotEnough), 402);
        assert_eq!(status_of(Code::InvalidRequestParameters), 403);
        assert_eq!(status_of(Code::ApiKeyNotValid), 400);
        assert_eq!(status_of(Code::Other(7)), 400, "an unlisted code");
        assert_eq!(
            documented_message(Code::TaskDoesNotExist),
            "The task does not exist"
        );
    }
}
