//! What a generated client does to every request.
//!
//! Generated clients carry a [`RequestHooks`] and run [`RequestHooks::apply`] on each request
//! before sending it. It removes the `api-version` header the generator adds (no provider
//! expects it) and adds the headers a caller supplies, such as credentials. Because the headers
//! come from a function called per request, they work with any `reqwest::Client`, including one
//! the caller built, and a token that changes over time is picked up on the next request.
//!
//! Sending goes through [`RequestHooks::execute`]: by default the `reqwest::Client` sends the
//! request as it is; a [`Transport`] can take over (to bound how much of an answer is read,
//! record what happened, or stream a large body).
//!
//! ```
//! use pixmill_spec::hooks::RequestHooks;
//! use reqwest::header::{HeaderMap, HeaderValue};
//!
//! let hooks = RequestHooks::with_headers(|| {
//!     Box::pin(async {
//!         let mut headers = HeaderMap::new();
//!         let mut key = HeaderValue::from_static("secret");
//!         key.set_sensitive(true);
//!         headers.insert("x-api-key", key);
//!         Ok(headers)
//!     })
//! });
//! assert!(!format!("{hooks:?}").contains("secret"));
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use reqwest::header::HeaderMap;

/// The future a header source returns: the headers to add, or why there are none.
pub type HeaderFuture = Pin<Box<dyn Future<Output = Result<HeaderMap, String>> + Send>>;

type HeaderSource = Arc<dyn Fn() -> HeaderFuture + Send + Sync>;

/// The future a [`Transport`] returns.
pub type ResponseFuture<'a> =
    Pin<Box<dyn Future<Output = reqwest::Result<reqwest::Response>> + Send + 'a>>;

/// Sends the requests of a generated client in place of `reqwest::Client::execute`.
pub trait Transport: Send + Sync {
    /// Changes a request once it is complete (after the headers hooks), before it is sent.
    fn prepare(&self, _request: &mut reqwest::Request) -> Result<(), String> {
        Ok(())
    }

    /// Sends `request` for the operation `operation_id` through `http`.
    fn execute<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: reqwest::Request,
        operation_id: &'static str,
    ) -> ResponseFuture<'a>;
}

/// Per-request hooks of a generated client. The default adds nothing and sends as it is.
#[derive(Clone, Default)]
pub struct RequestHooks {
    headers: Option<HeaderSource>,
    transport: Option<Arc<dyn Transport>>,
}

impl RequestHooks {
    /// Hooks that add the headers `source` yields to every request.
    pub fn with_headers(source: impl Fn() -> HeaderFuture + Send + Sync + 'static) -> Self {
        RequestHooks {
            headers: Some(Arc::new(source)),
            transport: None,
        }
    }

    /// These hooks, sending through `transport`.
    pub fn with_transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Sends a prepared request: through the transport when there is one.
    pub async fn execute(
        &self,
        http: &reqwest::Client,
        request: reqwest::Request,
        operation_id: &'static str,
    ) -> reqwest::Result<reqwest::Response> {
        match &self.transport {
            Some(transport) => transport.execute(http, request, operation_id).await,
            None => http.execute(request).await,
        }
    }

    /// Prepares `request`: drops `api-version` and adds the supplied headers, replacing any of
    /// the same name.
    pub async fn apply(&self, request: &mut reqwest::Request) -> Result<(), String> {
        request.headers_mut().remove("api-version");
        if let Some(source) = &self.headers {
            let extra = source().await?;
            for (name, value) in &extra {
                request.headers_mut().insert(name.clone(), value.clone());
            }
        }
        if let Some(transport) = &self.transport {
            transport.prepare(request)?;
        }
        Ok(())
    }
}

impl fmt::Debug for RequestHooks {
    // Header values may be credentials: never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestHooks")
            .field("adds_headers", &self.headers.is_some())
            .field("transport", &self.transport.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn request() -> reqwest::Request {
        reqwest::Client::new()
            .get("http://127.0.0.1:9/")
            .header("api-version", "1.0")
            .header("x-api-key", "old")
            .build()
            .expect("request builds")
    }

    #[test]
    fn default_hooks_only_drop_the_api_version() {
        let mut request = request();
        futures_executor_block_on(RequestHooks::default().apply(&mut request)).unwrap();
        assert!(request.headers().get("api-version").is_none());
        assert_eq!(request.headers()["x-api-key"], "old");
    }

    #[test]
    fn supplied_headers_replace_existing_ones() {
        let hooks = RequestHooks::with_headers(|| {
            Box::pin(async {
                let mut headers = HeaderMap::new();
                headers.insert("x-api-key", HeaderValue::from_static("new"));
                Ok(headers)
            })
        });
        let mut request = request();
        futures_executor_block_on(hooks.apply(&mut request)).unwrap();
        assert_eq!(request.headers()["x-api-key"], "new");
        assert_eq!(request.headers().get_all("x-api-key").iter().count(), 1);
    }

    #[test]
    fn a_failing_source_fails_the_request() {
        let hooks = RequestHooks::with_headers(|| Box::pin(async { Err("no token".to_string()) }));
        let mut request = request();
        assert_eq!(
            futures_executor_block_on(hooks.apply(&mut request)),
            Err("no token".to_string())
        );
    }

    /// Polls a future that never waits on I/O to completion.
    fn futures_executor_block_on<F: Future>(future: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut context) {
                return out;
            }
        }
    }
}
