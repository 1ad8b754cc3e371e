//! Perfect's documented rate limits, kept on the client side, and the admission of tasks so that
//! every running task can be polled before Perfect drops it.
//!
//! The limits come from the spec (`x-rate-limits`). The limiter runs on tokio's clock, so it
//! follows paused time in tests like every other wait in pixmill.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pixmill_perfect_api as api;
use pixmill_spec::RateScope;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

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

/// What a request is for. Polls of running tasks go first: a poll that waits too long loses
/// its task, a submission that waits only starts later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Priority {
    /// A status query of a running task.
    Poll,
    /// Anything else: token exchange, uploads, submissions, catalogues.
    Other,
}

tokio::task_local! {
    static PRIORITY: Priority;
}

/// Runs `work` with its requests counted as polls.
pub(crate) async fn as_poll<F: Future>(work: F) -> F::Output {
    PRIORITY.scope(Priority::Poll, work).await
}

fn current_priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or(Priority::Other)
}

/// One limit as a token bucket on tokio's clock: up to `burst` requests at once, then one per
/// `pace`. A hand-rolled bucket rather than a general limiter because admission depends on
/// the request's priority: others must leave a token per running task in the bucket.
#[derive(Debug)]
struct Bucket {
    burst: f64,
    pace: Duration,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn new(limit: &RateLimit, now: Instant) -> Bucket {
        let burst = f64::from(limit.burst());
        Bucket {
            burst,
            pace: limit.pace(),
            tokens: burst,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let earned =
            now.saturating_duration_since(self.updated).as_secs_f64() / self.pace.as_secs_f64();
        self.tokens = (self.tokens + earned).min(self.burst);
        self.updated = now;
    }

    /// How long until one token can be taken with `keep` tokens left behind.
    fn wait_for(&self, keep: f64) -> Duration {
        // Never ask for more than the bucket can hold.
        let needed = (keep + 1.0).min(self.burst);
        if self.tokens >= needed {
            Duration::ZERO
        } else {
            self.pace.mul_f64(needed - self.tokens)
        }
    }
}

/// The limits every request of a client (and its clones) passes, and the task slots.
pub(crate) struct Budget {
    buckets: Mutex<Vec<Bucket>>,
    /// The pace of the slowest limit; zero without limits.
    slowest_pace: Duration,
    slots: Arc<Semaphore>,
    capacity: usize,
}

/// Polls of running tasks may take at most this share of the slowest limit; the rest is for
/// submissions. Only a lower bound on the interval: the loss window caps it from above.
const POLL_SHARE: f64 = 1.0 / 3.0;

impl Budget {
    /// `poll_gap` is the longest a task may wait between two polls; `max_tasks` an optional
    /// lower cap on the tasks running at once.
    pub(crate) fn new(limits: RateLimits, poll_gap: Duration, max_tasks: Option<usize>) -> Budget {
        let now = Instant::now();
        let active: Vec<RateLimit> = [limits.per_token, limits.per_ip]
            .into_iter()
            .flatten()
            .collect();
        let slowest_pace = active
            .iter()
            .map(RateLimit::pace)
            .max()
            .unwrap_or(Duration::ZERO);
        let capacity = capacity(&active, poll_gap).min(max_tasks.unwrap_or(usize::MAX).max(1));
        Budget {
            buckets: Mutex::new(active.iter().map(|limit| Bucket::new(limit, now)).collect()),
            slowest_pace,
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// Tasks holding a slot now.
    fn running(&self) -> usize {
        self.capacity.saturating_sub(self.slots.available_permits())
    }

    /// Waits until every limit admits one more request. Polls (see [`as_poll`]) take any
    /// token; other requests leave one per running task, so that a due poll never waits.
    pub(crate) async fn request(&self) {
        let priority = current_priority();
        loop {
            let wait = {
                let now = Instant::now();
                let keep = match priority {
                    Priority::Poll => 0.0,
                    Priority::Other => self.running() as f64,
                };
                let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                let mut wait = Duration::ZERO;
                for bucket in buckets.iter_mut() {
                    bucket.refill(now);
                    wait = wait.max(bucket.wait_for(keep));
                }
                if wait.is_zero() {
                    for bucket in buckets.iter_mut() {
                        bucket.tokens -= 1.0;
                    }
                    return;
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// How often each running task should be polled at the least: often enough polls of all
    /// running tasks stay within [`POLL_SHARE`] of the slowest limit. Zero without limits.
    pub(crate) fn poll_interval(&self) -> Duration {
        let running = self.running().max(1) as f64;
        self.slowest_pace.mul_f64(running / POLL_SHARE)
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

/// How many tasks the slowest limit can keep polled: the reserve of one token per running task
/// must refill within `poll_gap`, so a poll never waits however the polls of the running tasks
/// fall.
pub(crate) fn capacity(limits: &[RateLimit], poll_gap: Duration) -> usize {
    let slowest = limits.iter().map(RateLimit::pace).max();
    match slowest {
        Some(pace) => {
            let refills = (poll_gap.as_secs_f64() / pace.as_secs_f64()).floor() as usize;
            let burst = limits.iter().map(RateLimit::burst).min().unwrap_or(1) as usize;
            refills.min(burst).max(1)
        }
        None => Semaphore::MAX_PERMITS,
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

    fn documented_budget(poll_gap: Duration) -> Budget {
        Budget::new(RateLimits::default(), poll_gap, None)
    }

    #[test]
    fn capacity_follows_the_slowest_limit() {
        let scaled = [
            RateLimit::new(100, Duration::from_secs(1)),
            RateLimit::new(100, Duration::from_secs(2)),
        ];
        // A token every 2/90 s refills far more than the burst of 10 within 7 s.
        assert_eq!(capacity(&scaled, Duration::from_secs(7)), 10);
        // 100 per 5 minutes: a token every 3.3 s, two of them within 8.5 s.
        let documented = documented_budget(Duration::from_millis(8500));
        assert_eq!(documented.capacity(), 2);
        assert_eq!(
            capacity(&[], Duration::from_secs(7)),
            Semaphore::MAX_PERMITS
        );
        let capped = Budget::new(RateLimits::default(), Duration::from_millis(8500), Some(1));
        assert_eq!(capped.capacity(), 1);
        let zero = Budget::new(RateLimits::default(), Duration::from_millis(8500), Some(0));
        assert_eq!(zero.capacity(), 1, "at least one task can run");
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
            None,
        );
        let started = Instant::now();
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

    #[tokio::test(start_paused = true)]
    async fn the_poll_share_spaces_polls_by_running_tasks() {
        let budget = documented_budget(Duration::from_millis(8500));
        let pace = RateLimits::default().per_ip.expect("documented").pace();
        assert_eq!(
            budget.poll_interval(),
            pace * 3,
            "one task: a third of the budget"
        );
        let _first = budget.task_slot().await;
        let _second = budget.task_slot().await;
        assert_eq!(budget.poll_interval(), pace * 6);
        let unlimited = Budget::new(RateLimits::unlimited(), Duration::from_secs(7), None);
        assert_eq!(unlimited.poll_interval(), Duration::ZERO);
    }

    /// The guarantee behind the capacity: with every slot taken and other requests queued
    /// without pause, each running task's poll at its share still goes at once, and the
    /// other requests still get through.
    #[tokio::test(start_paused = true)]
    async fn polls_never_wait_while_other_requests_saturate_the_budget() {
        let gap = Duration::from_millis(8500);
        let budget = Arc::new(documented_budget(gap));
        let slots: Vec<_> =
            futures_util::future::join_all((0..budget.capacity()).map(|_| budget.task_slot()))
                .await;
        let others = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let hammer = {
            let (budget, others) = (budget.clone(), others.clone());
            tokio::spawn(async move {
                loop {
                    budget.request().await;
                    others.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        };
        let pollers: Vec<_> = (0..slots.len())
            .map(|task| {
                let budget = budget.clone();
                tokio::spawn(async move {
                    // Offset the tasks so that their polls fall at different moments.
                    tokio::time::sleep(Duration::from_millis(1300) * task as u32).await;
                    let mut longest = Duration::ZERO;
                    for _ in 0..40 {
                        tokio::time::sleep(budget.poll_interval().min(gap)).await;
                        let asked = Instant::now();
                        // A starved poll fails the test instead of hanging it.
                        let admitted = tokio::time::timeout(gap, as_poll(budget.request())).await;
                        longest = longest.max(if admitted.is_ok() {
                            asked.elapsed()
                        } else {
                            gap
                        });
                    }
                    longest
                })
            })
            .collect();
        for poller in pollers {
            assert_eq!(poller.await.expect("the poller"), Duration::ZERO);
        }
        hammer.abort();
        // 40 polls of 8.5 s take 340 s: the documented 100 per 300 s at 90% pace, less the
        // 80 polls, leaves about 22 requests; most of them must have gone through.
        let done = others.load(std::sync::atomic::Ordering::Relaxed);
        assert!(done >= 15, "only {done} other requests in 340 s");
        drop(slots);
    }
}
