//! How every request of the generated clients is sent: answers are read only up to a bound, and
//! what happened (status, `Retry-After`, whether the request left, whether the body was cut) is
//! recorded for the call that sent it.
//!
//! The generated clients parse bodies themselves and lose the status when a body is not what the
//! spec promises (an HTML 503 from a gateway). The record keeps it: each attempt of a call runs
//! inside [`CallContext::scope`], and the transport writes into the context of the task that
//! sends the request.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use pixmill_spec::hooks::{ResponseFuture, Transport};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};

use crate::error::Error;
use crate::splice::{ExtractError, RequestSplice, ResponseSplice};

/// Bounds on how much of an answer is read into memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BodyLimits {
    /// JSON answers with a success status.
    pub answer: usize,
    /// Bodies of error answers, whatever their type.
    pub error: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            // Hotpot answers carry whole pictures as base64.
            answer: 256 << 20,
            error: 64 << 10,
        }
    }
}

/// What the transport saw while one attempt of a call ran.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// The answer's status, when one arrived, and the headers of an error answer.
    pub status: Option<u16>,
    pub headers: Option<HeaderMap>,
    /// The body was longer than the limit and was cut.
    pub truncated: bool,
    /// A failure that a request hook (credentials) could only report as text.
    pub hook_error: Option<Error>,
    /// Which credentials the request carried, for refreshing them after a 401.
    pub auth_generation: Option<u64>,
    /// Decoding a streamed answer failed in a way the generated client cannot carry.
    pub splice_error: Option<SpliceFailure>,
}

/// Why a streamed answer could not be decoded.
#[derive(Debug)]
pub(crate) enum SpliceFailure {
    /// Writing the destination failed.
    Io(std::io::Error),
    /// The picture was not valid.
    Body(String),
}

/// The pictures of a call that travel as streams (see [`crate::splice`]).
#[derive(Debug, Default)]
pub(crate) struct Splices {
    pub request: Option<RequestSplice>,
    pub response: Option<ResponseSplice>,
}

/// The record of one attempt, shared between the call and the transport.
#[derive(Debug, Default)]
pub(crate) struct CallContext {
    record: Mutex<Record>,
    splices: Mutex<Option<Arc<Splices>>>,
}

tokio::task_local! {
    static CONTEXT: Arc<CallContext>;
}

impl CallContext {
    /// Runs `future` with this context as the one the transport and hooks write to.
    pub(crate) async fn scope<F: Future>(self: &Arc<Self>, future: F) -> F::Output {
        CONTEXT.scope(self.clone(), future).await
    }

    /// The context of the attempt running in this task, if any.
    pub(crate) fn current() -> Option<Arc<CallContext>> {
        CONTEXT.try_with(Arc::clone).ok()
    }

    /// Changes the record.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Record)) {
        change(&mut self.record.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Streams the pictures of this attempt through `splices`.
    pub(crate) fn set_splices(&self, splices: Option<Arc<Splices>>) {
        *self.splices.lock().unwrap_or_else(|p| p.into_inner()) = splices;
    }

    fn splices(&self) -> Option<Arc<Splices>> {
        self.splices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes the record, leaving an empty one.
    pub(crate) fn take(&self) -> Record {
        std::mem::take(&mut *self.record.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The transport of every generated client pixmill builds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BoundedTransport {
    pub limits: BodyLimits,
}

impl Transport for BoundedTransport {
    fn prepare(&self, request: &mut reqwest::Request) -> Result<(), String> {
        let splices = CallContext::current().and_then(|c| c.splices());
        match splices.as_ref().and_then(|s| s.request.as_ref()) {
            Some(splice) => splice.apply(request),
            None => Ok(()),
        }
    }

    fn execute<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: reqwest::Request,
        _operation_id: &'static str,
    ) -> ResponseFuture<'a> {
        Box::pin(async move {
            let response = http.execute(request).await?;
            self.bound(response).await
        })
    }
}

impl BoundedTransport {
    /// Records the answer and, unless it is a file streamed on success, reads its body up to the
    /// limit and hands on a response holding just those bytes.
    pub(crate) async fn bound(
        &self,
        response: reqwest::Response,
    ) -> reqwest::Result<reqwest::Response> {
        let status = response.status();
        let context = CallContext::current();
        if let Some(context) = &context {
            context.update(|record| {
                record.status = Some(status.as_u16());
                // Only an error needs them again (Retry-After), once its body has been read.
                if !status.is_success() {
                    record.headers = Some(response.headers().clone());
                }
            });
        }
        let limit = if status.is_success() {
            if !is_json(response.headers()) {
                // Files (a GIF, an MP4) are streamed to their destination, never buffered.
                return Ok(response);
            }
            self.limits.answer
        } else {
            self.limits.error
        };
        let version = response.version();
        let mut headers = response.headers().clone();
        let splice = context
            .as_ref()
            .and_then(|c| c.splices())
            .filter(|s| status.is_success() && s.response.is_some());
        let (body, truncated) = match splice.as_ref().and_then(|s| s.response.as_ref()) {
            Some(splice) => match splice.extract(response, limit).await {
                Ok(cut) => cut,
                Err(ExtractError::Transport(error)) => return Err(error),
                Err(ExtractError::Io(error)) => {
                    record_splice_error(&context, SpliceFailure::Io(error));
                    (Bytes::new(), false)
                }
                Err(ExtractError::Body(reason)) => {
                    record_splice_error(&context, SpliceFailure::Body(reason));
                    (Bytes::new(), false)
                }
            },
            None => read_bounded(response, limit).await?,
        };
        headers.remove(CONTENT_LENGTH);
        if truncated && let Some(context) = &context {
            context.update(|record| record.truncated = true);
        }
        headers.insert(CONTENT_LENGTH, body.len().into());
        let mut rebuilt = http::Response::new(body);
        *rebuilt.status_mut() = status;
        *rebuilt.version_mut() = version;
        *rebuilt.headers_mut() = headers;
        Ok(reqwest::Response::from(rebuilt))
    }
}

fn record_splice_error(context: &Option<Arc<CallContext>>, error: SpliceFailure) {
    if let Some(context) = context {
        context.update(|record| record.splice_error = Some(error));
    }
}

/// Whether a body is JSON (or says nothing of its type, in which case it is treated as JSON).
fn is_json(headers: &HeaderMap) -> bool {
    match headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(value) => {
            let essence = value.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/json")
                || essence.to_ascii_lowercase().ends_with("+json")
                || essence.eq_ignore_ascii_case("text/json")
        }
    }
}

/// Reads at most `limit` bytes of the body; the flag tells whether more followed.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> reqwest::Result<(Bytes, bool)> {
    let announced = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body = BytesMut::with_capacity(announced.min(limit));
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body.freeze(), true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_told_by_the_content_type() {
        let mut headers = HeaderMap::new();
        assert!(is_json(&headers));
        headers.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&headers));
        headers.insert(CONTENT_TYPE, "application/problem+json".parse().unwrap());
        assert!(is_json(&headers));
        headers.insert(CONTENT_TYPE, "image/gif".parse().unwrap());
        assert!(!is_json(&headers));
    }

    #[tokio::test]
    async fn contexts_are_per_task_and_taken_once() {
        let context = Arc::new(CallContext::default());
        context
            .scope(async {
                CallContext::current()
                    .unwrap()
                    .update(|r| r.status = Some(503));
            })
            .await;
        assert!(CallContext::current().is_none());
        assert_eq!(context.take().status, Some(503));
        assert_eq!(context.take().status, None);
    }
}
