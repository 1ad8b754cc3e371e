//! Segmind HotshotXL: one synchronous call that answers with a GIF or an MP4 file.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::json;

use crate::body;
use crate::errors::json_status;
use crate::imaging;
use crate::provider::Provider;
use crate::shared::{Shared, lock};

/// Allowed `width` and `height` values (the model's enumeration).
pub(crate) const SIZES: &[i64] = &[
    256, 320, 384, 448, 512, 576, 640, 672, 704, 768, 832, 896, 960, 1024,
];

/// Allowed `scheduler` values.
pub(crate) const SCHEDULERS: &[&str] = &[
    "DDIMScheduler",
    "DPMSolverMultistepScheduler",
    "HeunDiscreteScheduler",
    "KarrasDPM",
    "EulerAncestralDiscreteScheduler",
    "EulerDiscreteScheduler",
    "PNDMScheduler",
];

/// Frames in a sandbox animation: enough to be animated, few enough to stay fast.
const FRAMES: u32 = 8;

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/hotshot-xl",
            post(hotshot_xl).fallback(|| async {
                // The documented 405 carries Segmind's `{error}` body, not axum's empty one.
                let mut response = error(405, "Method Not Allowed");
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("POST"));
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
    let o = body::object(bytes)?;
    let prompt = body::required_string(&o, "prompt")?;
    let steps = body::integer(&o, "steps")?.unwrap_or(30);
    if !(1..=500).contains(&steps) {
        return Err("`steps` must be between 1 and 500".into());
    }
    let size = |name: &str, default: i64| -> Result<u32, String> {
        let value = body::integer(&o, name)?.unwrap_or(default);
        if SIZES.contains(&value) {
            Ok(value as u32)
        } else {
            Err(format!("`{name}` must be one of {SIZES:?}"))
        }
    };
    let width = size("width", 672)?;
    let height = size("height", 384)?;
    let scheduler =
        body::string(&o, "scheduler")?.unwrap_or_else(|| "EulerAncestralDiscreteScheduler".into());
    if !SCHEDULERS.contains(&scheduler.as_str()) {
        return Err(format!(
            "`scheduler` must be one of {}",
            SCHEDULERS.join(", ")
        ));
    }
    let _negative = body::string(&o, "negative_prompt")?;
    let seed = body::integer(&o, "seed")?.unwrap_or(6226);
    Ok(Settings {
        mp4: body::boolean(&o, "mp4")?.unwrap_or(false),
        seed,
        width,
        height,
        prompt,
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
    let rendered = tokio::task::spawn_blocking(move || {
        if mp4 {
            imaging::mp4(&prompt, width, height, FRAMES, seed as u64)
        } else {
            imaging::animated_gif(&prompt, width, height, FRAMES, seed as u64)
        }
    })
    .await;
    let file = match rendered {
        Ok(Ok(file)) => file,
        _ => return error(500, "Server had some issue with processing"),
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
