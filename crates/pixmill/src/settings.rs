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

/// Declares `Client` and `ClientBuilder` for a provider authenticated by one API key header.
///
/// Expects in scope: the generated crate as `api`, `DEFAULT_BASE_URL`, and the imports the
/// expansion names (`Arc`, `fmt`, `SecretString`, `RequestHooks`, `Error`, `Settings`,
/// `CommonBuilder`, `env`, `secret_header`).
#[cfg_attr(
    not(any(feature = "hotpot", feature = "hitpaw", feature = "segmind")),
    allow(unused_macros)
)]
macro_rules! api_key_client {
    (
        name: $name:literal,
        module: $module:literal,
        key_var: $key_var:literal,
        base_url_var: $base_url_var:literal,
        header: $header:literal,
        header_doc: $header_doc:literal $(,)?
    ) => {
        #[doc = concat!("A ", $name, " client. Cheap to clone; clones share one connection pool.")]
        #[derive(Clone)]
        pub struct Client {
            inner: Arc<Inner>,
        }

        struct Inner {
            api: api::Client,
            settings: Settings,
        }

        impl fmt::Debug for Client {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(concat!($module, "::Client"))
                    .field("base_url", &self.inner.settings.base_url)
                    .field("api_key", &"[redacted]")
                    .finish()
            }
        }

        impl Client {
            /// A client for the production API with default settings.
            ///
            /// # Panics
            ///
            /// If the TLS backend cannot be initialised, like `reqwest::Client::new`. Use
            /// [`Client::builder`] to get an error instead.
            pub fn new(api_key: impl Into<String>) -> Client {
                Client::builder()
                    .api_key(api_key)
                    .build()
                    .expect("the default settings are valid")
            }

            #[doc = concat!("A client configured from `", $key_var, "` and, when set, `", $base_url_var, "`.")]
            pub fn from_env() -> Result<Client, Error> {
                let key = env($key_var)
                    .ok_or_else(|| Error::Config(concat!($key_var, " is not set").into()))?;
                let mut builder = Client::builder().api_key(key);
                if let Some(url) = env($base_url_var) {
                    builder = builder.base_url(url);
                }
                builder.build()
            }

            /// A builder for every setting.
            pub fn builder() -> ClientBuilder {
                ClientBuilder::default()
            }

            /// The generated client underneath, for raw access to every operation.
            pub fn api(&self) -> &api::Client {
                &self.inner.api
            }
        }

        #[doc = concat!("Builds a [`Client`].")]
        ///
        /// ```
        /// use std::time::Duration;
        /// use pixmill::{PollPolicy, RetryPolicy};
        ///
        #[doc = concat!("let client = pixmill::", $module, "::Client::builder()")]
        ///     .api_key("my-key")
        #[doc = concat!("    .base_url(\"http://127.0.0.1:8080/", $module, "\")")]
        ///     .timeout(Duration::from_secs(30))
        ///     .retry_policy(RetryPolicy::default().with_max_attempts(6))
        ///     .build()?;
        /// # Ok::<(), pixmill::Error>(())
        /// ```
        #[derive(Clone, Default)]
        pub struct ClientBuilder {
            api_key: Option<SecretString>,
            common: CommonBuilder,
        }

        impl fmt::Debug for ClientBuilder {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(concat!($module, "::ClientBuilder"))
                    .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
                    .field("common", &self.common)
                    .finish()
            }
        }

        impl ClientBuilder {
            #[doc = concat!("The API key (sent as `", $header_doc, "`).")]
            pub fn api_key(mut self, key: impl Into<String>) -> Self {
                self.api_key = Some(SecretString::from(key.into()));
                self
            }

            $crate::settings::common_builder_methods!();

            /// Builds the client.
            pub fn build(self) -> Result<Client, Error> {
                let key = self
                    .api_key
                    .ok_or_else(|| Error::Config(concat!("a ", $name, " API key is required").into()))?;
                let headers = secret_header($header, &key).map_err(Error::Config)?;
                let settings = self.common.settings(DEFAULT_BASE_URL)?;
                let hooks = RequestHooks::with_headers(move || {
                    let headers = headers.clone();
                    Box::pin(async move { Ok(headers) })
                });
                let api = api::Client::new_with_client(&settings.base_url, settings.http.clone(), hooks);
                Ok(Client {
                    inner: Arc::new(Inner { api, settings }),
                })
            }
        }
    };
}

#[cfg(any(feature = "hotpot", feature = "hitpaw", feature = "segmind"))]
pub(crate) use api_key_client;
