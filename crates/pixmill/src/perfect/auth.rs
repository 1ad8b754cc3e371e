//! Perfect's token exchange: an RSA-encrypted `id_token` for a bearer token that lasts 2 hours.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use pixmill_perfect_api as api;
use rsa::pkcs8::DecodePublicKey as _;
use secrecy::{ExposeSecret as _, SecretString};

use super::PROVIDER;
use crate::error::Error;
use crate::retry::{Call, RetryPolicy, Safety};

/// Builds the `id_token`: `client_id=<id>&timestamp=<ms>` encrypted with the client secret (a
/// base64 DER SubjectPublicKeyInfo RSA key) using PKCS#1 v1.5, then base64.
pub(crate) fn id_token(
    client_id: &str,
    key: &rsa::RsaPublicKey,
    now: SystemTime,
) -> Result<String, Error> {
    let millis = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::Config("the system clock is before 1970".into()))?
        .as_millis();
    let plain = format!("client_id={client_id}&timestamp={millis}");
    let cipher = key
        .encrypt(
            &mut rand::thread_rng(),
            rsa::Pkcs1v15Encrypt,
            plain.as_bytes(),
        )
        .map_err(|e| Error::Config(format!("cannot encrypt the id_token: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(cipher))
}

/// Parses the client secret.
pub(crate) fn public_key(secret: &SecretString) -> Result<rsa::RsaPublicKey, Error> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(secret.expose_secret().trim())
        .map_err(|_| Error::Config("the Perfect client secret is not base64".into()))?;
    rsa::RsaPublicKey::from_public_key_der(&der).map_err(|_| {
        Error::Config("the Perfect client secret is not a DER SubjectPublicKeyInfo RSA key".into())
    })
}

/// When the cached token stops being used, and which one it is.
struct Token {
    refresh_at: Instant,
    generation: u64,
}

/// Caches the access token, refreshes it before it expires, and lets concurrent callers share
/// one refresh (they wait on the same lock and then find the new token).
pub(crate) struct Tokens {
    api: api::Client,
    client_id: String,
    key: rsa::RsaPublicKey,
    lifetime: Duration,
    retry: RetryPolicy,
    cached: tokio::sync::Mutex<Option<Token>>,
    /// The token the request hook sends; set with every refresh.
    current: std::sync::RwLock<Option<SecretString>>,
}

impl Tokens {
    pub(crate) fn new(
        api: api::Client,
        client_id: String,
        key: rsa::RsaPublicKey,
        lifetime: Duration,
        retry: RetryPolicy,
    ) -> Tokens {
        Tokens {
            api,
            client_id,
            key,
            lifetime,
            retry,
            cached: tokio::sync::Mutex::new(None),
            current: std::sync::RwLock::new(None),
        }
    }

    /// A valid token and its generation, exchanging credentials when there is none or it is
    /// close to expiry.
    pub(crate) async fn get(&self) -> Result<u64, Error> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.generation);
        }
        let generation = cached.as_ref().map_or(1, |t| t.generation + 1);
        let value = self.exchange().await?;
        // Refresh with a margin: a tenth of the lifetime, at most five minutes.
        let margin = (self.lifetime / 10).min(Duration::from_secs(300));
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(value);
        *cached = Some(Token {
            refresh_at: Instant::now() + self.lifetime.saturating_sub(margin),
            generation,
        });
        tracing::debug!(provider = %PROVIDER, generation, "access token refreshed");
        Ok(generation)
    }

    /// Forgets the token of `generation` after the server refused it, unless a newer one
    /// already replaced it.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|t| t.generation == generation) {
            *cached = None;
        }
    }

    /// The token to send now, if one has been obtained.
    pub(crate) fn current(&self) -> Option<SecretString> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    async fn exchange(&self) -> Result<SecretString, Error> {
        let answer = Call {
            provider: PROVIDER,
            operation: "auth",
            safety: Safety::Idempotent,
        }
        .run(&self.retry, || {
            let body = id_token(&self.client_id, &self.key, SystemTime::now()).map(|id_token| {
                api::types::AuthRequest {
                    client_id: self.client_id.clone(),
                    id_token,
                }
            });
            async move {
                match body {
                    Ok(body) => self.api.auth().body(body).send().await,
                    Err(error) => Err(progenitor_client::Error::Custom(error.to_string())),
                }
            }
        })
        .await?;
        Ok(SecretString::from(answer.into_inner().result.access_token))
    }
}
