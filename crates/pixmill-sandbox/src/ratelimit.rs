//! Perfect's two documented limits: per access token and per client IP.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::RateLimit;

/// Fixed windows per key: a window opens at the key's first request and admits `max`
/// requests until it closes.
#[derive(Debug)]
pub(crate) struct Windows<K> {
    limit: RateLimit,
    windows: HashMap<K, (Instant, u32)>,
}

impl<K: Eq + Hash + Clone> Windows<K> {
    pub(crate) fn new(limit: RateLimit) -> Windows<K> {
        Windows {
            limit,
            windows: HashMap::new(),
        }
    }

    /// Counts a request; `Err(wait)` when the key is over its budget until `wait` has passed.
    pub(crate) fn admit(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        let (opened, count) = self.windows.entry(key.clone()).or_insert((now, 0));
        if now.duration_since(*opened) >= self.limit.window {
            *opened = now;
            *count = 0;
        }
        if *count >= self.limit.max {
            return Err(self.limit.window - now.duration_since(*opened));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_max_per_window_then_reopens() {
        let mut windows = Windows::new(RateLimit {
            max: 2,
            window: Duration::from_secs(60),
        });
        let start = Instant::now();
        assert!(windows.admit(&"a", start).is_ok());
        assert!(windows.admit(&"a", start).is_ok());
        let wait = windows
            .admit(&"a", start + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(windows.admit(&"b", start).is_ok(), "keys are independent");
        assert!(windows.admit(&"a", start + Duration::from_secs(60)).is_ok());
    }
}
