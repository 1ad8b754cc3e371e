//! How `wait()` polls long-running jobs: one engine for every provider.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use pixmill_spec::Polling;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::error::{Error, Provider};

/// Polling cadence and deadline for `wait()`.
///
/// The first poll comes `interval` after submission; each later interval grows by
/// `multiplier`, up to `max_interval`. Every delay is lengthened by a random share of up to
/// `jitter` (20% by default), so jobs submitted together spread their polls instead of
/// arriving in one burst; jitter never shortens a delay, so a documented shortest interval is
/// kept. `wait()` gives up with [`crate::Error::Timeout`] once `deadline` has passed.
///
/// Without an explicit policy, each provider's documented cadence is used (see the
/// provider's `wait()`).
///
/// ```
/// use std::time::Duration;
/// use pixmill::PollPolicy;
///
/// let quick = PollPolicy::new(Duration::from_millis(200))
///     .with_max_interval(Duration::from_secs(1))
///     .with_deadline(Duration::from_secs(30))
///     .with_jitter(0.1);
/// assert_eq!(quick.interval(), Duration::from_millis(200));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PollPolicy {
    interval: Duration,
    max_interval: Duration,
    multiplier: f64,
    deadline: Duration,
    jitter: f64,
}

impl PollPolicy {
    /// Polls after `interval`, growing by 1.25× up to 4× `interval`, with 20% jitter, for at
    /// most 10 minutes.
    pub fn new(interval: Duration) -> PollPolicy {
        PollPolicy {
            interval,
            max_interval: interval * 4,
            multiplier: 1.25,
            deadline: Duration::from_secs(600),
            jitter: 0.2,
        }
    }

    /// A policy for a documented cadence: first poll after the shortest interval, growing to
    /// the longest.
    pub(crate) fn documented(rule: &Polling) -> Option<PollPolicy> {
        let first = rule.min_interval?;
        let policy = PollPolicy::new(first);
        Some(match rule.max_interval {
            Some(max) => policy.with_max_interval(max),
            None => policy,
        })
    }

    /// The longest interval between two polls (at least `interval`).
    pub fn with_max_interval(mut self, max: Duration) -> Self {
        self.max_interval = max.max(self.interval);
        self
    }

    /// Growth of the interval after each poll (1.0 keeps it constant).
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// How long `wait()` may take in all.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The largest share (0 to 1) by which a delay is randomly lengthened; 0 turns jitter off.
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// The first interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The longest interval.
    pub fn max_interval(&self) -> Duration {
        self.max_interval
    }

    /// The growth factor.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The overall deadline.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The jitter share.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The interval that follows `current`, before jitter.
    pub(crate) fn next(&self, current: Duration) -> Duration {
        current.mul_f64(self.multiplier).min(self.max_interval)
    }

    /// `delay` lengthened by a random share of up to `jitter`, never past `ceiling`.
    fn jittered(&self, delay: Duration, ceiling: Duration) -> Duration {
        let share = self.jitter * rand::random::<f64>();
        delay.mul_f64(1.0 + share).min(ceiling.max(delay))
    }
}

/// One poll's result.
pub(crate) enum Poll<T> {
    /// Not finished; the provider may say when to ask again.
    Pending { hint: Option<Duration> },
    /// Finished.
    Ready(T),
}

/// Polls one job until it is ready, fails, or the deadline passes.
///
/// With `max_gap` set (Perfect drops a task that goes too long without a poll), polls leave
/// on schedule even while a slow one is still in flight, up to `MAX_IN_FLIGHT`, and never
/// more than `max_gap` apart. Without it, the next poll leaves only after the previous answer.
/// A poll that fails in a retryable way is followed by another until the deadline; any other
/// failure ends the wait.
pub(crate) struct Poller<'a> {
    pub provider: Provider,
    pub job_id: &'a str,
    pub policy: PollPolicy,
    pub max_gap: Option<Duration>,
}

/// Polls of one job allowed in flight at once when polls must keep a gap.
const MAX_IN_FLIGHT: usize = 3;

impl Poller<'_> {
    pub(crate) async fn run<T, F, Fut>(&self, mut poll: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>, Error>>,
    {
        crate::activity::report(crate::activity::Activity::Processing);
        let span =
            tracing::info_span!("pixmill.wait", provider = %self.provider, job_id = %self.job_id);
        async {
            let policy = &self.policy;
            let started = Instant::now();
            let deadline = started + policy.deadline();
            let ceiling = self
                .max_gap
                .map_or(policy.max_interval(), |gap| gap.min(policy.max_interval()));
            let mut base = policy.interval().min(ceiling);
            let mut last_sent = started;
            // The first poll follows the submission, which itself counted as contact.
            let mut next_send = started + policy.jittered(base, ceiling);
            let mut in_flight: FuturesUnordered<Fut> = FuturesUnordered::new();
            let mut last_error: Option<Error> = None;
            let limit = if self.max_gap.is_some() { MAX_IN_FLIGHT } else { 1 };
            loop {
                tokio::select! {
                    Some(answer) = in_flight.next() => match answer {
                        Ok(Poll::Ready(value)) => return Ok(value),
                        Ok(Poll::Pending { hint }) => {
                            base = match hint {
                                Some(hint) => hint.min(ceiling),
                                None => policy.next(base),
                            };
                            let after = if self.max_gap.is_some() { last_sent } else { Instant::now() };
                            let scheduled = after + policy.jittered(base, ceiling);
                            next_send = if in_flight.is_empty() && self.max_gap.is_none() {
                                scheduled
                            } else {
                                next_send.min(scheduled)
                            };
                        }
                        Err(error) if error.is_retryable() => {
                            tracing::warn!(%error, "poll failed; polling on");
                            let soon = match self.max_gap {
                                Some(gap) => gap / 4,
                                None => policy.jittered(base, ceiling),
                            };
                            next_send = if in_flight.is_empty() && self.max_gap.is_none() {
                                Instant::now() + soon
                            } else {
                                next_send.min(Instant::now() + soon)
                            };
                            last_error = Some(match error {
                                Error::Timeout { last_error: Some(inner), .. } => *inner,
                                other => other,
                            });
                        }
                        Err(error) => return Err(error),
                    },
                    _ = tokio::time::sleep_until(next_send.min(deadline)) => {
                        let now = Instant::now();
                        if now >= deadline {
                            return Err(Error::Timeout {
                                provider: self.provider,
                                operation: "wait",
                                elapsed: now - started,
                                deadline: policy.deadline(),
                                last_error: last_error.map(Box::new),
                            });
                        }
                        if in_flight.len() < limit {
                            in_flight.push(poll());
                            last_sent = now;
                        }
                        next_send = match self.max_gap {
                            // A fallback: an answer reschedules sooner.
                            Some(gap) => now + gap,
                            // Wait for the answer.
                            None => deadline,
                        };
                    }
                }
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn intervals_grow_to_the_cap() {
        let policy = PollPolicy::new(Duration::from_secs(2))
            .with_max_interval(Duration::from_secs(3))
            .with_multiplier(1.25);
        let second = policy.next(policy.interval());
        assert_eq!(second, Duration::from_millis(2500));
        assert_eq!(policy.next(second), Duration::from_secs(3));
        assert_eq!(
            PollPolicy::new(Duration::from_secs(1))
                .with_multiplier(f64::NAN)
                .next(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn jitter_only_lengthens_and_respects_the_ceiling() {
        let policy = PollPolicy::new(Duration::from_secs(5)).with_jitter(0.5);
        let ceiling = Duration::from_secs(7);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let delay = policy.jittered(Duration::from_secs(5), ceiling);
            assert!(
                delay >= Duration::from_secs(5) && delay <= ceiling,
                "{delay:?}"
            );
            seen.insert(delay.as_millis() / 100);
        }
        assert!(seen.len() > 5, "delays must spread: {seen:?}");
        let none = policy.with_jitter(0.0);
        assert_eq!(
            none.jittered(Duration::from_secs(5), ceiling),
            Duration::from_secs(5)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn sequential_polls_follow_the_policy_until_ready() {
        let polls = Arc::new(AtomicUsize::new(0));
        let poller = Poller {
            provider: Provider::Hitpaw,
            job_id: "job",
            policy: PollPolicy::new(Duration::from_secs(5))
                .with_max_interval(Duration::from_secs(10))
                .with_jitter(0.0),
            max_gap: None,
        };
        let started = Instant::now();
        let counter = polls.clone();
        let value = poller
            .run(|| {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    Ok(if n < 3 {
                        Poll::Pending { hint: None }
                    } else {
                        Poll::Ready(n)
                    })
                }
            })
            .await
            .unwrap();
        assert_eq!(value, 3);
        // 5 s, then 6.25 s, then 7.8125 s (the paused clock counts whole milliseconds).
        let elapsed = started.elapsed().as_millis();
        assert!((19_062..=19_063).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_the_wait_with_the_last_error() {
        let poller = Poller {
            provider: Provider::Hitpaw,
            job_id: "job",
            policy: PollPolicy::new(Duration::from_secs(1))
                .with_deadline(Duration::from_secs(10))
                .with_jitter(0.0),
            max_gap: None,
        };
        let error = poller
            .run(|| async {
                Err::<Poll<()>, _>(Error::Api {
                    provider: Provider::Hitpaw,
                    operation: "task_status",
                    status: 503,
                    code: None,
                    message: String::new(),
                    retry_after: None,
                })
            })
            .await
            .unwrap_err();
        match error {
            Error::Timeout {
                last_error: Some(last),
                ..
            } => assert_eq!(last.status(), Some(503)),
            other => panic!("{other:?}"),
        }
    }
}
