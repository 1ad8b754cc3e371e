//! Settings every provider client shares, and the builder methods that set them.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};

use crate::error::Error;
use crate::poll::PollPolicy;
use crate::retry::RetryPolicy;

/// The `User-Agent` pixmill sends unless told otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("pixmill/", env!("CARGO_PKG_VERSION"));

/// What a provider builder collects before it builds a client.
#[derive(Clone, Debug, Default)]
pub(crate) struct CommonBuilder {
    pub base_url: Option<String>,
    pub timeout: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub retry: Option<RetryPolicy>,
    pub poll: Option<PollPolicy>,
    pub user_agent: Option<String>,
    pub http: Option<reqwest::Client>,
}

/// Resolved settings of a built client.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub base_url: String,
    pub http: reqwest::Client,
    pub retry: RetryPolicy,
    /// `None`: the provider's documented cadence.
    pub poll: Option<PollPolicy>,
}

impl CommonBuilder {
    pub(crate) fn settings(&self, default_base_url: &str) -> Result<Settings, Error> {
        let base_url = self
            .base_url
            .clone()
            .unwrap_or_else(|| default_base_url.to_string());
        let base_url = base_url.trim_end_matches('/').to_string();
        match reqwest::Url::parse(&base_url) {
            Ok(url) if url.scheme() == "http" || url.scheme() == "https" => {}
            _ => {
                return Err(Error::Config(format!(
                    "base URL `{base_url}` is not an http(s) URL"
                )));
            }
        }
        let http = match &self.http {
            Some(http) => http.clone(),
            None => reqwest::Client::builder()
                .user_agent(self.user_agent.as_deref().unwrap_or(DEFAULT_USER_AGENT))
                .timeout(self.timeout.unwrap_or(Duration::from_secs(120)))
                .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(15)))
                .build()
                .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?,
        };
        Ok(Settings {
            base_url,
            http,
            retry: self.retry.clone().unwrap_or_default(),
            poll: self.poll.clone(),
        })
    }
}

/// A header carrying a secret, marked sensitive so `reqwest` never prints it.
pub(crate) fn secret_header(
    name: &'static str,
    secret: &SecretString,
) -> Result<HeaderMap, String> {
    let mut value = HeaderValue::from_str(secret.expose_secret()).map_err(|_| {
        format!("the {name} credential contains characters not allowed in a header")
    })?;
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static(name), value);
    Ok(headers)
}

/// Reads an environment variable, treating empty as unset.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Builder methods every provider's `ClientBuilder` has; expects a `common: CommonBuilder` field.
macro_rules! common_builder_methods {
    () => {
        /// Uses another base URL (the sandbox, a proxy). Defaults to the provider's production URL,
        /// or the provider's `*_BASE_URL` variable with `from_env`.
        pub fn base_url(mut self, url: impl Into<String>) -> Self {
            self.common.base_url = Some(url.into());
            self
        }

        /// Timeout of each HTTP request (default 120 s). Ignored with [`Self::http_client`].
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.common.timeout = Some(timeout);
            self
        }

        /// Timeout for establishing a connection (default 15 s). Ignored with
        /// [`Self::http_client`].
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.common.connect_timeout = Some(timeout);
            self
        }

        /// How failed calls are retried (see [`crate::RetryPolicy`]).
        pub fn retry_policy(mut self, policy: crate::RetryPolicy) -> Self {
            self.common.retry = Some(policy);
            self
        }

        /// How jobs are polled by `wait()`, instead of the provider's documented cadence.
        pub fn poll_policy(mut self, policy: crate::PollPolicy) -> Self {
            self.common.poll = Some(policy);
            self
        }

        /// The `User-Agent` header (default `pixmill/<version>`). Ignored with
        /// [`Self::http_client`].
        pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
            self.common.user_agent = Some(user_agent.into());
            self
        }

        /// Sends everything through an existing `reqwest::Client` (sharing its connection
        /// pool, proxy, TLS and timeout settings). Credentials are still added per request.
        pub fn http_client(mut self, client: reqwest::Client) -> Self {
            self.common.http = Some(client);
            self
        }
    };
}

pub(crate) use common_builder_methods;
