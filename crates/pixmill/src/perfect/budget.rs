//! Perfect's documented rate limits, enforced on the client side, and the admission of tasks so
//! that every running task can be polled within the 10-second window.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A limit of `max` requests per `window`.
///
/// ```
/// use std::time::Duration;
/// use pixmill::perfect::RateLimit;
///
/// let per_token = RateLimit::new(100, Duration::from_secs(60));
/// assert_eq!(per_token.max(), 100);
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
    fn burst(&self) -> u32 {
        (self.max / 10).max(1)
    }

    /// The steady pace after a burst: with `burst` requests at once and one per `pace`, any
    /// window of this length holds at most `burst + window / pace = max` requests, whatever
    /// the server's windows are aligned to.
    fn pace(&self) -> Duration {
        self.window / self.max.saturating_sub(self.burst()).max(1)
    }

    fn per_second(&self) -> f64 {
        1.0 / self.pace().as_secs_f64()
    }
}

/// Both of Perfect's limits. The document states 100 requests a minute per token and 100
/// requests per five minutes per IP; `None` turns a limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Per access token.
    pub per_token: Option<RateLimit>,
    /// Per client IP address.
    pub per_ip: Option<RateLimit>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_token: Some(RateLimit::new(100, Duration::from_secs(60))),
            per_ip: Some(RateLimit::new(100, Duration::from_secs(300))),
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

/// The limiter every request of a client (and its clones) passes, and the task slots.
pub(crate) struct Budget {
    limiters: Vec<DefaultDirectRateLimiter>,
    slots: Arc<Semaphore>,
    capacity: usize,
}

impl Budget {
    /// `poll_gap` is the longest a task may wait between two polls.
    pub(crate) fn new(limits: RateLimits, poll_gap: Duration) -> Budget {
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
                RateLimiter::direct(quota)
            })
            .collect();
        // Each running task needs one poll per gap; keep a quarter of the pace for uploads,
        // submissions and catalogue calls.
        let slowest = active
            .iter()
            .map(RateLimit::per_second)
            .fold(f64::INFINITY, f64::min);
        let capacity = if slowest.is_finite() {
            ((slowest * poll_gap.as_secs_f64() * 0.75).floor() as usize).max(1)
        } else {
            Semaphore::MAX_PERMITS
        };
        Budget {
            limiters,
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// Waits until every limit admits one more request.
    pub(crate) async fn request(&self) {
        for limiter in &self.limiters {
            limiter.until_ready().await;
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
        assert_eq!(RateLimit::new(100, Duration::from_secs(60)).burst(), 10);
    }

    #[test]
    fn capacity_follows_the_slowest_limit() {
        // 100 per 5 minutes paces one request every 3.3 s after a burst of 10: with a 7 s
        // polling gap and a quarter of the pace kept for other calls, one task runs at a time.
        let documented = Budget::new(RateLimits::default(), Duration::from_secs(7));
        assert_eq!(documented.capacity(), 1);
        let scaled = Budget::new(
            RateLimits {
                per_token: Some(RateLimit::new(100, Duration::from_secs(1))),
                per_ip: Some(RateLimit::new(100, Duration::from_secs(2))),
            },
            Duration::from_secs(7),
        );
        assert_eq!(scaled.capacity(), 236);
        let unlimited = Budget::new(RateLimits::unlimited(), Duration::from_secs(7));
        assert_eq!(unlimited.capacity(), Semaphore::MAX_PERMITS);
    }
}
