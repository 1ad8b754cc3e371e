//! Fault injection: make the next requests to a route fail in a chosen way.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::provider::Provider;

/// What happens to a request that a rule catches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and the provider's error body, without processing.
    Status(u16),
    /// Answer 429 with a `Retry-After` of this many seconds, without processing.
    TooManyRequests {
        /// Value of the `Retry-After` header.
        retry_after_secs: u64,
    },
    /// Answer 200 with a truncated JSON body, without processing.
    MalformedJson,
    /// Wait this long, then process the request normally (a slow network before the provider).
    Delay(Duration),
    /// Process the request at once, then wait this long before answering (a slow provider).
    SlowAnswer(Duration),
    /// Close the connection without answering and without processing.
    DropBeforeProcessing,
    /// Process the request (charging if it charges), then close the connection without answering.
    DropAfterProcessing,
}

/// A rule: the next `times` requests to `provider` + `path` (and `method`, when set) suffer
/// `fault`.
///
/// Rules parse from `PROVIDER:PATH=FAULT[*TIMES]`, the syntax of the binary's `--fault` flag:
///
/// ```
/// use pixmill_sandbox::{Fault, FaultRule, Provider};
///
/// let rule: FaultRule = "hitpaw:/api/photo-enhancer=503*3".parse().unwrap();
/// assert_eq!(rule.provider, Provider::Hitpaw);
/// assert_eq!(rule.fault, Fault::Status(503));
/// assert_eq!(rule.times, 3);
///
/// let rule: FaultRule = "perfect:POST /s2s/v1.0/task/enhance=drop-after".parse().unwrap();
/// assert_eq!(rule.method.as_deref(), Some("POST"));
/// assert_eq!(rule.fault, Fault::DropAfterProcessing);
/// ```
///
/// Faults: a status (`500`, `503`, ...), `429@SECS` (429 with `Retry-After`), `malformed`,
/// `delay@MILLIS` (before processing), `slow@MILLIS` (after processing), `drop` (before
/// processing) or `drop-after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// The provider whose route this is.
    pub provider: Provider,
    /// Upper-case HTTP method, or any method when `None`.
    pub method: Option<String>,
    /// The provider's own path (`/api/task-status`), without the sandbox prefix.
    pub path: String,
    /// What happens.
    pub fault: Fault,
    /// How many of the next matching requests are affected.
    pub times: u32,
}

impl FaultRule {
    /// A rule for any method on `path`, affecting the next request only.
    pub fn new(provider: Provider, path: impl Into<String>, fault: Fault) -> FaultRule {
        FaultRule {
            provider,
            method: None,
            path: path.into(),
            fault,
            times: 1,
        }
    }

    /// Affects the next `times` matching requests.
    pub fn times(mut self, times: u32) -> FaultRule {
        self.times = times;
        self
    }

    /// Matches only requests with this method.
    pub fn method(mut self, method: &str) -> FaultRule {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    fn matches(&self, provider: Provider, method: &str, path: &str) -> bool {
        self.provider == provider
            && self.path == path
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

impl FromStr for FaultRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = "expected PROVIDER:[METHOD ]PATH=FAULT[*TIMES]";
        let (target, effect) = s.rsplit_once('=').ok_or(syntax)?;
        let (provider, route) = target.split_once(':').ok_or(syntax)?;
        let provider: Provider = provider.trim().parse()?;
        let route = route.trim();
        let (method, path) = match route.split_once(' ') {
            Some((method, path)) => (Some(method.to_ascii_uppercase()), path.trim()),
            None => (None, route),
        };
        if !path.starts_with('/') {
            return Err(format!("path `{path}` must start with `/`"));
        }
        let (fault, times) = match effect.split_once('*') {
            Some((fault, times)) => (
                fault,
                times
                    .parse::<u32>()
                    .map_err(|_| format!("`{times}` is not a count"))?,
            ),
            None => (effect, 1),
        };
        Ok(FaultRule {
            provider,
            method,
            path: path.to_string(),
            fault: fault.trim().parse()?,
            times,
        })
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let number = |text: &str| {
            text.parse::<u64>()
                .map_err(|_| format!("`{text}` is not a number"))
        };
        Ok(match s {
            "malformed" => Fault::MalformedJson,
            "drop" => Fault::DropBeforeProcessing,
            "drop-after" => Fault::DropAfterProcessing,
            _ => {
                if let Some(secs) = s.strip_prefix("429@") {
                    Fault::TooManyRequests {
                        retry_after_secs: number(secs)?,
                    }
                } else if let Some(ms) = s.strip_prefix("delay@") {
                    Fault::Delay(Duration::from_millis(number(ms)?))
                } else if let Some(ms) = s.strip_prefix("slow@") {
                    Fault::SlowAnswer(Duration::from_millis(number(ms)?))
                } else {
                    match s.parse::<u16>() {
                        Ok(status) if (400..=599).contains(&status) => Fault::Status(status),
                        _ => {
                            return Err(format!(
                                "unknown fault `{s}` (expected a 4xx/5xx status, 429@SECS, malformed, delay@MILLIS, slow@MILLIS, drop or drop-after)"
                            ));
                        }
                    }
                }
            }
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status(status) => write!(f, "{status}"),
            Fault::TooManyRequests { retry_after_secs } => write!(f, "429@{retry_after_secs}"),
            Fault::MalformedJson => f.write_str("malformed"),
            Fault::Delay(delay) => write!(f, "delay@{}", delay.as_millis()),
            Fault::SlowAnswer(delay) => write!(f, "slow@{}", delay.as_millis()),
            Fault::DropBeforeProcessing => f.write_str("drop"),
            Fault::DropAfterProcessing => f.write_str("drop-after"),
        }
    }
}

/// How the next jobs or tasks of a provider end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobFailure {
    /// HitPaw or Perfect.
    pub provider: Provider,
    /// Perfect's engine error code (`error_no_face`, ...), sent as given, so a code the spec
    /// does not list can be played too; ignored for HitPaw, whose status carries no code.
    pub code: String,
    /// How many of the next jobs end this way.
    pub times: u32,
}

/// The active rules, consumed as requests arrive.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    rules: Vec<FaultRule>,
    job_failures: Vec<JobFailure>,
    /// Faults for the presigned upload route, which belongs to no provider's API.
    uploads: Vec<(Fault, u32)>,
}

impl FaultTable {
    pub(crate) fn add(&mut self, rule: FaultRule) {
        if rule.times > 0 {
            self.rules.push(rule);
        }
    }

    pub(crate) fn add_job_failure(&mut self, failure: JobFailure) {
        if failure.times > 0 {
            self.job_failures.push(failure);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
        self.job_failures.clear();
        self.uploads.clear();
    }

    pub(crate) fn add_upload_fault(&mut self, fault: Fault, times: u32) {
        if times > 0 {
            self.uploads.push((fault, times));
        }
    }

    /// Takes one use of the first pending upload fault.
    pub(crate) fn take_upload_fault(&mut self) -> Option<Fault> {
        let (fault, times) = self.uploads.first_mut()?;
        *times -= 1;
        let fault = fault.clone();
        if *times == 0 {
            self.uploads.remove(0);
        }
        Some(fault)
    }

    /// Takes one use of the first rule matching this request.
    pub(crate) fn take(&mut self, provider: Provider, method: &str, path: &str) -> Option<Fault> {
        let index = self
            .rules
            .iter()
            .position(|rule| rule.matches(provider, method, path))?;
        let rule = &mut self.rules[index];
        rule.times -= 1;
        let fault = rule.fault.clone();
        if rule.times == 0 {
            self.rules.remove(index);
        }
        Some(fault)
    }

    /// Takes one use of a pending job failure for `provider`, returning its code.
    pub(crate) fn take_job_failure(&mut self, provider: Provider) -> Option<String> {
        let index = self
            .job_failures
            .iter()
            .position(|failure| failure.provider == provider)?;
        let failure = &mut self.job_failures[index];
        failure.times -= 1;
        let code = failure.code.clone();
        if failure.times == 0 {
            self.job_failures.remove(index);
        }
        Some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fault_kind() {
        let cases = [
            ("hotpot:/remove-background=500", Fault::Status(500), 1),
            (
                "segmind:/hotshot-xl=429@7*2",
                Fault::TooManyRequests {
                    retry_after_secs: 7,
                },
                2,
            ),
            ("hitpaw:/api/task-status=malformed", Fault::MalformedJson, 1),
            (
                "perfect:/s2s/v1.0/task/enhance=delay@250*4",
                Fault::Delay(Duration::from_millis(250)),
                4,
            ),
            (
                "hitpaw:/api/photo-enhancer=drop",
                Fault::DropBeforeProcessing,
                1,
            ),
            (
                "hitpaw:/api/photo-enhancer=drop-after",
                Fault::DropAfterProcessing,
                1,
            ),
        ];
        for (text, fault, times) in cases {
            let rule: FaultRule = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(rule.fault, fault, "{text}");
            assert_eq!(rule.times, times, "{text}");
            assert_eq!(rule.fault.to_string().parse::<Fault>().unwrap(), fault);
        }
    }

    #[test]
    fn rejects_malformed_rules() {
        for bad in [
            "hitpaw:/x",
            "nobody:/x=500",
            "hitpaw:x=500",
            "hitpaw:/x=200",
            "hitpaw:/x=teapot",
            "hitpaw:/x=500*many",
        ] {
            assert!(bad.parse::<FaultRule>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn rules_are_consumed_in_order_and_by_method() {
        let mut table = FaultTable::default();
        table.add(FaultRule::new(Provider::Hitpaw, "/a", Fault::Status(500)).times(2));
        table.add(FaultRule::new(Provider::Hitpaw, "/a", Fault::MalformedJson).method("GET"));
        assert_eq!(
            table.take(Provider::Hitpaw, "POST", "/a"),
            Some(Fault::Status(500))
        );
        assert_eq!(table.take(Provider::Hotpot, "POST", "/a"), None);
        assert_eq!(
            table.take(Provider::Hitpaw, "POST", "/a"),
            Some(Fault::Status(500))
        );
        assert_eq!(table.take(Provider::Hitpaw, "POST", "/a"), None);
        assert_eq!(
            table.take(Provider::Hitpaw, "GET", "/a"),
            Some(Fault::MalformedJson)
        );
        assert_eq!(table.take(Provider::Hitpaw, "GET", "/a"), None);
    }
}
