//! The HTTP side: the router, the observing middleware (faults and the traffic log), the
//! sandbox's own upload and download routes, and the accept loop that can drop a connection.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::errors::{malformed_json, plain, provider_error};
use crate::faults::Fault;
use crate::provider::Provider;
use crate::shared::{Blob, Shared, lock};
use crate::traffic::Exchange;

/// Largest request body the sandbox reads.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Lets a handler close the connection its request came on.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionControl(CancellationToken);

/// The client's address.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub SocketAddr);

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .nest(
            Provider::Hotpot.prefix(),
            crate::hotpot::router(shared.clone()),
        )
        .nest(
            Provider::Hitpaw.prefix(),
            crate::hitpaw::router(shared.clone()),
        )
        .nest(
            Provider::Segmind.prefix(),
            crate::segmind::router(shared.clone()),
        )
        // Both Perfect APIs live on one server (`/s2s/v1.0/...`, `/s2s/v2.0/...`).
        .nest(
            Provider::Perfect.prefix(),
            crate::perfect::router(shared.clone()).merge(crate::perfect_v2::router(shared.clone())),
        )
        .route("/_files/{key}", get(download))
        .route("/_uploads/{key}", axum::routing::put(upload))
        .route("/_thumbs/{name}", get(crate::perfect::thumbnail))
        // Above every documented input limit (Perfect takes up to 10 MB, Hotpot base64 bodies
        // have none), so the sandbox's own checks, not the framework's, answer large inputs.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(shared.clone(), observe))
        .with_state(shared)
}

/// Serves connections until `shutdown` fires.
pub(crate) async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
        };
        let app = app.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let dropped = CancellationToken::new();
            let control = ConnectionControl(dropped.clone());
            let service =
                hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(control.clone());
                    request.extensions_mut().insert(Peer(peer));
                    app.clone().oneshot(request.map(Body::new))
                });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            // Dropping the connection future closes the socket without an answer.
            tokio::select! {
                _ = connection => {}
                _ = dropped.cancelled() => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

/// Applies injected faults and records every exchange.
async fn observe(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_string();
    let full_path = request.uri().path().to_string();
    let (provider, path) = match Provider::split_path(&full_path) {
        Some((provider, rest)) => (Some(provider), rest.to_string()),
        None => (None, full_path.clone()),
    };
    let control = request.extensions().get::<ConnectionControl>().cloned();
    let fault = match provider {
        Some(provider) => lock(&shared.faults).take(provider, &method, &path),
        None if path.starts_with("/_uploads/") => lock(&shared.faults).take_upload_fault(),
        None => None,
    };
    let mut exchange = Exchange {
        provider,
        method,
        path,
        status: None,
        content_type: None,
        json_body: None,
        fault: fault.clone(),
    };
    let response = match (fault, provider) {
        (Some(Fault::Status(status)), Some(provider)) => provider_error(
            provider,
            &exchange.method,
            &exchange.path,
            status,
            "injected fault",
        ),
        // Uploads belong to no provider's API: a plain answer, as a storage service gives.
        (Some(Fault::Status(status)), None) => plain(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "injected fault",
        ),
        (Some(Fault::TooManyRequests { retry_after_secs }), Some(provider)) => {
            let mut response = provider_error(
                provider,
                &exchange.method,
                &exchange.path,
                429,
                "injected rate limit",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        (Some(Fault::MalformedJson), _) => malformed_json(),
        (Some(Fault::Delay(delay)), _) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        (Some(Fault::SlowAnswer(delay)), _) => {
            let response = next.run(request).await;
            tokio::time::sleep(delay).await;
            response
        }
        (Some(Fault::DropBeforeProcessing), _) => {
            lock(&shared.traffic).push(exchange);
            return drop_connection(control).await;
        }
        (Some(Fault::DropAfterProcessing), _) => {
            let _ = next.run(request).await;
            lock(&shared.traffic).push(exchange);
            return drop_connection(control).await;
        }
        _ => next.run(request).await,
    };
    let (parts, body) = response.into_parts();
    exchange.status = Some(parts.status.as_u16());
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    exchange.content_type = content_type.clone();
    let body = if content_type
        .as_deref()
        .is_some_and(|ct| ct.contains("json"))
    {
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        exchange.json_body = Some(String::from_utf8_lossy(&bytes).into_owned());
        Body::from(bytes)
    } else {
        body
    };
    lock(&shared.traffic).push(exchange);
    Response::from_parts(parts, body)
}

async fn drop_connection(control: Option<ConnectionControl>) -> Response {
    match control {
        Some(ConnectionControl(token)) => {
            token.cancel();
            // The connection task drops this future together with the connection.
            std::future::pending::<Response>().await
        }
        None => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot drop this connection",
        ),
    }
}

/// Serves a result or uploaded file.
async fn download(State(shared): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    match shared.object(&key) {
        Some(Blob {
            bytes,
            content_type,
        }) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        None => plain(StatusCode::NOT_FOUND, "no such object"),
    }
}

/// Accepts a presigned upload: the slot must exist, be unexpired, and get the signed
/// `Content-Type`, as a real presigned URL would demand.
async fn upload(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let mut blobs = lock(&shared.blobs);
    let Some(pending) = blobs.pending.get(&key).cloned() else {
        return plain(StatusCode::FORBIDDEN, "no presigned upload for this key");
    };
    if pending
        .expires
        .is_some_and(|expires| Instant::now() > expires)
    {
        return plain(StatusCode::FORBIDDEN, "the presigned upload has expired");
    }
    let sent = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !sent.eq_ignore_ascii_case(&pending.content_type) {
        return plain(
            StatusCode::FORBIDDEN,
            &format!(
                "signature mismatch: the upload was signed for Content-Type `{}`, got `{sent}`",
                pending.content_type
            ),
        );
    }
    blobs.objects.insert(
        key,
        Blob {
            bytes,
            content_type: pending.content_type,
        },
    );
    StatusCode::OK.into_response()
}
