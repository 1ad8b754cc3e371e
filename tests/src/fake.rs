//! A scripted HTTP server on 127.0.0.1 for tests of the client core: each test decides what
//! every request is answered with, and reads back what was asked.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// When it arrived, on tokio's clock (paused in most tests).
    pub at: tokio::time::Instant,
}

type Script = Arc<dyn Fn(&Seen, usize) -> Response + Send + Sync>;

/// A running scripted server.
pub struct Fake {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    /// Serves `script`, called with each request and how many came before it.
    pub async fn start(script: impl Fn(&Seen, usize) -> Response + Send + Sync + 'static) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        Fake::start_on(listener, script)
    }

    /// [`Fake::start`] on a listener of the test's choosing (to open a port late).
    pub fn start_on(
        listener: tokio::net::TcpListener,
        script: impl Fn(&Seen, usize) -> Response + Send + Sync + 'static,
    ) -> Fake {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let script: Script = Arc::new(script);
        let record = seen.clone();
        let app = Router::new().fallback(move |request: Request| {
            let record = record.clone();
            let script = script.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                let request = Seen {
                    method: parts.method,
                    path: parts.uri.to_string(),
                    headers: parts.headers,
                    body,
                    at: tokio::time::Instant::now(),
                };
                let index = {
                    let mut seen = record.lock().unwrap();
                    seen.push(request.clone());
                    seen.len() - 1
                };
                script(&request, index)
            }
        });
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { base_url, seen }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests reached `path` (query strings ignored).
    pub fn count(&self, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path.split('?').next() == Some(path))
            .count()
    }
}

/// An answer with `status`, `content_type` and `body`, plus extra headers.
pub fn answer(
    status: u16,
    content_type: &str,
    body: impl Into<Body>,
    headers: &[(&str, &str)],
) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).expect("a status"))
        .header("content-type", content_type);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).expect("a response")
}

/// A JSON answer.
pub fn json(status: u16, value: serde_json::Value) -> Response {
    answer(status, "application/json", value.to_string(), &[])
}

/// An HTTP client without timeouts: under paused time, a pending timeout would let the clock
/// jump while a request is in flight.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().build().expect("a client")
}
