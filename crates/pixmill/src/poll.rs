//! How `wait()` polls long-running jobs.

use std::time::Duration;

/// Polling cadence and deadline for `wait()`.
///
/// The first poll comes after `interval`; each later interval grows by `multiplier`, up to
/// `max_interval`. `wait()` gives up with [`crate::Error::Timeout`] once `deadline` has passed.
/// Without an explicit policy, each provider's documented cadence is used.
///
/// ```
/// use std::time::Duration;
/// use pixmill::PollPolicy;
///
/// let quick = PollPolicy::new(Duration::from_millis(200))
///     .with_max_interval(Duration::from_secs(1))
///     .with_deadline(Duration::from_secs(30));
/// assert_eq!(quick.interval(), Duration::from_millis(200));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PollPolicy {
    interval: Duration,
    max_interval: Duration,
    multiplier: f64,
    deadline: Duration,
}

impl PollPolicy {
    /// Polls every `interval`, growing by 1.25× up to 4× `interval`, for at most 10 minutes.
    pub fn new(interval: Duration) -> PollPolicy {
        PollPolicy {
            interval,
            max_interval: interval * 4,
            multiplier: 1.25,
            deadline: Duration::from_secs(600),
        }
    }

    /// The longest interval between two polls.
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

    /// The first interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The overall deadline.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The interval that follows `current`.
    pub(crate) fn next(&self, current: Duration) -> Duration {
        current.mul_f64(self.multiplier).min(self.max_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
