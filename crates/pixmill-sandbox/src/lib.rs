//! A local, stateful emulator of the Hotpot, HitPaw, Segmind and Perfect Corp APIs.
//!
//! Tests, examples and users point pixmill (or any HTTP client) at the sandbox to work offline
//! and without spending credits. It serves every operation of `specs/`, under each provider's
//! own paths, and behaves like the providers where it matters to a client:
//!
//! - auth as documented, including Perfect's RSA `id_token` exchange and expiring tokens, and
//!   the API key of Perfect's V2 API, served beside the older one under the same base URL;
//! - async work: HitPaw jobs and Perfect tasks run for a configurable time, Perfect tasks are
//!   lost when not polled, `request_id` makes Perfect's run-task idempotent;
//! - real, cheap image work (upscaling, cut-outs with transparency, colourizing, dominant
//!   colours, animated GIFs) so results can be checked;
//! - documented input checks and error codes, per-provider balances with a record of every
//!   charge, Perfect's rate limits;
//! - fault injection per route: error statuses, 429 with `Retry-After`, malformed JSON, delays
//!   and dropped connections, and jobs that end in error.
//!
//! Where the documents are silent, the sandbox decides, and says so here:
//!
//! - Hotpot, Segmind: one credit per call ([`SandboxConfig::hotpot_price`],
//!   [`SandboxConfig::segmind_price`]); an invalid Segmind parameter answers 400 `{error}`.
//!   Every Segmind MP4 answer is the same one-second H.264 clip at the spec's default size,
//!   whatever the prompt, seed and size; GIF answers follow all three. A request without a
//!   seed gets a random one, reported in `x-seed-value`.
//! - Every provider: a `null` anywhere in a request body and an empty string where the spec
//!   asks for at least one character are refused with the provider's error for a bad
//!   parameter, naming the field (``` `files[0].file_name` must not be empty ```).
//! - The AI features are stand-ins: each maps onto a plain transform whose effect a test can
//!   see (scale, cut-out, tint, mask fill, mosaic); see [`imaging`].
//! - HitPaw: coins are taken when a job is accepted and not refunded when it ends in `ERROR`;
//!   an input that is not an image, or not in an accepted format, answers 110400007; inputs are
//!   fetched only from loopback URLs unless [`SandboxConfig::allow_remote_fetch`] is set.
//! - Perfect: a lost task reports `status: error` with `unknown_internal_error`; an exhausted
//!   balance answers 402 with `error_code: InsufficientCredits`; an unknown or expired token
//!   answers 401 with `InvalidAccessToken`; rate-limited requests answer 429 without
//!   `Retry-After` (injected 429 faults carry one); a repeated `request_id` with the same files
//!   answers with the original `task_id`; engine checks (size, format, long side, mask size)
//!   end the task in `error` with the documented engine code rather than failing the run call.
//! - Perfect V2: a bad API key answers 401 `InvalidApiKey`; tasks take as long as the older
//!   API's, carry no `polling_interval`, and expire after the older API's 10-second window
//!   (400 `InvalidTaskId` from then on, free); units are the shared Perfect balance at each
//!   feature's documented price, taken on success; URL inputs are fetched like HitPaw's;
//!   upload slots stay open as long as the older API keeps uploads; injected faults answer
//!   with V2's error body, whose `error_code` is left out where the documents name none (429,
//!   5xx).
//! - Result and upload files are served by the sandbox itself under `/_files/` and
//!   `/_uploads/`, style thumbnails under `/_thumbs/`.
//! - Perfect's client secret belongs to a key pair committed with the sandbox, so a sandbox
//!   starts at once and every sandbox has the same secret;
//!   [`SandboxConfig::with_fresh_key`] makes a key pair of its own.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use pixmill_sandbox::{Fault, FaultRule, Provider, Sandbox};
//!
//! let sandbox = Sandbox::start().await?;
//! let base = sandbox.base_url(Provider::Hitpaw); // http://127.0.0.1:PORT/hitpaw
//! let key = &sandbox.credentials().hitpaw_api_key;
//! sandbox.inject(FaultRule::new(Provider::Hitpaw, "/api/task-status", Fault::Status(503)).times(2));
//! # let _ = (base, key);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
mod config;
mod errors;
mod faults;
mod hitpaw;
mod hotpot;
pub mod imaging;
mod ledger;
mod perfect;
mod perfect_v2;
mod provider;
mod ratelimit;
mod segmind;
mod server;
mod shared;
mod traffic;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use tokio_util::sync::CancellationToken;

pub use config::{Balances, PerfectKey, RateLimit, SandboxConfig};
pub use faults::{Fault, FaultRule, JobFailure};
pub use ledger::Charge;
pub use provider::Provider;
pub use shared::Credentials;
pub use traffic::Exchange;

use base64::Engine as _;
use shared::{Shared, lock};

/// A running sandbox. It stops when dropped or on [`Sandbox::shutdown`].
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Starts a sandbox with the default settings on a free loopback port.
    pub async fn start() -> io::Result<Sandbox> {
        Sandbox::start_with(SandboxConfig::default()).await
    }

    /// Starts a sandbox with `config`.
    pub async fn start_with(config: SandboxConfig) -> io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let perfect_key = perfect_key(config.perfect_key).await?;
        let secret = perfect_key
            .to_public_key()
            .to_public_key_der()
            .map_err(io::Error::other)?;
        let credentials = Credentials {
            hotpot_api_key: random_token("hotpot-"),
            hitpaw_api_key: random_token("hitpaw-"),
            segmind_api_key: random_token("SG_"),
            perfect_client_id: random_token(""),
            perfect_client_secret: base64::engine::general_purpose::STANDARD
                .encode(secret.as_bytes()),
            perfect_api_key: random_token("sk-"),
        };
        let origin = format!("http://{addr}");
        let shared = Arc::new(Shared::new(config, origin, credentials, perfect_key));
        let shutdown = CancellationToken::new();
        let app = server::router(shared.clone());
        let server = tokio::spawn(server::serve(listener, app, shutdown.clone()));
        tracing::info!(%addr, "sandbox listening");
        Ok(Sandbox {
            shared,
            addr,
            shutdown,
            server: Some(server),
        })
    }

    /// The address the sandbox listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give a client of `provider` (`http://127.0.0.1:PORT/hitpaw`).
    pub fn base_url(&self, provider: Provider) -> String {
        format!("{}{}", self.shared.origin, provider.prefix())
    }

    /// The credentials this sandbox accepts.
    pub fn credentials(&self) -> &Credentials {
        &self.shared.credentials
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// The environment variables that point pixmill's `from_env()` at this sandbox.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        let c = &self.shared.credentials;
        vec![
            ("HOTPOT_BASE_URL", self.base_url(Provider::Hotpot)),
            ("HOTPOT_API_KEY", c.hotpot_api_key.clone()),
            ("HITPAW_BASE_URL", self.base_url(Provider::Hitpaw)),
            ("HITPAW_API_KEY", c.hitpaw_api_key.clone()),
            ("SEGMIND_BASE_URL", self.base_url(Provider::Segmind)),
            ("SEGMIND_API_KEY", c.segmind_api_key.clone()),
            ("PERFECT_BASE_URL", self.base_url(Provider::Perfect)),
            ("PERFECT_CLIENT_ID", c.perfect_client_id.clone()),
            ("PERFECT_CLIENT_SECRET", c.perfect_client_secret.clone()),
            ("PERFECT_API_KEY", c.perfect_api_key.clone()),
        ]
    }

    /// [`Sandbox::env_vars`] as shell lines, one `export NAME=value` per line.
    pub fn exports(&self) -> String {
        self.env_vars()
            .into_iter()
            .map(|(name, value)| format!("export {name}={value}\n"))
            .collect()
    }

    /// Adds a fault rule.
    pub fn inject(&self, rule: FaultRule) {
        lock(&self.shared.faults).add(rule);
    }

    /// Makes the next `times` presigned uploads (HitPaw's and Perfect's) suffer `fault`.
    pub fn inject_upload_fault(&self, fault: Fault, times: u32) {
        lock(&self.shared.faults).add_upload_fault(fault, times);
    }

    /// Makes the next HitPaw jobs or Perfect tasks end in error.
    pub fn fail_next_jobs(&self, failure: JobFailure) {
        lock(&self.shared.faults).add_job_failure(failure);
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// A provider's current balance.
    pub fn balance(&self, provider: Provider) -> i64 {
        lock(&self.shared.ledger).balance(provider)
    }

    /// Sets a provider's balance (to test running out of credits).
    pub fn set_balance(&self, provider: Provider, amount: i64) {
        lock(&self.shared.ledger).set_balance(provider, amount);
    }

    /// Every charge so far, oldest first.
    pub fn charges(&self) -> Vec<Charge> {
        lock(&self.shared.ledger).charges()
    }

    /// Every exchange so far, oldest first.
    pub fn traffic(&self) -> Vec<Exchange> {
        lock(&self.shared.traffic).clone()
    }

    /// How many requests reached `provider`'s `path` with `method`.
    pub fn request_count(&self, provider: Provider, method: &str, path: &str) -> usize {
        lock(&self.shared.traffic)
            .iter()
            .filter(|e| {
                e.provider == Some(provider)
                    && e.method.eq_ignore_ascii_case(method)
                    && e.path == path
            })
            .count()
    }

    /// How many Perfect tasks (of either API) were lost because their client stopped polling
    /// in time.
    pub fn lost_tasks(&self) -> usize {
        lock(&self.shared.perfect).lost_tasks + lock(&self.shared.perfect_v2).lost_tasks
    }

    /// How many requests Perfect's rate limits refused with 429 (injected faults not counted).
    pub fn rate_limited(&self) -> usize {
        lock(&self.shared.perfect).rate_limited
    }

    /// Stops serving and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The committed key pair, PKCS#8 PEM.
const FIXED_PERFECT_KEY_PEM: &str = include_str!("../data/perfect-key.pem");

async fn perfect_key(choice: PerfectKey) -> io::Result<rsa::RsaPrivateKey> {
    match choice {
        PerfectKey::Fixed => {
            // Parsed once per process: tests start many sandboxes.
            static FIXED: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
            if let Some(key) = FIXED.get() {
                return Ok(key.clone());
            }
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(FIXED_PERFECT_KEY_PEM)
                .map_err(io::Error::other)?;
            Ok(FIXED.get_or_init(|| key).clone())
        }
        // Key generation is CPU work; keep it off the async workers.
        PerfectKey::Fresh => {
            tokio::task::spawn_blocking(|| rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048))
                .await
                .map_err(io::Error::other)?
                .map_err(io::Error::other)
        }
    }
}

fn random_token(prefix: &str) -> String {
    use rand::Rng as _;
    let bytes: [u8; 16] = rand::thread_rng().r#gen();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}
