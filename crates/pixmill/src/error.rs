//! The one error type of pixmill.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::image::InputError;

/// Which API an error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Provider {
    /// Hotpot.ai.
    Hotpot,
    /// HitPaw.
    Hitpaw,
    /// Segmind.
    Segmind,
    /// Perfect Corp, the older API authenticated with a client id and secret.
    Perfect,
    /// Perfect Corp's V2 API, authenticated with an API key.
    PerfectV2,
}

impl Provider {
    /// Every provider, in a stable order.
    pub const ALL: &'static [Provider] = &[
        Provider::Hotpot,
        Provider::Hitpaw,
        Provider::Segmind,
        Provider::Perfect,
        Provider::PerfectV2,
    ];

    /// The lowercase name used in module paths, variables and the command line (`hitpaw`).
    pub const fn id(self) -> &'static str {
        match self {
            Provider::Hotpot => "hotpot",
            Provider::Hitpaw => "hitpaw",
            Provider::Segmind => "segmind",
            Provider::Perfect => "perfect",
            Provider::PerfectV2 => "perfect-v2",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Hotpot => "Hotpot",
            Provider::Hitpaw => "HitPaw",
            Provider::Segmind => "Segmind",
            Provider::Perfect => "Perfect Corp",
            Provider::PerfectV2 => "Perfect Corp (V2)",
        })
    }
}

impl std::str::FromStr for Provider {
    type Err = Error;

    /// Parses [`Provider::id`] (any case).
    fn from_str(text: &str) -> Result<Provider> {
        Provider::ALL
            .iter()
            .copied()
            .find(|p| p.id().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                Error::Config(ConfigError::Invalid(format!(
                    "`{text}` is not a provider (one of: {})",
                    Provider::ALL
                        .iter()
                        .map(|p| p.id())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            })
    }
}

/// A provider's own error code, typed where the provider documents its codes. Codes a provider
/// does not document are kept in the `Other`/`Unknown` fallback of each type.
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
    /// Perfect V2's `error_code` of an HTTP error.
    #[cfg(feature = "perfect")]
    PerfectV2(crate::perfect::v2::ErrorCode),
    /// The engine error a Perfect V2 task ended with.
    #[cfg(feature = "perfect")]
    PerfectV2Engine(crate::perfect::v2::EngineErrorCode),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "hitpaw")]
            ErrorCode::Hitpaw(code) => write!(f, "{code}"),
            ErrorCode::Perfect(code) => f.write_str(code),
            #[cfg(feature = "perfect")]
            ErrorCode::PerfectEngine(code) => write!(f, "{code}"),
            #[cfg(feature = "perfect")]
            ErrorCode::PerfectV2(code) => write!(f, "{code}"),
            #[cfg(feature = "perfect")]
            ErrorCode::PerfectV2Engine(code) => write!(f, "{code}"),
        }
    }
}

/// What kind of failure an [`Error`] is, for callers that branch on it.
///
/// ```
/// # fn handle(error: pixmill::Error) {
/// use pixmill::ErrorKind;
///
/// match error.kind() {
///     ErrorKind::RateLimited => eprintln!("slow down; retry after {:?}", error.retry_after()),
///     ErrorKind::OutcomeUnknown => eprintln!("check the account before trying again"),
///     _ => eprintln!("{error}"),
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input breaks a documented limit; nothing was sent.
    InvalidInput,
    /// The provider cannot honour an option; nothing was sent.
    Unsupported,
    /// The client is misconfigured (a missing variable, a bad URL or secret).
    Configuration,
    /// The credentials were refused (HTTP 401 or 403).
    Authentication,
    /// The account has no credits left (HTTP 402, or the provider's own signal).
    InsufficientCredits,
    /// Too many requests (HTTP 429).
    RateLimited,
    /// Another refusal of the request (HTTP 4xx).
    Rejected,
    /// The provider failed or is unavailable (HTTP 5xx).
    ServerError,
    /// A job or task ended in error on the provider's side.
    JobFailed,
    /// A job finished without a result pixmill expected (a mask, a file).
    MissingResult,
    /// The answer could not be understood.
    InvalidResponse,
    /// A request that spends credits failed after it may have been processed.
    OutcomeUnknown,
    /// The provider could not be reached or the connection failed.
    Transport,
    /// A deadline passed.
    Timeout,
    /// A local file or stream failed.
    Io,
}

impl ErrorKind {
    /// A stable snake_case name (`rate_limited`), for logs and machine-readable reports.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Authentication => "authentication",
            ErrorKind::InsufficientCredits => "insufficient_credits",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Rejected => "rejected",
            ErrorKind::ServerError => "server_error",
            ErrorKind::JobFailed => "job_failed",
            ErrorKind::MissingResult => "missing_result",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::OutcomeUnknown => "outcome_unknown",
            ErrorKind::Transport => "transport",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
        }
    }
}

/// Why a client could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable that is needed is not set.
    #[error("the environment variable {0} is not set")]
    MissingVariable(&'static str),
    /// A required setting was not given to the builder.
    #[error("{0} is required")]
    MissingSetting(&'static str),
    /// A setting has a value that cannot work.
    #[error("{0}")]
    Invalid(String),
    /// The HTTP client could not be built (TLS backend, proxy).
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

/// Everything that can go wrong, from bad input to a job that failed on the provider's side.
///
/// Use the accessors ([`Error::kind`], [`Error::provider`], [`Error::status`],
/// [`Error::code`], [`Error::retry_after`], [`Error::is_retryable`]) rather than matching
/// variants, so new variants do not break your code.
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

    /// The provider cannot do what was asked (an upscale factor it does not offer, a format it
    /// cannot produce); nothing was sent.
    #[error("{provider} cannot {option}: {reason}")]
    #[non_exhaustive]
    Unsupported {
        /// The provider asked.
        provider: Provider,
        /// What was asked (`upscale by 8`, `output webp`).
        option: String,
        /// Why it cannot.
        reason: String,
    },

    /// The provider answered with an error status.
    #[error("{provider} {operation} failed with HTTP {status}{}: {message}{}", code_suffix(code.as_ref()), wait_suffix(*retry_after))]
    #[non_exhaustive]
    Api {
        /// Who answered.
        provider: Provider,
        /// The operation (`photo_enhancer`, `supersize_image`, ...).
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// The provider's error code, when its body carries one.
        code: Option<ErrorCode>,
        /// The provider's message, or the start of the body when it is not the provider's
        /// error format (an HTML gateway page), clipped to a few hundred characters.
        message: String,
        /// How long the provider asked to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },

    /// The provider asked to wait (`Retry-After`) longer than the retry policy allows; the call
    /// was not repeated.
    #[error("{provider} {operation} answered HTTP {status} and asked to wait {}, longer than the retry policy's longest wait of {}", secs(*retry_after), secs(*limit))]
    #[non_exhaustive]
    Throttled {
        /// Who answered.
        provider: Provider,
        /// The operation.
        operation: &'static str,
        /// HTTP status (429 or 503).
        status: u16,
        /// The wait the provider asked for.
        retry_after: Duration,
        /// The longest wait the retry policy accepts.
        limit: Duration,
    },

    /// A job or task ended in error on the provider's side.
    #[error("{provider} job {job_id} failed{}: {message}", code_suffix(code.as_ref()))]
    #[non_exhaustive]
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

    /// A finished job lacks a result that was asked for (a mask, an output file).
    #[error("{provider} job {job_id}: {what}")]
    #[non_exhaustive]
    MissingResult {
        /// Who ran it.
        provider: Provider,
        /// The job or task id.
        job_id: String,
        /// What is missing.
        what: String,
    },

    /// The answer could not be understood (for example malformed JSON with a success status).
    #[error("{provider} {operation}: unreadable answer{}: {reason}; body starts with {excerpt:?}", status_suffix(*status))]
    #[non_exhaustive]
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

    /// A request that spends credits failed after it may have reached the provider: the
    /// connection broke after sending, or the provider answered 5xx. It was not re-sent,
    /// because that could charge twice; check your account before trying again.
    #[error(
        "{provider} {operation}: the outcome is unknown: {reason}; it may have been processed and charged, so it was not retried"
    )]
    #[non_exhaustive]
    OutcomeUnknown {
        /// Who was called.
        provider: Provider,
        /// The operation.
        operation: &'static str,
        /// The HTTP status, when the provider answered.
        status: Option<u16>,
        /// What happened.
        reason: String,
        /// The transport failure, when there was one.
        #[source]
        source: Option<reqwest::Error>,
    },

    /// The provider could not be reached, or the connection failed on a call that is safe to
    /// repeat.
    #[error("{provider} {operation}: could not reach the provider: {source}")]
    #[non_exhaustive]
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
    #[error("{provider} {operation}: gave up after {} (deadline {}){}", secs(*elapsed), secs(*deadline), last_suffix(last_error.as_deref()))]
    #[non_exhaustive]
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
    #[non_exhaustive]
    Io {
        /// The file involved, if any.
        path: Option<PathBuf>,
        /// The failure.
        #[source]
        source: std::io::Error,
    },

    /// The client is not configured correctly.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),

    /// A task ran on one provider after another ([`crate::ops::Providers::run`]) and none
    /// gave a result. Every attempt is kept, in order; the accessors of this error
    /// ([`Error::kind`], [`Error::provider`], [`Error::status`], ...) describe the last one.
    #[error("{task} failed: {}", attempts_suffix(attempts))]
    #[non_exhaustive]
    TaskFailed {
        /// The task.
        task: crate::ops::Task,
        /// Every attempt, in the order they were made (never empty).
        attempts: Vec<crate::ops::Attempt>,
    },
}

fn code_suffix(code: Option<&ErrorCode>) -> String {
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

fn status_suffix(status: Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

fn wait_suffix(wait: Option<Duration>) -> String {
    wait.map(|w| format!(" (retry after {})", secs(w)))
        .unwrap_or_default()
}

fn attempts_suffix(attempts: &[crate::ops::Attempt]) -> String {
    attempts
        .iter()
        .map(|attempt| format!("{}: {}", attempt.provider, attempt.error))
        .collect::<Vec<_>>()
        .join("; then ")
}

fn last_suffix(last: Option<&Error>) -> String {
    last.map(|e| format!("; last error: {e}"))
        .unwrap_or_default()
}

fn secs(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

impl Error {
    /// What kind of failure this is.
    ///
    /// For a provider's refusal, the kind the spec states for its error code comes first
    /// (HitPaw refuses a bad API key with 400, yet that is [`ErrorKind::Authentication`]),
    /// then the HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Config(_) => ErrorKind::Configuration,
            Error::Api { status, code, .. } => status_kind(*status, code.as_ref()),
            Error::Throttled { .. } => ErrorKind::RateLimited,
            Error::JobFailed { .. } => ErrorKind::JobFailed,
            Error::MissingResult { .. } => ErrorKind::MissingResult,
            Error::InvalidResponse { .. } => ErrorKind::InvalidResponse,
            Error::OutcomeUnknown { .. } => ErrorKind::OutcomeUnknown,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Io { .. } => ErrorKind::Io,
            Error::TaskFailed { attempts, .. } => attempts
                .last()
                .map_or(ErrorKind::Unsupported, |last| last.error.kind()),
        }
    }

    /// The provider involved, if the error came from one.
    pub fn provider(&self) -> Option<Provider> {
        match self {
            Error::Api { provider, .. }
            | Error::Unsupported { provider, .. }
            | Error::Throttled { provider, .. }
            | Error::JobFailed { provider, .. }
            | Error::MissingResult { provider, .. }
            | Error::InvalidResponse { provider, .. }
            | Error::OutcomeUnknown { provider, .. }
            | Error::Transport { provider, .. }
            | Error::Timeout { provider, .. } => Some(*provider),
            Error::TaskFailed { attempts, .. } => attempts.last().map(|last| last.provider),
            Error::InvalidInput(_) | Error::Io { .. } | Error::Config(_) => None,
        }
    }

    /// The HTTP status of the provider's answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Throttled { status, .. } => Some(*status),
            Error::InvalidResponse { status, .. } | Error::OutcomeUnknown { status, .. } => *status,
            Error::Timeout { last_error, .. } => last_error.as_ref().and_then(|e| e.status()),
            Error::TaskFailed { attempts, .. } => attempts.last().and_then(|a| a.error.status()),
            _ => None,
        }
    }

    /// The provider's error code, if it gave one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Api { code, .. } | Error::JobFailed { code, .. } => code.as_ref(),
            Error::TaskFailed { attempts, .. } => attempts.last().and_then(|a| a.error.code()),
            _ => None,
        }
    }

    /// How long the provider asked to wait before the next attempt (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            Error::Throttled { retry_after, .. } => Some(*retry_after),
            Error::Timeout { last_error, .. } => last_error.as_ref().and_then(|e| e.retry_after()),
            Error::TaskFailed { attempts, .. } => {
                attempts.last().and_then(|a| a.error.retry_after())
            }
            _ => None,
        }
    }

    /// Whether the same call may be sent again later without risking a second charge, and
    /// may then succeed: rate limits, unavailable servers, server errors of calls that spend
    /// nothing, and connection failures before anything was processed. This is the rule the
    /// client's own retries follow. A 5xx on a call that spends credits is
    /// [`Error::OutcomeUnknown`] instead, which is not retryable. A failed task
    /// ([`Error::TaskFailed`]) is retryable when its last attempt is and no attempt may have
    /// charged.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { status, .. } => *status == 429 || *status >= 500,
            Error::Throttled { .. } | Error::Transport { .. } => true,
            Error::Timeout { last_error, .. } => {
                last_error.as_deref().is_some_and(Error::is_retryable)
            }
            Error::TaskFailed { attempts, .. } => {
                attempts.last().is_some_and(|a| a.error.is_retryable())
                    && attempts
                        .iter()
                        .all(|a| a.charge == crate::ops::Charge::Nothing)
            }
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

/// The kind of an HTTP error status, with a provider's credit codes taken into account.
fn status_kind(status: u16, code: Option<&ErrorCode>) -> ErrorKind {
    // A documented code's kind comes first, then its documented status: HitPaw's statuses
    // do not always say what its codes mean.
    #[cfg(feature = "hitpaw")]
    if let Some(ErrorCode::Hitpaw(code)) = code
        && let Some(row) = code.documented()
    {
        match row.kind {
            Some(pixmill_spec::CodeKind::Authentication) => return ErrorKind::Authentication,
            Some(pixmill_spec::CodeKind::Credits) => return ErrorKind::InsufficientCredits,
            Some(pixmill_spec::CodeKind::InvalidRequest) => return ErrorKind::Rejected,
            _ if row.status == 402 => return ErrorKind::InsufficientCredits,
            _ => {}
        }
    }
    // Perfect V2 refuses a run task the balance cannot pay for with a 400.
    #[cfg(feature = "perfect")]
    if let Some(ErrorCode::PerfectV2(crate::perfect::v2::ErrorCode::CreditInsufficiency)) = code {
        return ErrorKind::InsufficientCredits;
    }
    let _ = code;
    match status {
        401 | 403 => ErrorKind::Authentication,
        402 => ErrorKind::InsufficientCredits,
        429 => ErrorKind::RateLimited,
        500..=599 => ErrorKind::ServerError,
        _ => ErrorKind::Rejected,
    }
}

/// How many bytes of an answer's body an error keeps, and how many characters its message.
pub(crate) const EXCERPT_CHARS: usize = 300;

/// The first characters of a body, as text, for messages about answers.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    clip(&String::from_utf8_lossy(
        &bytes[..bytes.len().min(EXCERPT_CHARS * 4)],
    ))
}

/// `text` cut to [`EXCERPT_CHARS`] characters, with an ellipsis when cut.
pub(crate) fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A convenient alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> Error {
        Error::Api {
            provider: Provider::Hotpot,
            operation: "op",
            status,
            code: None,
            message: "m".into(),
            retry_after: None,
        }
    }

    #[test]
    fn kinds_follow_the_status() {
        assert_eq!(api(401).kind(), ErrorKind::Authentication);
        assert_eq!(api(402).kind(), ErrorKind::InsufficientCredits);
        assert_eq!(api(429).kind(), ErrorKind::RateLimited);
        assert_eq!(api(503).kind(), ErrorKind::ServerError);
        assert_eq!(api(404).kind(), ErrorKind::Rejected);
    }

    #[cfg(feature = "hitpaw")]
    #[test]
    fn a_documented_code_kind_outranks_the_status() {
        use crate::hitpaw::ErrorCode as Code;
        let hitpaw = |status: u16, code: Code| Error::Api {
            provider: Provider::Hitpaw,
            operation: "op",
            status,
            code: Some(ErrorCode::Hitpaw(code)),
            message: "m".into(),
            retry_after: None,
        };
        // HitPaw answers a bad key with 400 and bad parameters with 403.
        assert_eq!(
            hitpaw(400, Code::ApiKeyNotValid).kind(),
            ErrorKind::Authentication
        );
        assert_eq!(
            hitpaw(403, Code::InvalidRequestParameters).kind(),
            ErrorKind::Rejected
        );
        assert_eq!(
            hitpaw(402, Code::DemoTriesExceeded).kind(),
            ErrorKind::InsufficientCredits
        );
        // Without a stated kind the status decides; an unlisted code too.
        assert_eq!(
            hitpaw(403, Code::AccessDenied).kind(),
            ErrorKind::Authentication
        );
        assert_eq!(hitpaw(400, Code::Other(1)).kind(), ErrorKind::Rejected);
    }

    #[test]
    fn long_texts_are_clipped() {
        let long = "x".repeat(10_000);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), EXCERPT_CHARS + 1);
        assert!(clipped.ends_with('…'));
        assert_eq!(excerpt(b"  short  "), "short");
        // A cut never splits a character.
        let accents = "é".repeat(EXCERPT_CHARS * 2);
        assert!(clip(&accents).starts_with('é'));
    }

    #[test]
    fn retry_after_and_retryability_read_through_timeouts() {
        let throttled = Error::Api {
            provider: Provider::Hotpot,
            operation: "op",
            status: 429,
            code: None,
            message: String::new(),
            retry_after: Some(Duration::from_secs(3)),
        };
        let timeout = Error::Timeout {
            provider: Provider::Hotpot,
            operation: "op",
            elapsed: Duration::from_secs(1),
            deadline: Duration::from_secs(1),
            last_error: Some(Box::new(throttled)),
        };
        assert_eq!(timeout.retry_after(), Some(Duration::from_secs(3)));
        assert!(timeout.is_retryable());
        assert_eq!(timeout.status(), Some(429));
        assert!(!api(400).is_retryable());
    }

    #[test]
    fn providers_parse_from_their_ids() {
        for provider in Provider::ALL {
            assert_eq!(provider.id().parse::<Provider>().unwrap(), *provider);
        }
        assert!("acme".parse::<Provider>().is_err());
    }
}
