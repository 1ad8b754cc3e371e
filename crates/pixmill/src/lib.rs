//! Typed, ergonomic clients for AI image APIs: **Hotpot.ai**, **HitPaw**, **Segmind** and
//! **Perfect Corp**.
//!
//! Each provider has a module with a `Client` (`new(key)`, `from_env()`, `builder()`) whose
//! methods take typed options, check inputs against the provider's documented limits before
//! anything is sent, retry what is safe to retry, poll long-running jobs and return
//! [`Output`]s that stream to files or writers.
//!
//! ```no_run
//! # async fn demo() -> pixmill::Result<()> {
//! use pixmill::hitpaw::{Client, Model};
//!
//! let hitpaw = Client::from_env()?;
//! let output = hitpaw
//!     .enhance("portrait.jpg")
//!     .model(Model::General2x)
//!     .send()
//!     .await?
//!     .wait()
//!     .await?;
//! output.result().save("portrait-2x.jpg").await?;
//! # Ok(()) }
//! ```
//!
//! # One shape for every provider
//!
//! - Clients are built by one [`ClientBuilder`] (base URL, timeouts, [`RetryPolicy`],
//!   [`PollPolicy`], user agent, an existing `reqwest::Client`); every constructor returns
//!   `Result`; clients are cheap to clone and share one connection pool.
//! - Long-running work returns a job handle whose `wait()` polls with one engine, at the
//!   provider's documented cadence, with jitter and a deadline.
//! - Results are [`Output`]s: `bytes()`, `save(path)` (atomic), `write_to(writer)`.
//! - Every failure is an [`Error`] with [`Error::kind`], [`Error::provider`],
//!   [`Error::status`], [`Error::code`], [`Error::retry_after`] and [`Error::is_retryable`].
//!
//! # Same task, any provider
//!
//! [`ops`] runs a task (remove a background, upscale, colorize, restore, generate) on
//! whichever provider has credentials, with options that mean the same everywhere, and moves
//! to the next provider only when a failure charged nothing.
//!
//! # Errors and retries
//!
//! Bad input is an [`Error::InvalidInput`] raised before any request. Calls are retried on
//! 429, 503 and connection failures with exponential backoff and jitter, honouring
//! `Retry-After`. A call that spends credits is never re-sent once it may have reached the
//! provider: a failure after sending, or a 5xx answer, is [`Error::OutcomeUnknown`]. Every
//! error answer keeps its status whatever its body (an HTML page from a gateway, plain text),
//! and bodies are read only up to a bound.
//!
//! # Spec facts
//!
//! Enum values, ranges, defaults, error codes, limits, rate limits and polling cadences come
//! from the providers' specs through the generated crates ([`raw`]); nothing here repeats
//! them.
//!
//! # Credentials
//!
//! Keys are held as `secrecy::SecretString`, sent as sensitive headers, and never appear in
//! `Debug` output, errors or logs.
//!
//! # Features
//!
//! `hotpot`, `hitpaw`, `segmind`, `perfect` (all on by default) select the providers;
//! `perfect` brings both of Perfect's APIs, the older one ([`perfect`]) and V2
//! ([`perfect::v2`]). `rustls` (default) or `native-tls` select the TLS backend.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Shared helpers serve some providers only; the default build (all providers) still reports
// dead code.
#![cfg_attr(
    not(all(
        feature = "hotpot",
        feature = "hitpaw",
        feature = "segmind",
        feature = "perfect"
    )),
    allow(dead_code, unused_imports)
)]

pub mod activity;
pub mod client;
mod error;
mod image;
pub mod ops;
mod output;
mod poll;
mod retry;
mod splice;
mod transport;

#[cfg(test)]
mod fuzz;

#[cfg(feature = "hitpaw")]
pub mod hitpaw;
#[cfg(feature = "hotpot")]
pub mod hotpot;
#[cfg(feature = "perfect")]
pub mod perfect;
#[cfg(feature = "segmind")]
pub mod segmind;

pub use client::{ClientBuilder, DEFAULT_USER_AGENT};
pub use error::{ConfigError, Error, ErrorCode, ErrorKind, Provider, Result};
pub use image::{ImageFormat, ImageInfo, ImageInput, InputError};
pub use output::{Output, Progress};
pub use poll::PollPolicy;
pub use retry::RetryPolicy;

/// The HTTP client pixmill is built on, for building a `reqwest::Client` to share with
/// [`ClientBuilder::http_client`].
pub use reqwest;

/// The generated clients, one per provider, for raw access to every operation and type of its
/// spec. A pixmill client gives access to its own with `api()`.
///
/// ```no_run
/// # async fn demo() -> pixmill::Result<()> {
/// use pixmill::raw::hitpaw::types::TaskStatusRequest;
///
/// let client = pixmill::hitpaw::Client::from_env()?;
/// // Every generated operation, with credentials and the bounded transport already set up.
/// let answer = client
///     .api()
///     .task_status()
///     .body(TaskStatusRequest { job_id: "f5007c0b".into() })
///     .send()
///     .await;
/// # let _ = answer; Ok(()) }
/// ```
pub mod raw {
    #[cfg(feature = "hitpaw")]
    pub use pixmill_hitpaw_api as hitpaw;
    #[cfg(feature = "hotpot")]
    pub use pixmill_hotpot_api as hotpot;
    #[cfg(feature = "perfect")]
    pub use pixmill_perfect_api as perfect;
    #[cfg(feature = "perfect")]
    pub use pixmill_perfect_v2_api as perfect_v2;
    #[cfg(feature = "segmind")]
    pub use pixmill_segmind_api as segmind;
    /// Types the generated crates share: input limits, facts, hooks.
    pub use pixmill_spec as spec;
}
