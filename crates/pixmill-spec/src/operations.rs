//! Facts about how an API is reached and may be used: auth scheme, rate limits, polling
//! cadences and prices.

use std::time::Duration;

use crate::AppliesTo;

/// How an API authenticates every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthScheme {
    /// The credential in a header of this name.
    ApiKeyHeader {
        /// The header's name, as the spec spells it.
        name: &'static str,
    },
    /// `Authorization: Bearer <credential>`.
    Bearer,
}

/// Where an operation is served: its method and path template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// The spec's `operationId`.
    pub operation_id: &'static str,
    /// The HTTP method, in capitals.
    pub method: &'static str,
    /// The path template, relative to the server; `{name}` stands for one path segment.
    pub path: &'static str,
}

impl Route {
    /// Whether a request for `method` and `path` reaches this route.
    ///
    /// ```
    /// # use pixmill_spec::Route;
    /// let route = Route { operation_id: "check", method: "GET", path: "/task/{id}" };
    /// assert!(route.matches("GET", "/task/abc"));
    /// assert!(!route.matches("GET", "/task/abc/more"));
    /// assert!(!route.matches("POST", "/task/abc"));
    /// ```
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !method.eq_ignore_ascii_case(self.method) {
            return false;
        }
        let mut template = self.path.split('/');
        let mut actual = path.split('/');
        loop {
            match (template.next(), actual.next()) {
                (None, None) => return true,
                (Some(expected), Some(segment))
                    if expected.starts_with('{') && !segment.is_empty() => {}
                (Some(expected), Some(segment)) if expected == segment => {}
                _ => return false,
            }
        }
    }
}

/// Who a rate limit counts requests for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateScope {
    /// All requests from one client IP address.
    Ip,
    /// All requests carrying one access token.
    Token,
    /// All requests made with one API key.
    Key,
}

/// At most `requests` requests in any window of `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window.
    pub window: Duration,
    /// What the requests are counted for.
    pub scope: RateScope,
    /// Where the numbers come from: `docs`, `public-code` or `inferred`.
    pub source: &'static str,
}

/// How long a provider keeps files and their download links.
///
/// Every field is `None` when the provider documents no such period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Uploaded input files are deleted after this long.
    pub uploads: Option<Duration>,
    /// Result files are deleted after this long.
    pub results: Option<Duration>,
    /// Result download URLs stop working after this long.
    pub result_urls: Option<Duration>,
    /// Where the numbers come from: `docs`, `public-code` or `inferred`.
    pub source: &'static str,
}

/// How often a job may or must be polled.
///
/// Every field is `None` when the provider documents no such rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Polling {
    /// The operation that started the job, when the rule is specific to it.
    pub after: Option<&'static str>,
    /// The shortest recommended time between two polls.
    pub min_interval: Option<Duration>,
    /// The longest recommended time between two polls.
    pub max_interval: Option<Duration>,
    /// A job that goes this long without a poll is dropped by the provider.
    pub lost_after: Option<Duration>,
    /// Where the numbers come from: `docs`, `public-code` or `inferred`.
    pub source: &'static str,
}

impl Polling {
    /// Picks the rule for jobs started by `operation`, or the general rule.
    pub fn select<'a>(rules: &'a [Polling], operation: &str) -> Option<&'a Polling> {
        rules
            .iter()
            .find(|rule| rule.after == Some(operation))
            .or_else(|| rules.iter().find(|rule| rule.after.is_none()))
    }
}

/// What a price is counted per.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CostBasis {
    /// Each call.
    Call,
    /// Each result the call produces.
    Result,
}

/// A documented price of an operation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cost {
    /// Units (credits, coins) charged.
    pub units: f64,
    /// What the units are charged per.
    pub per: CostBasis,
    /// When set, the price applies only to requests whose field has one of these values.
    pub applies_to: Option<AppliesTo>,
    /// Where the number comes from: `docs`, `public-code` or `inferred`.
    pub source: &'static str,
}

impl Cost {
    /// Picks the price that applies to a request whose `field` has `value`.
    pub fn select<'a>(costs: &'a [Cost], field: &str, value: &str) -> Option<&'a Cost> {
        costs.iter().find(|cost| match cost.applies_to {
            None => true,
            Some(rule) => rule.field != field || rule.values.contains(&value),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_prefers_the_rule_of_the_starting_operation() {
        const RULES: &[Polling] = &[
            Polling {
                after: Some("enhance"),
                min_interval: Some(Duration::from_secs(5)),
                max_interval: None,
                lost_after: None,
                source: "docs",
            },
            Polling {
                after: None,
                min_interval: Some(Duration::from_secs(1)),
                max_interval: None,
                lost_after: None,
                source: "docs",
            },
        ];
        assert_eq!(
            Polling::select(RULES, "enhance").unwrap().min_interval,
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            Polling::select(RULES, "segment").unwrap().min_interval,
            Some(Duration::from_secs(1))
        );
        assert!(Polling::select(&RULES[..1], "segment").is_none());
    }

    #[test]
    fn costs_follow_their_field_value() {
        const COSTS: &[Cost] = &[
            Cost {
                units: 1.0,
                per: CostBasis::Result,
                applies_to: Some(AppliesTo {
                    field: "mode",
                    values: &["preset"],
                }),
                source: "docs",
            },
            Cost {
                units: 2.0,
                per: CostBasis::Result,
                applies_to: None,
                source: "docs",
            },
        ];
        assert_eq!(Cost::select(COSTS, "mode", "preset").unwrap().units, 1.0);
        assert_eq!(Cost::select(COSTS, "mode", "custom").unwrap().units, 2.0);
    }
}
