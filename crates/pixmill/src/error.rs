//! The one error type of pixmill.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::image::InputError;

/// Which API an error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// Hotpot.ai.
    Hotpot,
    /// HitPaw.
    Hitpaw,
    /// Segmind.
    Segmind,
    /// Perfect Corp.
    Perfect,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Hotpot => "Hotpot",
            Provider::Hitpaw => "HitPaw",
            Provider::Segmind => "Segmind",
            Provider::Perfect => "Perfect Corp",
        })
    }
}

/// A provider's own error code, typed where the provider documents its codes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// One of HitPaw's numeric codes.
    #[cfg(feature = "hitpaw")]
    Hitpaw(crate::hitpaw::ErrorCode),
    /// Perfect's `error_code` of an HTTP error.
    Perfect(String),
    /// The engine error a Perfect task ended with.
    #[cfg(feature = "perfect")]
    PerfectEngine(crate::perfect::EngineErrorCode),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "hitpaw")]
            ErrorCode::Hitpaw(code) => write!(f, "{code}"),
            ErrorCode::Perfect(code) => f.write_str(code),
            #[cfg(feature = "perfect")]
            ErrorCode::PerfectEngine(code) => write!(f, "{code}"),
        }
    }
}

/// Everything that can go wrong, from bad input to a job that failed on the provider's side.
///
/// Use the accessors ([`Error::provider`], [`Error::status`], [`Error::code`],
/// [`Error::is_retryable`]) rather than matching, so new variants do not break your code.
///
/// ```
/// # fn show(error: pixmill::Error) {
/// match error.status() {
///     Some(402) => eprintln!("out of credits: {error}"),
///     _ => eprintln!("{error}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input breaks a documented limit; nothing was sent.
    #[error(transparent)]
    InvalidInput(#[from] InputError),

    /// The provider answered with an error status.
    #[error("{provider} {operation} failed with HTTP {status}{}: {message}", code_suffix(code.as_ref()))]
    Api {
        /// Who answered.
        provider: Provider,
        /// The operation (`photo_enhancer`, `supersize_image`, ...).
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// The provider's error code, when its body carries one.
        code: Option<ErrorCode>,
        /// The provider's message.
        message: String,
        /// How long the provider asked to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },

    /// A job or task ended in error on the provider's side.
    #[error("{provider} job {job_id} failed{}: {message}", code_suffix(code.as_ref()))]
    JobFailed {
        /// Who ran it.
        provider: Provider,
        /// The job or task id.
        job_id: String,
        /// The provider's error code, if it gave one.
        code: Option<ErrorCode>,
        /// What is known about the failure.
        message: String,
    },

    /// The answer could not be understood (for example malformed JSON).
    #[error("{provider} {operation}: unreadable answer{}: {reason}; body starts with {excerpt:?}", status_suffix(*status))]
    InvalidResponse {
        /// Who answered.
        provider: Provider,
        /// The operation.
        operation: &'static str,
        /// HTTP status, when known.
        status: Option<u16>,
        /// Why it could not be read.
        reason: String,
        /// The first bytes of the body, as text.
        excerpt: String,
    },

    /// A request that spends credits failed after it may have reached the provider. It was not
    /// re-sent, because that could charge twice; check your account before trying again.
    #[error(
        "{provider} {operation}: the outcome is unknown: the connection failed after the request was sent, so it may have been processed and charged; it was not retried ({source})"
    )]
    OutcomeUnknown {
        /// Who was called.
        provider: Provider,
        /// The operation.
        operation: &'static str,
        /// The transport failure.
        #[source]
        source: reqwest::Error,
    },

    /// The provider could not be reached, or the connection failed.
    #[error("{provider} {operation}: could not reach the provider: {source}")]
    Transport {
        /// Who was called.
        provider: Provider,
        /// The operation.
        operation: &'static str,
        /// The transport failure.
        #[source]
        source: reqwest::Error,
    },

    /// A deadline passed before the call or job finished.
    #[error("{provider} {operation}: gave up after {elapsed:?} (deadline {deadline:?}){}", last_suffix(last_error.as_deref()))]
    Timeout {
        /// Who was called.
        provider: Provider,
        /// The operation, or `wait` for polling.
        operation: &'static str,
        /// How long it tried.
        elapsed: Duration,
        /// The deadline it had.
        deadline: Duration,
        /// The last failure before giving up, if any.
        last_error: Option<Box<Error>>,
    },

    /// Reading or writing a local file or stream failed.
    #[error("{}: {source}", path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "I/O".into()))]
    Io {
        /// The file involved, if any.
        path: Option<PathBuf>,
        /// The failure.
        #[source]
        source: std::io::Error,
    },

    /// The client is not configured correctly (a missing environment variable, a bad URL).
    #[error("configuration: {0}")]
    Config(String),
}

fn code_suffix(code: Option<&ErrorCode>) -> String {
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

fn status_suffix(status: Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

fn last_suffix(last: Option<&Error>) -> String {
    last.map(|e| format!("; last error: {e}"))
        .unwrap_or_default()
}

impl Error {
    /// The provider involved, if the error came from one.
    pub fn provider(&self) -> Option<Provider> {
        match self {
            Error::Api { provider, .. }
            | Error::JobFailed { provider, .. }
            | Error::InvalidResponse { provider, .. }
            | Error::OutcomeUnknown { provider, .. }
            | Error::Transport { provider, .. }
            | Error::Timeout { provider, .. } => Some(*provider),
            Error::InvalidInput(_) | Error::Io { .. } | Error::Config(_) => None,
        }
    }

    /// The HTTP status of the provider's answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::InvalidResponse { status, .. } => *status,
            Error::Timeout { last_error, .. } => last_error.as_ref().and_then(|e| e.status()),
            _ => None,
        }
    }

    /// The provider's error code, if it gave one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Api { code, .. } | Error::JobFailed { code, .. } => code.as_ref(),
            _ => None,
        }
    }

    /// Whether trying the same call again later may succeed (rate limits, server errors,
    /// connection failures). Bad input, auth failures and failed jobs are not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { status, .. } => *status == 429 || *status >= 500,
            Error::Transport { .. } | Error::Timeout { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<Option<PathBuf>>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The first bytes of a body, as text, for messages about unreadable answers.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const LIMIT: usize = 200;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(LIMIT)]).into_owned();
    if bytes.len() > LIMIT {
        format!("{text}…")
    } else {
        text
    }
}

/// A convenient alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
