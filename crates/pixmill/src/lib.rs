//! Typed, ergonomic clients for AI image APIs: **Hotpot.ai**, **HitPaw**, **Segmind** and
//! **Perfect Corp**.
//!
//! Each provider has a module with a `Client` (`new(key)`, `from_env()`, `builder()`) whose
//! methods take typed options, check inputs against the provider's documented limits before
//! anything is sent, retry what is safe to retry, poll long-running jobs and stream results to
//! files or writers.
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
//! output.download_to("portrait-2x.jpg").await?;
//! # Ok(()) }
//! ```
//!
//! # Errors and retries
//!
//! Every call returns [`Error`]: its [`Error::provider`], [`Error::status`] and [`Error::code`]
//! tell what failed, and bad input is an [`Error::InvalidInput`] raised before any request.
//! Calls are retried on 429, 503 and connection failures with exponential backoff and jitter,
//! honouring `Retry-After` ([`RetryPolicy`]). A call that spends credits is never re-sent once
//! it may have reached the provider: a failure after sending is [`Error::OutcomeUnknown`].
//!
//! # Credentials
//!
//! Keys are held as `secrecy::SecretString`, sent as sensitive headers, and never appear in
//! `Debug` output, errors or logs.
//!
//! # Features
//!
//! `hotpot`, `hitpaw`, `segmind`, `perfect` (all on by default) select the providers;
//! `rustls` (default) or `native-tls` select the TLS backend.
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
    allow(dead_code)
)]

mod download;
mod error;
mod image;
mod poll;
mod retry;
mod settings;

#[cfg(feature = "hitpaw")]
pub mod hitpaw;
#[cfg(feature = "hotpot")]
pub mod hotpot;
#[cfg(feature = "perfect")]
pub mod perfect;
#[cfg(feature = "segmind")]
pub mod segmind;

pub use error::{Error, ErrorCode, Provider, Result};
pub use image::{ImageFormat, ImageInfo, ImageInput, InputError};
pub use poll::PollPolicy;
pub use retry::RetryPolicy;
pub use settings::DEFAULT_USER_AGENT;
