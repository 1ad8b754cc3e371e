//! Settings of a sandbox: timings, balances, prices, rate limits.

use std::net::SocketAddr;
use std::time::Duration;

use pixmill_perfect_api::features::Feature;
use pixmill_spec::RateScope;

/// How a sandbox behaves. `Default` mirrors the providers' documented behaviour where they
/// document it, with short processing times so tests and examples stay fast.
///
/// ```
/// use std::time::Duration;
/// use pixmill_sandbox::SandboxConfig;
///
/// let config = SandboxConfig {
///     hitpaw_job_duration: Duration::from_millis(50),
///     ..SandboxConfig::default()
/// };
/// assert_eq!(config.perfect_task_loss_after, Duration::from_secs(10));
/// ```
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Where to listen. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// How long a HitPaw job stays `CONVERTING`.
    pub hitpaw_job_duration: Duration,
    /// How long a Perfect task stays `running`.
    pub perfect_task_duration: Duration,
    /// The `polling_interval` Perfect's status answers carry.
    pub perfect_polling_interval: Duration,
    /// A Perfect task not polled for this long is lost (by default the shortest window the
    /// spec's `x-polling` states).
    pub perfect_task_loss_after: Duration,
    /// Lifetime of a Perfect access token (by default the spec's `x-token-lifetime-seconds`).
    pub perfect_token_ttl: Duration,
    /// How far an `id_token` timestamp may be from the sandbox's clock.
    pub perfect_id_token_skew: Duration,
    /// Perfect's per-token limit (by default the spec's `x-rate-limits`). `None` turns it off.
    pub perfect_token_limit: Option<RateLimit>,
    /// Perfect's per-IP limit (by default the spec's `x-rate-limits`). `None` turns it off.
    pub perfect_ip_limit: Option<RateLimit>,
    /// Starting balances, in each provider's own unit.
    pub balances: Balances,
    /// Price of one Hotpot call, in credits.
    pub hotpot_price: i64,
    /// Price of one Segmind generation, in credits.
    pub segmind_price: i64,
    /// Coins one HitPaw enhancement costs (the document's example shows 75).
    pub hitpaw_enhance_price: i64,
    /// Coins one HitPaw segmentation costs (the document's example shows 20).
    pub hitpaw_segment_price: i64,
    /// Credits one successful Perfect task costs.
    pub perfect_price: i64,
    /// Whether HitPaw jobs may fetch `img_url`/`file_url` from hosts other than loopback.
    pub allow_remote_fetch: bool,
    /// The key pair behind Perfect's client secret: the committed one by default, so a
    /// sandbox starts at once; [`SandboxConfig::with_fresh_key`] makes one per sandbox.
    pub perfect_key: PerfectKey,
}

/// Which RSA key pair a sandbox's Perfect client secret belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PerfectKey {
    /// A 2048-bit key pair committed with the sandbox. Every sandbox using it has the same
    /// client secret, which is no loss: the secret guards nothing on a local emulator.
    #[default]
    Fixed,
    /// A 2048-bit key pair made when the sandbox starts, unique to it. Making it costs a
    /// noticeable moment of CPU time; use it to tell two sandboxes' secrets apart.
    Fresh,
}

impl SandboxConfig {
    /// These settings with a key pair of the sandbox's own ([`PerfectKey::Fresh`]).
    ///
    /// ```
    /// use pixmill_sandbox::{PerfectKey, SandboxConfig};
    ///
    /// assert_eq!(SandboxConfig::default().perfect_key, PerfectKey::Fixed);
    /// assert_eq!(SandboxConfig::default().with_fresh_key().perfect_key, PerfectKey::Fresh);
    /// ```
    pub fn with_fresh_key(self) -> SandboxConfig {
        SandboxConfig {
            perfect_key: PerfectKey::Fresh,
            ..self
        }
    }
}

/// A fixed-window budget: at most `max` requests per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in one window.
    pub max: u32,
    /// Length of the window.
    pub window: Duration,
}

/// Starting balance per provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balances {
    /// Hotpot credits.
    pub hotpot: i64,
    /// HitPaw coins.
    pub hitpaw: i64,
    /// Segmind credits.
    pub segmind: i64,
    /// Perfect credits.
    pub perfect: i64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            hitpaw_job_duration: Duration::from_millis(500),
            perfect_task_duration: Duration::from_millis(500),
            perfect_polling_interval: Duration::from_millis(1000),
            perfect_task_loss_after: documented_loss_window(),
            perfect_token_ttl: pixmill_perfect_api::service::auth::TOKEN_LIFETIME,
            perfect_id_token_skew: Duration::from_secs(5 * 60),
            perfect_token_limit: documented_limit(RateScope::Token),
            perfect_ip_limit: documented_limit(RateScope::Ip),
            balances: Balances {
                hotpot: 1000,
                hitpaw: 10_000,
                segmind: 1000,
                perfect: 1000,
            },
            hotpot_price: 1,
            segmind_price: 1,
            hitpaw_enhance_price: 75,
            hitpaw_segment_price: 20,
            perfect_price: 1,
            allow_remote_fetch: false,
            perfect_key: PerfectKey::Fixed,
        }
    }
}

/// The limit the Perfect spec documents for `scope` (`x-rate-limits`).
pub(crate) fn documented_limit(scope: RateScope) -> Option<RateLimit> {
    pixmill_perfect_api::service::RATE_LIMITS
        .iter()
        .find(|limit| limit.scope == scope)
        .map(|limit| RateLimit {
            max: limit.requests,
            window: limit.window,
        })
}

/// How long Perfect keeps a task nobody polls: the shortest `lost_after` the spec states for
/// any feature (`x-polling`).
pub(crate) fn documented_loss_window() -> Duration {
    Feature::ALL
        .iter()
        .flat_map(|feature| feature.facts().polling)
        .filter_map(|rule| rule.lost_after)
        .min()
        // A spec that states no window loses no task.
        .unwrap_or(Duration::MAX)
}
