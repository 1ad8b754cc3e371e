//! Retry policy and the loop every call runs through.

use std::future::Future;
use std::time::{Duration, Instant};

use backon::BackoffBuilder as _;
use progenitor_client::{Error as ApiError, ResponseValue};
use tracing::Instrument as _;

use crate::error::{Error, ErrorCode, Provider, excerpt};

/// When and how often a failed call is sent again.
///
/// Retried: 429, 503 and connection failures for every operation; other 5xx answers and
/// failures after the request was sent only for operations that cannot charge twice (status
/// queries, uploads, idempotent runs). Delays grow exponentially with jitter, and a
/// `Retry-After` from the provider is honoured. Each operation's documentation states which
/// class it is in.
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

    /// The longest delay between two attempts (a longer `Retry-After` is still honoured).
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
    /// Reads, uploads and runs the provider deduplicates: always safe to repeat.
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

/// One operation of one provider, for errors and tracing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub provider: Provider,
    pub operation: &'static str,
    pub safety: Safety,
}

impl Call {
    /// Runs `send` until it succeeds, fails in a way that must not be retried, runs out of
    /// attempts or passes the deadline.
    pub(crate) async fn run<T, E, F, Fut>(
        self,
        policy: &RetryPolicy,
        mut send: F,
    ) -> Result<ResponseValue<T>, Error>
    where
        E: ErrorBody,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, ApiError<E>>>,
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
            let mut attempt = 0;
            loop {
                attempt += 1;
                let error = match send().await {
                    Ok(value) => {
                        let span = tracing::Span::current();
                        span.record("attempts", attempt);
                        span.record("status", value.status().as_u16());
                        return Ok(value);
                    }
                    Err(error) => self.convert(error).await,
                };
                let span = tracing::Span::current();
                span.record("attempts", attempt);
                if let Some(status) = error.status() {
                    span.record("status", status);
                }
                if !self.may_retry(&error) || attempt >= policy.max_attempts {
                    return Err(error);
                }
                let backoff = delays.next().unwrap_or(policy.max_delay);
                let delay = match &error {
                    Error::Api {
                        retry_after: Some(wait),
                        ..
                    } => *wait,
                    _ => backoff,
                };
                if let Some(deadline) = policy.deadline
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
                tracing::debug!(attempt, ?delay, %error, "retrying");
                tokio::time::sleep(delay).await;
            }
        }
        .instrument(span)
        .await
    }

    /// [`Call::run`] for a request outside the generated client (a presigned upload): a
    /// non-2xx answer is an [`Error::Api`] with a body excerpt.
    pub(crate) async fn run_plain<F, Fut>(
        self,
        policy: &RetryPolicy,
        mut send: F,
    ) -> Result<reqwest::Response, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = reqwest::Result<reqwest::Response>>,
    {
        self.run(policy, || {
            let sent = send();
            async move {
                match sent.await {
                    Ok(response) if response.status().is_success() => {
                        let status = response.status();
                        let headers = response.headers().clone();
                        Ok(ResponseValue::new(response, status, headers))
                    }
                    Ok(response) => Err(ApiError::<()>::UnexpectedResponse(response)),
                    Err(source) => Err(ApiError::CommunicationError(source)),
                }
            }
        })
        .await
        .map(ResponseValue::into_inner)
    }

    fn may_retry(&self, error: &Error) -> bool {
        match error {
            Error::Api { status, .. } => match status {
                // The provider refused or could not take the request: nothing was processed.
                429 | 503 => true,
                500..=599 => self.safety == Safety::Idempotent,
                _ => false,
            },
            Error::Transport { .. } => true,
            _ => false,
        }
    }

    /// Turns a generated client's error into ours, deciding whether a transport failure
    /// leaves the outcome unknown.
    pub(crate) async fn convert<E: ErrorBody>(&self, error: ApiError<E>) -> Error {
        let Call {
            provider,
            operation,
            safety,
        } = *self;
        let transport = |source: reqwest::Error| {
            // A request that never connected was never processed.
            if safety == Safety::Charged && !source.is_connect() {
                Error::OutcomeUnknown {
                    provider,
                    operation,
                    source,
                }
            } else {
                Error::Transport {
                    provider,
                    operation,
                    source,
                }
            }
        };
        match error {
            ApiError::CommunicationError(source)
            | ApiError::ResponseBodyError(source)
            | ApiError::InvalidUpgrade(source) => transport(source),
            ApiError::ErrorResponse(response) => {
                let status = response.status().as_u16();
                let retry_after = retry_after(response.headers());
                let (code, message) = response.into_inner().code_and_message();
                Error::Api {
                    provider,
                    operation,
                    status,
                    code,
                    message,
                    retry_after,
                }
            }
            ApiError::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                let retry_after = retry_after(response.headers());
                let body = response.bytes().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    return Error::InvalidResponse {
                        provider,
                        operation,
                        status: Some(status),
                        reason: "a success status the API does not document".into(),
                        excerpt: excerpt(&body),
                    };
                }
                Error::Api {
                    provider,
                    operation,
                    status,
                    code: None,
                    message: excerpt(&body),
                    retry_after,
                }
            }
            ApiError::InvalidResponsePayload(body, reason) => Error::InvalidResponse {
                provider,
                operation,
                status: None,
                reason: reason.to_string(),
                excerpt: excerpt(&body),
            },
            ApiError::InvalidRequest(reason) | ApiError::Custom(reason) => {
                Error::Config(format!("{provider} {operation}: {reason}"))
            }
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by these providers).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
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
    fn retry_after_reads_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn charged_calls_retry_only_what_was_not_processed() {
        let charged = Call {
            provider: Provider::Hotpot,
            operation: "op",
            safety: Safety::Charged,
        };
        let idempotent = Call {
            safety: Safety::Idempotent,
            ..charged
        };
        let api = |status| Error::Api {
            provider: Provider::Hotpot,
            operation: "op",
            status,
            code: None,
            message: String::new(),
            retry_after: None,
        };
        for status in [429, 503] {
            assert!(charged.may_retry(&api(status)));
        }
        assert!(!charged.may_retry(&api(500)));
        assert!(idempotent.may_retry(&api(500)));
        assert!(!idempotent.may_retry(&api(400)));
    }
}
