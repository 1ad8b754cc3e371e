//! A canned server, run as a separate process so that its memory is never measured: Hotpot's
//! picture answer, HitPaw's finished job, and a large download.

use std::process::{Child, Command, ExitCode, Stdio};

use axum::Router;
use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine as _;
use bytes::Bytes;
use std::io::BufRead as _;

/// A file that passes pixmill's image check: a PNG signature and header claiming 1024×1024,
/// then `len` bytes in all of varied content.
pub fn picture(len: usize) -> Vec<u8> {
    let mut bytes = vec![
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
        4, 0, 0, 0, 4, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut state = 0x2545_f491_u32;
    while bytes.len() < len {
        // A cheap generator: the content only needs to be varied, not random.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        bytes.push(state as u8);
    }
    bytes.truncate(len);
    bytes
}

/// The server process: `serve PICTURE_BYTES DOWNLOAD_BYTES`. Prints its address, then serves
/// until killed.
pub fn serve_forever(args: &[String]) -> ExitCode {
    let size =
        |index: usize| -> usize { args.get(index).and_then(|a| a.parse().ok()).unwrap_or(0) };
    let (picture_len, download_len) = (size(0), size(1));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address");
        let answer = Bytes::from(format!(
            "{{\"imageBase64\":\"{}\"}}",
            base64::engine::general_purpose::STANDARD.encode(picture(picture_len))
        ));
        let status = Bytes::from(format!(
            "{{\"code\":200,\"data\":{{\"job_id\":\"j\",\"status\":\"COMPLETED\",\"res_url\":\"http://{address}/files/big\"}}}}"
        ));
        let app = Router::new()
            .route(
                "/hotpot/remove-background",
                post(move |body: Bytes| {
                    let answer = answer.clone();
                    async move {
                        // Read the whole request, as a real server would, then answer.
                        drop(body);
                        json(answer)
                    }
                }),
            )
            .route(
                "/hitpaw/api/task-status",
                post(move || {
                    let status = status.clone();
                    async move { json(status) }
                }),
            )
            .route(
                "/files/big",
                get(move || async move {
                    const CHUNK: usize = 64 * 1024;
                    let chunk = Bytes::from(vec![0x5au8; CHUNK]);
                    let chunks = (0..download_len.div_ceil(CHUNK)).map(move |i| {
                        let len = CHUNK.min(download_len - i * CHUNK);
                        Ok::<_, std::io::Error>(chunk.slice(..len))
                    });
                    Response::builder()
                        .header(CONTENT_TYPE, "image/png")
                        .header(CONTENT_LENGTH, download_len)
                        .body(Body::from_stream(futures_util::stream::iter(chunks)))
                        .expect("a response")
                }),
            );
        let app = app.layer(axum::extract::DefaultBodyLimit::disable());
        println!("{address}");
        // The parent holds our stdin: when it goes away, so does the server.
        let orphaned = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        });
        tokio::select! {
            _ = axum::serve(listener, app) => {}
            _ = orphaned => {}
        }
    });
    ExitCode::SUCCESS
}

fn json(body: Bytes) -> Response {
    Response::builder()
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("a response")
}

/// A running server process; killed when dropped.
pub struct Server {
    child: Child,
    pub base_url: String,
}

impl Server {
    /// Starts `pixmill-bench serve` and waits for its address.
    pub fn start(picture_len: usize, download_len: usize) -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["serve", &picture_len.to_string(), &download_len.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the server: {e}"))?;
        let stdout = child.stdout.take().ok_or("no server output")?;
        let mut address = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut address)
            .map_err(|e| e.to_string())?;
        if address.trim().is_empty() {
            return Err("the server printed no address".into());
        }
        Ok(Server {
            child,
            base_url: format!("http://{}", address.trim()),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
