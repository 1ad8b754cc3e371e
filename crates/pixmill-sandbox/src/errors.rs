//! Each provider's documented error body, for any status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use pixmill_hitpaw_api::error_codes::ErrorResponseCode as HitpawCode;

use crate::provider::Provider;

/// The provider's error answer for `status` with `message`, to a request for `method` and
/// `path` (Perfect's two APIs share a server but not an error vocabulary).
pub(crate) fn provider_error(
    provider: Provider,
    method: &str,
    path: &str,
    status: u16,
    message: &str,
) -> Response {
    match provider {
        Provider::Hotpot => crate::hotpot::error(status, message),
        Provider::Hitpaw => crate::hitpaw::error(status, hitpaw_code_for(status), message),
        Provider::Segmind => crate::segmind::error(status, message),
        Provider::Perfect if crate::perfect_v2::serves(method, path) => {
            crate::perfect_v2::error_for_status(status, message)
        }
        Provider::Perfect => crate::perfect::error(status, perfect_code_for(status), message),
    }
}

/// HitPaw's general error code for an HTTP status (from its "General Errors" table).
fn hitpaw_code_for(status: u16) -> HitpawCode {
    match status {
        400 => HitpawCode::BadRequest,
        401 => HitpawCode::TokenExpired,
        403 => HitpawCode::AccessDenied,
        429 => HitpawCode::TooManyRequests,
        500 => HitpawCode::InternalError,
        _ => HitpawCode::UnknownError,
    }
}

fn perfect_code_for(status: u16) -> &'static str {
    match status {
        400 => "InvalidParameters",
        401 => "InvalidAccessToken",
        403 => "Forbidden",
        404 => "NotFound",
        429 => "RateLimitExceeded",
        503 => "ServiceUnavailable",
        _ => "InternalServerError",
    }
}

/// A JSON answer with a status.
pub(crate) fn json_status(status: u16, body: serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

/// A 200 answer whose JSON is cut short, as a broken proxy might send.
pub(crate) fn malformed_json() -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        "{\"status\": 200, \"result\": {\"task_",
    )
        .into_response()
}

/// A plain-text answer for the sandbox's own routes (uploads, downloads).
pub(crate) fn plain(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}
