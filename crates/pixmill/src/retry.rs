//! Retry policy, the safety class of each operation, and the loop every call runs through.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder as _;
use progenitor_client::Error as ApiError;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::error::{Error, ErrorCode, Provider, clip, excerpt};
use crate::transport::{CallContext, Record, SpliceFailure};

/// When and how often a failed call is sent again.
///
/// Retried for every operation: 429, 503 and failures before the request reached the
/// provider. Retried only for operations that cannot charge twice (status queries, uploads,
/// downloads, runs the provider deduplicates): other 5xx answers and connections that broke
/// after sending; for an operation that spends credits these are
/// [`Error::OutcomeUnknown`]. Delays grow exponentially with jitter, and a `Retry-After` from
/// the provider is honoured up to the longest delay; a longer one fails at once with
/// [`Error::Throttled`]. Each operation's documentation states which class it is in.
///
/// ```
/// use std::time::Duration;
/// use pixmill::RetryPolicy;
///
/// let patient = RetryPolicy::default()
///     .with_max_attempts(8)
///     .with_deadline(Duration::from_secs(120));
/// assert_eq!(patient.max_attempts(), 8);
/// assert_eq!(RetryPolicy::none().max_attempts(), 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_delay: Duration,
    max_delay: Duration,
    deadline: Option<Duration>,
    jitter: bool,
}

impl Default for RetryPolicy {
    /// 4 attempts, 500 ms first delay doubling up to 30 s, jitter, a 5-minute deadline.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            deadline: Some(Duration::from_secs(300)),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Total attempts, the first one included (at least 1). `u32::MAX` retries until the deadline.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The delay before the first retry; later ones double.
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest delay between two attempts, and the longest `Retry-After` honoured (a
    /// longer one fails at once with [`Error::Throttled`]).
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Gives up with [`Error::Timeout`] when the next attempt would start after this long.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Retries without an overall deadline (only the attempt count limits them).
    pub fn without_deadline(mut self) -> Self {
        self.deadline = None;
        self
    }

    /// Turns random jitter on or off (on by default, so many clients do not retry in step).
    pub fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Total attempts allowed.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The overall deadline, if any.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The longest delay between two attempts.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    fn delays(&self) -> impl Iterator<Item = Duration> {
        let mut builder = backon::ExponentialBuilder::default()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .without_max_times();
        if self.jitter {
            builder = builder.with_jitter();
        }
        builder.build()
    }
}

/// Whether an operation may be sent again after it possibly reached the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Reads, uploads, downloads and runs the provider deduplicates: safe to repeat.
    Idempotent,
    /// Spends credits: repeat only when the provider certainly did not process it.
    Charged,
}

/// Reads a provider's error body into a code and a message.
pub(crate) trait ErrorBody {
    fn code_and_message(&self) -> (Option<ErrorCode>, String);
}

impl ErrorBody for () {
    fn code_and_message(&self) -> (Option<ErrorCode>, String) {
        (None, String::new())
    }
}

/// One operation of one provider, for errors, retries and tracing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub provider: Provider,
    pub operation: &'static str,
    pub safety: Safety,
}

/// What one failed attempt leads to.
enum Verdict {
    /// Try again after this long.
    Retry(Duration),
    /// Give up with the error.
    Stop,
}

impl Call {
    /// The retry loop around attempts that report their own errors.
    pub(crate) async fn run_attempts<T, F, Fut>(
        self,
        policy: &RetryPolicy,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut(Arc<CallContext>) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let span = tracing::info_span!(
            "pixmill.call",
            provider = %self.provider,
            operation = self.operation,
            attempts = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        async {
            let started = Instant::now();
            let mut delays = policy.delays();
            let mut attempts = 0;
            loop {
                attempts += 1;
                let context = Arc::new(CallContext::default());
                let result = attempt(context).await;
                let span = tracing::Span::current();
                span.record("attempts", attempts);
                let error = match result {
                    Ok(value) => return Ok(value),
                    Err(error) => error,
                };
                if let Some(status) = error.status() {
                    span.record("status", status);
                }
                let backoff = delays.next().unwrap_or(policy.max_delay());
                let delay = match self.verdict(&error, backoff, policy) {
                    Ok(Verdict::Retry(delay)) if attempts < policy.max_attempts() => delay,
                    Ok(_) => return Err(error),
                    Err(throttled) => return Err(throttled),
                };
                if let Some(deadline) = policy.deadline()
                    && started.elapsed() + delay > deadline
                {
                    return Err(Error::Timeout {
                        provider: self.provider,
                        operation: self.operation,
                        elapsed: started.elapsed(),
                        deadline,
                        last_error: Some(Box::new(error)),
                    });
                }
                tracing::debug!(attempts, ?delay, %error, "retrying");
                tokio::time::sleep(delay).await;
            }
        }
        .instrument(span)
        .await
    }

    /// Whether and when to retry after `error`. A `Retry-After` longer than the policy allows
    /// turns into [`Error::Throttled`].
    fn verdict(
        &self,
        error: &Error,
        backoff: Duration,
        policy: &RetryPolicy,
    ) -> Result<Verdict, Error> {
        let retry = match error {
            Error::Api { status, .. } => match status {
                // The provider refused or could not take the request: nothing was processed.
                429 | 503 => true,
                500..=599 => self.safety == Safety::Idempotent,
                _ => false,
            },
            Error::Transport { .. } => true,
            _ => false,
        };
        if !retry {
            return Ok(Verdict::Stop);
        }
        match error.retry_after() {
            Some(wait) if wait > policy.max_delay() => Err(Error::Throttled {
                provider: self.provider,
                operation: self.operation,
                status: error.status().unwrap_or(429),
                retry_after: wait,
                limit: policy.max_delay(),
            }),
            Some(wait) => Ok(Verdict::Retry(wait)),
            None => Ok(Verdict::Retry(backoff)),
        }
    }

    /// Turns a generated client's error into ours. `record` is what the transport saw: the
    /// status survives even when the body was not the documented error format.
    pub(crate) async fn convert<E: ErrorBody>(
        &self,
        error: ApiError<E>,
        mut record: Record,
    ) -> Error {
        // A streamed picture that failed leaves the generated client an empty answer; the
        // failure itself is what happened.
        if let Some(failure) = record.splice_error.take() {
            return match failure {
                SpliceFailure::Io(source) => Error::io(None, source),
                SpliceFailure::Body(reason) => self.invalid(record.status, reason, &[]),
            };
        }
        match error {
            ApiError::CommunicationError(source)
            | ApiError::ResponseBodyError(source)
            | ApiError::InvalidUpgrade(source) => self.transport_error(source, record.status),
            ApiError::ErrorResponse(response) => {
                let status = response.status().as_u16();
                let retry_after = retry_after(response.headers());
                let (code, message) = response.into_inner().code_and_message();
                self.status_error(status, code, clip(&message), retry_after)
            }
            ApiError::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                let retry_after = retry_after(response.headers());
                // The transport already cut the body to its bound.
                let body = response.bytes().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    return self.invalid(
                        Some(status),
                        "a success status the API does not document".into(),
                        &body,
                    );
                }
                self.status_error(status, None, excerpt(&body), retry_after)
            }
            ApiError::InvalidResponsePayload(body, reason) => match record.status {
                // An error status whose body is not the provider's JSON (a gateway's HTML page,
                // plain text): the status is what matters.
                Some(status) if status >= 400 => {
                    let retry_after = record.headers.as_ref().and_then(retry_after);
                    self.status_error(status, None, excerpt(&body), retry_after)
                }
                status if record.truncated => self.invalid(
                    status,
                    format!("the answer is larger than {} bytes, the limit", body.len()),
                    &body,
                ),
                status => self.invalid(status, reason.to_string(), &body),
            },
            ApiError::InvalidRequest(reason) => {
                Error::InvalidInput(crate::image::InputError::Request(format!(
                    "{} {}: {reason}",
                    self.provider, self.operation
                )))
            }
            ApiError::Custom(reason) => record.hook_error.unwrap_or_else(|| {
                Error::Config(crate::error::ConfigError::Invalid(format!(
                    "{} {}: {reason}",
                    self.provider, self.operation
                )))
            }),
        }
    }

    /// An error status, with a 5xx on a charged call turned into [`Error::OutcomeUnknown`]
    /// (503 excepted: the provider says it did not take the request).
    pub(crate) fn status_error(
        &self,
        status: u16,
        code: Option<ErrorCode>,
        message: String,
        retry_after: Option<Duration>,
    ) -> Error {
        if self.safety == Safety::Charged && status >= 500 && status != 503 {
            return Error::OutcomeUnknown {
                provider: self.provider,
                operation: self.operation,
                status: Some(status),
                reason: format!("the provider answered HTTP {status}: {message}"),
                source: None,
            };
        }
        Error::Api {
            provider: self.provider,
            operation: self.operation,
            status,
            code,
            message,
            retry_after,
        }
    }

    /// A failed connection: safe to retry unless a charged request may have been received.
    pub(crate) fn transport_error(&self, source: reqwest::Error, status: Option<u16>) -> Error {
        // A request that never connected was never processed.
        if self.safety == Safety::Charged && !source.is_connect() {
            Error::OutcomeUnknown {
                provider: self.provider,
                operation: self.operation,
                status,
                reason: format!("the connection failed after the request was sent ({source})"),
                source: Some(source),
            }
        } else {
            Error::Transport {
                provider: self.provider,
                operation: self.operation,
                source,
            }
        }
    }

    pub(crate) fn invalid(&self, status: Option<u16>, reason: String, body: &[u8]) -> Error {
        Error::InvalidResponse {
            provider: self.provider,
            operation: self.operation,
            status,
            reason,
            excerpt: excerpt(body),
        }
    }
}

/// `Retry-After` in seconds, or as an HTTP date.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let policy = RetryPolicy::default()
            .with_initial_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_millis(800))
            .with_jitter(false);
        // Whole milliseconds: the backoff arithmetic is in floating point.
        let delays: Vec<u128> = policy.delays().take(6).map(|d| d.as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 800, 800]);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&headers),
            Some(Duration::ZERO),
            "a past date means now"
        );
    }

    fn call(safety: Safety) -> Call {
        Call {
            provider: Provider::Hotpot,
            operation: "op",
            safety,
        }
    }

    #[test]
    fn charged_calls_retry_only_what_was_not_processed() {
        let policy = RetryPolicy::default();
        let charged = call(Safety::Charged);
        let idempotent = call(Safety::Idempotent);
        let retries = |c: &Call, e: &Error| {
            matches!(c.verdict(e, Duration::ZERO, &policy), Ok(Verdict::Retry(_)))
        };
        for status in [429, 503] {
            assert!(retries(
                &charged,
                &charged.status_error(status, None, String::new(), None)
            ));
        }
        let charged_500 = charged.status_error(500, None, "boom".into(), None);
        assert!(
            matches!(
                charged_500,
                Error::OutcomeUnknown {
                    status: Some(500),
                    ..
                }
            ),
            "{charged_500:?}"
        );
        assert!(!retries(&charged, &charged_500));
        assert!(
            !charged_500.is_retryable(),
            "is_retryable agrees with the client"
        );
        let idempotent_500 = idempotent.status_error(500, None, String::new(), None);
        assert!(retries(&idempotent, &idempotent_500));
        assert!(idempotent_500.is_retryable());
        assert!(!retries(
            &idempotent,
            &idempotent.status_error(400, None, String::new(), None)
        ));
    }

    #[test]
    fn a_retry_after_beyond_the_longest_delay_fails_at_once() {
        let policy = RetryPolicy::default().with_max_delay(Duration::from_secs(30));
        let charged = call(Safety::Charged);
        let error = charged.status_error(429, None, String::new(), Some(Duration::from_secs(3600)));
        let Err(throttled) = charged.verdict(&error, Duration::ZERO, &policy) else {
            panic!("a one-hour wait must not be slept through");
        };
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(3600)));
        assert!(
            throttled.to_string().contains("asked to wait 3600.0 s"),
            "{throttled}"
        );
        let short = charged.status_error(429, None, String::new(), Some(Duration::from_secs(2)));
        assert!(
            matches!(charged.verdict(&short, Duration::ZERO, &policy), Ok(Verdict::Retry(d)) if d == Duration::from_secs(2))
        );
    }
}
