//! Segmind HotshotXL: one synchronous call that answers with a GIF or an MP4 file.

use std::sync::Arc;
use tokio::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use bytes::Bytes;
use pixmill_segmind_api::constants::hotshot_xl_request::{STEPS_MAXIMUM, STEPS_MINIMUM};
use pixmill_segmind_api::enums::Dimension;
use pixmill_segmind_api::service;
use pixmill_segmind_api::types::HotshotXlRequest;
use rand::Rng;
use serde_json::json;

use crate::body;
use crate::errors::json_status;
use crate::imaging;
use crate::provider::Provider;
use crate::shared::{Shared, lock, method_filter};

/// Frames in a sandbox GIF: enough to be animated, few enough to stay fast.
const FRAMES: u32 = 8;

/// Every MP4 answer: a one-second clip of 8 frames at the spec's default size. Video
/// encoding is not worth carrying for a stand-in, so prompt, seed and size leave it unchanged.
const CLIP: &[u8] = include_bytes!("../data/hotshot-xl.mp4");

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(
            service::hotshot_xl::PATH,
            on(method_filter(service::hotshot_xl::METHOD), hotshot_xl).fallback(|| async {
                // The documented 405 carries Segmind's `{error}` body, not axum's empty one.
                let mut response = error(405, "Method Not Allowed");
                response.headers_mut().insert(
                    header::ALLOW,
                    HeaderValue::from_static(service::hotshot_xl::METHOD),
                );
                response
            }),
        )
        .route_layer(middleware::from_fn_with_state(shared, auth))
        .fallback(|| async { error(404, "The requested URL does not exist") })
}

/// Segmind's error body: `{error}`.
pub(crate) fn error(status: u16, message: &str) -> Response {
    json_status(status, json!({ "error": message }))
}

async fn auth(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok());
    if key != Some(shared.credentials.segmind_api_key.as_str()) {
        return error(401, "User authentication failed");
    }
    next.run(request).await
}

struct Settings {
    mp4: bool,
    /// As sent, so `x-seed-value` echoes it; negative seeds render via their bit pattern.
    seed: i64,
    width: u32,
    height: u32,
    prompt: String,
}

fn settings(bytes: &[u8]) -> Result<Settings, String> {
    let request: HotshotXlRequest = body::typed(bytes)?;
    let steps = request.steps.get();
    if i64::try_from(steps).map_or(true, |steps| steps > STEPS_MAXIMUM) {
        return Err(format!(
            "`steps` must be between {STEPS_MINIMUM} and {STEPS_MAXIMUM}"
        ));
    }
    let side = |dimension: Dimension| u32::try_from(dimension.value()).unwrap_or(1);
    Ok(Settings {
        mp4: request.mp4,
        // Like the service, a request without a seed gets a random one, reported in
        // `x-seed-value` so that the caller can reproduce the animation.
        seed: request
            .seed
            .unwrap_or_else(|| rand::thread_rng().gen_range(0..=i64::from(u32::MAX))),
        width: side(request.width),
        height: side(request.height),
        prompt: request.prompt.to_string(),
    })
}

async fn hotshot_xl(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Response {
    let settings = match settings(&bytes) {
        Ok(settings) => settings,
        Err(message) => return error(400, &message),
    };
    let price = shared.config.segmind_price;
    if lock(&shared.ledger).balance(Provider::Segmind) < price {
        return error(406, "Not enough credits");
    }
    let started = Instant::now();
    let Settings {
        mp4,
        seed,
        width,
        height,
        prompt,
    } = settings;
    let file = if mp4 {
        Bytes::from_static(CLIP)
    } else {
        let rendered = tokio::task::spawn_blocking(move || {
            imaging::animated_gif(&prompt, width, height, FRAMES, seed as u64)
        })
        .await;
        match rendered {
            Ok(Ok(file)) => Bytes::from(file),
            _ => return error(500, "Server had some issue with processing"),
        }
    };
    let request_id = shared.new_id("req-");
    let Some(remaining) =
        lock(&shared.ledger).charge(Provider::Segmind, "hotshot_xl", Some(&request_id), price)
    else {
        return error(406, "Not enough credits");
    };
    let content_type = if mp4 { "video/mp4" } else { "image/gif" };
    let mut response = (StatusCode::OK, file).into_response();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("x-remaining-credits", remaining.to_string());
    set("x-cost", price.to_string());
    set(
        "x-generation-time",
        format!("{:.3}", started.elapsed().as_secs_f64()),
    );
    set("x-seed-value", seed.to_string());
    set("x-request-id", request_id);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
