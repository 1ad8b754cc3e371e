//! Perfect's documented rate limits, kept on the client side, and the admission of tasks so that
//! every running task can be polled before Perfect drops it.
//!
//! The limits come from the spec (`x-rate-limits`). The limiter runs on tokio's clock, so it
//! follows paused time in tests like every other wait in pixmill.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use pixmill_perfect_api as api;
use pixmill_spec::RateScope;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A limit of `max` requests per `window`.
///
/// ```
/// use std::time::Duration;
/// use pixmill::perfect::RateLimit;
///
/// let per_token = RateLimit::new(30, Duration::from_secs(10));
/// assert_eq!(per_token.max(), 30);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    max: u32,
    window: Duration,
}

impl RateLimit {
    /// At most `max` requests (at least 1) in any `window`.
    pub fn new(max: u32, window: Duration) -> RateLimit {
        RateLimit {
            max: max.max(1),
            window: window.max(Duration::from_millis(1)),
        }
    }

    /// Requests per window.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Requests that may go at once: a tenth of the limit, so short bursts (a few calls of an
    /// interactive program) are not slowed down.
    pub(crate) fn burst(&self) -> u32 {
        (self.max / 10).max(1)
    }

    /// The steady pace after a burst: with `burst` requests at once and one per `pace`, any
    /// window of this length holds at most `burst + window / pace = max` requests, whatever
    /// the server's windows are aligned to.
    pub(crate) fn pace(&self) -> Duration {
        self.window / self.max.saturating_sub(self.burst()).max(1)
    }

    fn per_second(&self) -> f64 {
        1.0 / self.pace().as_secs_f64()
    }
}

/// Both of Perfect's limits; `None` turns a limit off. The default is what the spec documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Per access token.
    pub per_token: Option<RateLimit>,
    /// Per client IP address.
    pub per_ip: Option<RateLimit>,
}

impl Default for RateLimits {
    fn default() -> Self {
        let documented = |scope: RateScope| {
            api::service::RATE_LIMITS
                .iter()
                .find(|limit| limit.scope == scope)
                .map(|limit| RateLimit::new(limit.requests, limit.window))
        };
        RateLimits {
            per_token: documented(RateScope::Token),
            per_ip: documented(RateScope::Ip),
        }
    }
}

impl RateLimits {
    /// No client-side limiting.
    pub fn unlimited() -> RateLimits {
        RateLimits {
            per_token: None,
            per_ip: None,
        }
    }
}

/// Time for the limiter: tokio's clock, as a duration since the budget was made.
#[derive(Clone, Debug)]
struct TokioClock {
    origin: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// The limiter every request of a client (and its clones) passes, and the task slots.
pub(crate) struct Budget {
    clock: TokioClock,
    limiters: Vec<Limiter>,
    slots: Arc<Semaphore>,
    capacity: usize,
}

impl Budget {
    /// `poll_gap` is the longest a task may wait between two polls.
    pub(crate) fn new(limits: RateLimits, poll_gap: Duration) -> Budget {
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        let active: Vec<RateLimit> = [limits.per_token, limits.per_ip]
            .into_iter()
            .flatten()
            .collect();
        let limiters = active
            .iter()
            .map(|limit| {
                let burst = NonZeroU32::new(limit.burst()).unwrap_or(NonZeroU32::MIN);
                let quota = Quota::with_period(limit.pace())
                    .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                    .allow_burst(burst);
                RateLimiter::direct_with_clock(quota, clock.clone())
            })
            .collect();
        let capacity = capacity(&active, poll_gap);
        Budget {
            clock,
            limiters,
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// Waits until every limit admits one more request.
    pub(crate) async fn request(&self) {
        for limiter in &self.limiters {
            while let Err(not_until) = limiter.check() {
                tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
            }
        }
    }

    /// Waits for a task slot; the task keeps it until it finishes.
    pub(crate) async fn task_slot(&self) -> OwnedSemaphorePermit {
        // The semaphore is never closed, so acquiring cannot fail.
        match self.slots.clone().acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => unreachable!("the task semaphore is never closed"),
        }
    }

    /// How many tasks may run at once.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

/// How many tasks the slowest limit can keep polled: each needs one poll per `poll_gap`, and a
/// quarter of the pace stays free for uploads, submissions and catalogue calls.
pub(crate) fn capacity(limits: &[RateLimit], poll_gap: Duration) -> usize {
    let slowest = limits
        .iter()
        .map(RateLimit::per_second)
        .fold(f64::INFINITY, f64::min);
    if slowest.is_finite() {
        ((slowest * poll_gap.as_secs_f64() * 0.75).floor() as usize).max(1)
    } else {
        Semaphore::MAX_PERMITS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_and_pace_keep_every_window_under_the_limit() {
        for (max, secs) in [(100, 60), (100, 300), (7, 1), (1, 5)] {
            let limit = RateLimit::new(max, Duration::from_secs(secs));
            let window = Duration::from_secs(secs);
            let paced = (window.as_nanos() / limit.pace().as_nanos()) as u32;
            assert!(limit.burst() + paced <= max.max(2), "{max}/{secs}s");
        }
    }

    #[test]
    fn the_default_limits_are_the_documented_ones() {
        let limits = RateLimits::default();
        for documented in api::service::RATE_LIMITS {
            let limit = match documented.scope {
                RateScope::Token => limits.per_token,
                RateScope::Ip => limits.per_ip,
                _ => None,
            }
            .expect("every documented scope is kept");
            assert_eq!(
                (limit.max(), limit.window()),
                (documented.requests, documented.window)
            );
        }
    }

    #[test]
    fn capacity_follows_the_slowest_limit() {
        let scaled = [
            RateLimit::new(100, Duration::from_secs(1)),
            RateLimit::new(100, Duration::from_secs(2)),
        ];
        // 90 paced requests in 2 s, 7 s between polls, three quarters for polls.
        assert_eq!(capacity(&scaled, Duration::from_secs(7)), 236);
        assert_eq!(
            capacity(&[], Duration::from_secs(7)),
            Semaphore::MAX_PERMITS
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_beyond_the_burst_wait_for_the_pace() {
        let limit = RateLimit::new(20, Duration::from_secs(10));
        let budget = Budget::new(
            RateLimits {
                per_token: Some(limit),
                per_ip: None,
            },
            Duration::from_secs(7),
        );
        let started = tokio::time::Instant::now();
        for _ in 0..limit.burst() {
            budget.request().await;
        }
        assert_eq!(started.elapsed(), Duration::ZERO, "the burst goes at once");
        budget.request().await;
        assert!(
            started.elapsed() >= limit.pace() - Duration::from_millis(1),
            "{:?}",
            started.elapsed()
        );
    }
}
