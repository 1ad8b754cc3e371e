//! The client core every provider shares: settings, credentials, retries and the bounded
//! transport, and the builder that configures them.
//!
//! A provider's `Client` is its generated client plus this core. Credentials are a strategy:
//! a key in a header (Hotpot, HitPaw, Segmind), or Perfect's exchanged, expiring token.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pixmill_spec::AuthScheme;
use pixmill_spec::hooks::RequestHooks;
use progenitor_client::{Error as ApiError, ResponseValue};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};

use crate::error::{ConfigError, Error, Provider};
use crate::poll::PollPolicy;
use crate::retry::{Call, ErrorBody, RetryPolicy, Safety};
use crate::transport::{BodyLimits, BoundedTransport, CallContext, Splices};

/// The `User-Agent` pixmill sends unless told otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("pixmill/", env!("CARGO_PKG_VERSION"));

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Headers that carry credentials, and which credentials they are (for a refresh after 401).
pub(crate) struct Credential {
    pub headers: HeaderMap,
    pub generation: u64,
}

/// Where a client's credentials come from.
pub(crate) trait Credentials: Send + Sync + 'static {
    /// The headers for the next request, refreshing an expired token first.
    fn credential(&self) -> BoxFuture<'_, Result<Credential, Error>>;

    /// The server refused the credentials of `generation`: refresh them if that can help.
    /// Returns whether a repeat of the call is worth it.
    fn refused(&self, _generation: u64) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
}

/// A fixed key, sent as the spec's auth scheme says.
pub(crate) struct StaticKey {
    headers: HeaderMap,
}

impl StaticKey {
    pub(crate) fn new(scheme: AuthScheme, key: &SecretString) -> Result<StaticKey, Error> {
        let (name, text) = match scheme {
            AuthScheme::ApiKeyHeader { name } => (
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| ConfigError::Invalid(format!("`{name}` is not a header name")))?,
                key.expose_secret().to_string(),
            ),
            _ => (AUTHORIZATION, format!("Bearer {}", key.expose_secret())),
        };
        Ok(StaticKey {
            headers: secret_header(name, &text)?,
        })
    }
}

impl Credentials for StaticKey {
    fn credential(&self) -> BoxFuture<'_, Result<Credential, Error>> {
        let headers = self.headers.clone();
        Box::pin(async move {
            Ok(Credential {
                headers,
                generation: 0,
            })
        })
    }
}

/// A header whose value is a secret, marked sensitive so `reqwest` never prints it.
pub(crate) fn secret_header(name: HeaderName, secret: &str) -> Result<HeaderMap, Error> {
    let mut value = HeaderValue::from_str(secret).map_err(|_| {
        ConfigError::Invalid(format!(
            "the {name} credential contains characters not allowed in a header"
        ))
    })?;
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(name, value);
    Ok(headers)
}

/// The shared part of every provider client: settings, credentials, retries, transport.
/// Cheap to clone. Opaque outside pixmill.
#[doc(hidden)]
#[derive(Clone)]
pub struct Core {
    inner: Arc<CoreInner>,
}

struct CoreInner {
    provider: Provider,
    base_url: String,
    http: reqwest::Client,
    retry: RetryPolicy,
    poll: Option<PollPolicy>,
    transport: BoundedTransport,
    credentials: Arc<dyn Credentials>,
}

impl Core {
    pub(crate) fn new(
        provider: Provider,
        settings: Settings,
        credentials: Arc<dyn Credentials>,
    ) -> Core {
        Core {
            inner: Arc::new(CoreInner {
                provider,
                base_url: settings.base_url,
                http: settings.http,
                retry: settings.retry,
                poll: settings.poll,
                transport: BoundedTransport {
                    limits: settings.limits,
                },
                credentials,
            }),
        }
    }

    pub(crate) fn provider(&self) -> Provider {
        self.inner.provider
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The caller's poll policy, when one was set.
    pub(crate) fn poll(&self) -> Option<&PollPolicy> {
        self.inner.poll.as_ref()
    }

    /// The hooks of a generated client built on this core: credentials on every request, and
    /// the bounded transport.
    pub(crate) fn hooks(&self) -> RequestHooks {
        let credentials = self.inner.credentials.clone();
        RequestHooks::with_headers(move || {
            let credentials = credentials.clone();
            Box::pin(async move {
                let context = CallContext::current();
                match credentials.credential().await {
                    Ok(credential) => {
                        if let Some(context) = &context {
                            context.update(|r| r.auth_generation = Some(credential.generation));
                        }
                        Ok(credential.headers)
                    }
                    Err(error) => {
                        let text = error.to_string();
                        // The generated client can only carry text; the call picks the typed
                        // error up from its context.
                        if let Some(context) = &context {
                            context.update(|r| r.hook_error = Some(error));
                        }
                        Err(text)
                    }
                }
            })
        })
        .with_transport(Arc::new(self.inner.transport))
    }

    /// A generated client for `base_url` with these hooks.
    pub(crate) fn call_for(&self, operation: &'static str, safety: Safety) -> Call {
        Call {
            provider: self.inner.provider,
            operation,
            safety,
        }
    }

    /// Runs one operation of the generated client with retries. A 401 makes the credentials
    /// refresh (when they can) and the call run once more.
    pub(crate) async fn call<T, E, F, Fut>(
        &self,
        operation: &'static str,
        safety: Safety,
        send: F,
    ) -> Result<ResponseValue<T>, Error>
    where
        E: ErrorBody,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, ApiError<E>>>,
    {
        self.call_spliced(operation, safety, None, send).await
    }

    /// [`Core::call`] with pictures streamed in and out of the JSON bodies (see
    /// [`crate::splice`]).
    pub(crate) async fn call_spliced<T, E, F, Fut>(
        &self,
        operation: &'static str,
        safety: Safety,
        splices: Option<Arc<Splices>>,
        mut send: F,
    ) -> Result<ResponseValue<T>, Error>
    where
        E: ErrorBody,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, ApiError<E>>>,
    {
        if safety == Safety::Charged {
            // A charged call starts the provider's work (and possibly its bill).
            crate::activity::report(crate::activity::Activity::Processing);
        }
        let call = self.call_for(operation, safety);
        let generation = AtomicU64::new(u64::MAX);
        let mut refreshed = false;
        loop {
            let result = call
                .run_attempts(&self.inner.retry, |context| {
                    context.set_splices(splices.clone());
                    let attempt = send();
                    let generation = &generation;
                    async move {
                        let outcome = context.scope(attempt).await;
                        let record = context.take();
                        if let Some(used) = record.auth_generation {
                            generation.store(used, Ordering::Relaxed);
                        }
                        match outcome {
                            Ok(value) => Ok(value),
                            Err(error) => Err(call.convert(error, record).await),
                        }
                    }
                })
                .await;
            // Only a refused token is worth one refresh: when no credential went out (the
            // exchange itself was refused), another exchange would be refused the same way.
            let used = generation.load(Ordering::Relaxed);
            match result {
                Err(Error::Api { status: 401, .. })
                    if !refreshed
                        && used != u64::MAX
                        && self.inner.credentials.refused(used).await =>
                {
                    refreshed = true;
                }
                other => return other,
            }
        }
    }

    /// Sends a request outside the generated client (a presigned upload, a download) with the
    /// same retries, bounds and error handling. A non-2xx answer is an error.
    pub(crate) async fn send<F>(
        &self,
        operation: &'static str,
        safety: Safety,
        mut build: F,
    ) -> Result<reqwest::Response, Error>
    where
        F: FnMut() -> reqwest::RequestBuilder,
    {
        let call = self.call_for(operation, safety);
        let transport = self.inner.transport;
        call.run_attempts(&self.inner.retry, |context| {
            let request = build();
            async move {
                let sent = request.send().await;
                let response = match sent {
                    Ok(response) if response.status().is_success() => return Ok(response),
                    Ok(response) => response,
                    Err(source) => return Err(call.transport_error(source, None)),
                };
                let status = response.status().as_u16();
                let retry_after = crate::retry::retry_after(response.headers());
                let bounded = context
                    .scope(transport.bound(response))
                    .await
                    .map_err(|source| call.transport_error(source, Some(status)))?;
                let body = bounded.bytes().await.unwrap_or_default();
                Err(call.status_error(status, None, crate::error::excerpt(&body), retry_after))
            }
        })
        .await
    }

    /// Writes the core's settings into a `Debug` struct, never a credential.
    pub(crate) fn debug(&self, f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
        f.debug_struct(name)
            .field("base_url", &self.inner.base_url)
            .field("credentials", &"[redacted]")
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// What a builder collects before it builds a client, whatever the provider.
#[derive(Clone, Debug, Default)]
pub(crate) struct CommonBuilder {
    pub base_url: Option<String>,
    pub timeout: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub retry: Option<RetryPolicy>,
    pub poll: Option<PollPolicy>,
    pub user_agent: Option<String>,
    pub http: Option<reqwest::Client>,
    pub limits: BodyLimits,
}

/// Resolved settings of a client.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub base_url: String,
    pub http: reqwest::Client,
    pub retry: RetryPolicy,
    /// `None`: the provider's documented cadence.
    pub poll: Option<PollPolicy>,
    pub limits: BodyLimits,
}

impl CommonBuilder {
    /// The settings, with `default_base_url` unless another was set.
    pub(crate) fn settings(&self, default_base_url: &str) -> Result<Settings, Error> {
        let base_url = self
            .base_url
            .clone()
            .unwrap_or_else(|| default_base_url.to_string());
        let base_url = base_url.trim_end_matches('/').to_string();
        match reqwest::Url::parse(&base_url) {
            Ok(url) if url.scheme() == "http" || url.scheme() == "https" => {}
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "base URL `{base_url}` is not an http(s) URL"
                ))
                .into());
            }
        }
        let http = match &self.http {
            Some(http) => http.clone(),
            None => reqwest::Client::builder()
                .user_agent(self.user_agent.as_deref().unwrap_or(DEFAULT_USER_AGENT))
                .timeout(self.timeout.unwrap_or(Duration::from_secs(120)))
                .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(15)))
                .build()
                .map_err(ConfigError::Http)?,
        };
        Ok(Settings {
            base_url,
            http,
            retry: self.retry.clone().unwrap_or_default(),
            poll: self.poll.clone(),
            limits: self.limits,
        })
    }
}

/// Builds a provider's client: the settings every provider shares, plus the provider's own
/// (`C`): its credentials and options. Each provider module names its builder
/// (`pixmill::hitpaw::ClientBuilder`).
///
/// ```
/// use std::time::Duration;
/// use pixmill::{PollPolicy, RetryPolicy};
///
/// let client = pixmill::hitpaw::Client::builder()
///     .api_key("my-key")
///     .base_url("http://127.0.0.1:8080/hitpaw")
///     .timeout(Duration::from_secs(30))
///     .retry_policy(RetryPolicy::default().with_max_attempts(6))
///     .poll_policy(PollPolicy::new(Duration::from_secs(5)))
///     .build()?;
/// # Ok::<(), pixmill::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ClientBuilder<C> {
    pub(crate) config: C,
    pub(crate) common: CommonBuilder,
}

impl<C: fmt::Debug> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `C` redacts its own credentials.
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("common", &self.common)
            .finish()
    }
}

impl<C> ClientBuilder<C> {
    /// Uses another base URL (the sandbox, a proxy). Defaults to the provider's production
    /// URL, or the provider's `*_BASE_URL` variable with `from_env`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.common.base_url = Some(url.into());
        self
    }

    /// Timeout of each HTTP request (default 120 s). Ignored with [`Self::http_client`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.common.timeout = Some(timeout);
        self
    }

    /// Timeout for establishing a connection (default 15 s). Ignored with
    /// [`Self::http_client`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.common.connect_timeout = Some(timeout);
        self
    }

    /// How failed calls are retried (see [`crate::RetryPolicy`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.common.retry = Some(policy);
        self
    }

    /// How jobs are polled by `wait()`, instead of the provider's documented cadence.
    pub fn poll_policy(mut self, policy: PollPolicy) -> Self {
        self.common.poll = Some(policy);
        self
    }

    /// The `User-Agent` header (default `pixmill/<version>`). Ignored with
    /// [`Self::http_client`].
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.common.user_agent = Some(user_agent.into());
        self
    }

    /// Sends everything through an existing `reqwest::Client` (sharing its connection pool,
    /// proxy, TLS and timeout settings). Credentials are still added per request.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.common.http = Some(client);
        self
    }

    /// The most bytes of a JSON answer read into memory (default 256 MiB). A longer answer is
    /// [`Error::InvalidResponse`]. Error bodies are always read up to 64 KiB only.
    pub fn max_answer_bytes(mut self, bytes: usize) -> Self {
        self.common.limits.answer = bytes;
        self
    }
}

/// A provider whose client authenticates with one fixed key. Implemented by the `Service`
/// marker of each such provider module.
pub trait KeyedService: sealed::Sealed + Send + Sync + 'static {
    /// The provider.
    const PROVIDER: Provider;
    /// The variable `from_env` reads the key from.
    const KEY_VAR: &'static str;
    /// The variable `from_env` reads a base URL from, when set.
    const BASE_URL_VAR: &'static str;
    /// The production server, from the spec.
    const SERVER_URL: &'static str;
    /// How the key is sent, from the spec.
    const AUTH: AuthScheme;
    /// The client this builder builds.
    type Client;
    #[doc(hidden)]
    fn client(core: Core) -> Self::Client;
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// The credentials part of a [`ClientBuilder`] for a provider authenticated by one key.
pub struct KeyConfig<S> {
    key: Option<SecretString>,
    service: PhantomData<fn() -> S>,
}

impl<S> Default for KeyConfig<S> {
    fn default() -> Self {
        KeyConfig {
            key: None,
            service: PhantomData,
        }
    }
}

impl<S> Clone for KeyConfig<S> {
    fn clone(&self) -> Self {
        KeyConfig {
            key: self.key.clone(),
            service: PhantomData,
        }
    }
}

impl<S> fmt::Debug for KeyConfig<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyConfig")
            .field("api_key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl<S: KeyedService> ClientBuilder<KeyConfig<S>> {
    /// The API key, sent as the provider's spec says on every request.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.key = Some(SecretString::from(key.into()));
        self
    }

    /// A builder with the key from the provider's key variable and, when set, its base URL
    /// variable.
    pub fn from_env() -> Result<Self, Error> {
        let key = env(S::KEY_VAR).ok_or(ConfigError::MissingVariable(S::KEY_VAR))?;
        let mut builder = ClientBuilder::default().api_key(key);
        if let Some(url) = env(S::BASE_URL_VAR) {
            builder = builder.base_url(url);
        }
        Ok(builder)
    }

    /// Builds the client. Fails without a key, with a key that cannot be sent in a header, or
    /// with a base URL that is not http(s).
    pub fn build(self) -> Result<S::Client, Error> {
        let key = self
            .config
            .key
            .ok_or(ConfigError::MissingSetting("an API key"))?;
        let credentials = StaticKey::new(S::AUTH, &key)?;
        let settings = self.common.settings(S::SERVER_URL)?;
        Ok(S::client(Core::new(
            S::PROVIDER,
            settings,
            Arc::new(credentials),
        )))
    }
}

/// Reads an environment variable, treating empty as unset.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_sensitive_headers_of_the_spec_scheme() {
        let key = SecretString::from("k-123".to_string());
        let header = StaticKey::new(AuthScheme::ApiKeyHeader { name: "X-API-KEY" }, &key).unwrap();
        let value = &header.headers["x-api-key"];
        assert!(value.is_sensitive());
        assert_eq!(value, "k-123");
        let bearer = StaticKey::new(AuthScheme::Bearer, &key).unwrap();
        assert_eq!(bearer.headers[AUTHORIZATION], "Bearer k-123");
        let newline = SecretString::from("bad\nkey".to_string());
        assert!(StaticKey::new(AuthScheme::Bearer, &newline).is_err());
    }

    #[test]
    fn base_urls_must_be_http() {
        let builder = CommonBuilder {
            base_url: Some("ftp://example.test".into()),
            ..CommonBuilder::default()
        };
        assert!(builder.settings("https://x.test").is_err());
        let settings = CommonBuilder::default()
            .settings("https://x.test/")
            .unwrap();
        assert_eq!(settings.base_url, "https://x.test");
    }
}
