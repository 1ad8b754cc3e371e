//! Perfect's token exchange: an RSA-encrypted `id_token` for a bearer token that expires.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use pixmill_perfect_api as api;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use rsa::pkcs8::DecodePublicKey as _;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::time::Instant;

use super::budget::Budget;
use crate::client::{BoxFuture, Core, Credential, Credentials, secret_header};
use crate::error::{ConfigError, Error};
use crate::retry::Safety;

/// Builds the `id_token`: `client_id=<id>&timestamp=<ms>` encrypted with the client secret (a
/// base64 DER SubjectPublicKeyInfo RSA key) using PKCS#1 v1.5, then base64.
pub(crate) fn id_token(
    client_id: &str,
    key: &rsa::RsaPublicKey,
    now: SystemTime,
) -> Result<String, Error> {
    let millis = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| ConfigError::Invalid("the system clock is before 1970".into()))?
        .as_millis();
    let plain = format!("client_id={client_id}&timestamp={millis}");
    let cipher = key
        .encrypt(
            &mut rand::thread_rng(),
            rsa::Pkcs1v15Encrypt,
            plain.as_bytes(),
        )
        .map_err(|e| ConfigError::Invalid(format!("cannot encrypt the id_token: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(cipher))
}

/// Parses the client secret.
pub(crate) fn public_key(secret: &SecretString) -> Result<rsa::RsaPublicKey, Error> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(secret.expose_secret().trim())
        .map_err(|_| ConfigError::Invalid("the Perfect client secret is not base64".into()))?;
    rsa::RsaPublicKey::from_public_key_der(&der).map_err(|_| {
        ConfigError::Invalid(
            "the Perfect client secret is not a DER SubjectPublicKeyInfo RSA key".into(),
        )
        .into()
    })
}

/// Requests that carry no credentials but still count against the rate budget: the token
/// exchange.
pub(crate) struct BudgetOnly(pub Arc<Budget>);

impl Credentials for BudgetOnly {
    fn credential(&self) -> BoxFuture<'_, Result<Credential, Error>> {
        Box::pin(async move {
            self.0.request().await;
            Ok(Credential {
                headers: HeaderMap::new(),
                generation: 0,
            })
        })
    }
}

/// The current token and when it stops being used.
struct Token {
    value: SecretString,
    refresh_at: Instant,
    generation: u64,
}

/// Caches the access token, refreshes it before it expires, and lets concurrent callers share
/// one refresh (they wait on the same lock and then find the new token).
pub(crate) struct Tokens {
    auth: Core,
    api: api::Client,
    client_id: SecretString,
    key: rsa::RsaPublicKey,
    lifetime: Duration,
    budget: Arc<Budget>,
    cached: tokio::sync::Mutex<Option<Token>>,
}

impl Tokens {
    pub(crate) fn new(
        auth: Core,
        client_id: SecretString,
        key: rsa::RsaPublicKey,
        lifetime: Duration,
        budget: Arc<Budget>,
    ) -> Tokens {
        let api = api::Client::new_with_client(auth.base_url(), auth.http().clone(), auth.hooks());
        Tokens {
            auth,
            api,
            client_id,
            key,
            lifetime,
            budget,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A valid token, exchanging credentials when there is none or it is close to expiry.
    async fn token(&self) -> Result<(SecretString, u64), Error> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok((token.value.clone(), token.generation));
        }
        let generation = cached.as_ref().map_or(1, |t| t.generation + 1);
        let value = self.exchange().await?;
        // Refresh with a margin: a tenth of the lifetime, at most five minutes.
        let margin = (self.lifetime / 10).min(Duration::from_secs(300));
        *cached = Some(Token {
            value: value.clone(),
            refresh_at: Instant::now() + self.lifetime.saturating_sub(margin),
            generation,
        });
        tracing::debug!(provider = %self.auth.provider(), generation, "access token refreshed");
        Ok((value, generation))
    }

    async fn exchange(&self) -> Result<SecretString, Error> {
        let client_id = self.client_id.expose_secret().to_string();
        let answer = self
            .auth
            .call("auth", Safety::Idempotent, || {
                let body =
                    id_token(&client_id, &self.key, SystemTime::now()).and_then(|id_token| {
                        api::types::AuthRequest::try_from(
                            api::types::AuthRequest::builder()
                                .client_id(client_id.clone())
                                .id_token(id_token),
                        )
                        .map_err(|e| crate::image::InputError::Request(format!("auth: {e}")).into())
                    });
                async move {
                    match body {
                        Ok(body) => self.api.auth().body(body).send().await,
                        Err(error) => {
                            Err(progenitor_client::Error::InvalidRequest(error.to_string()))
                        }
                    }
                }
            })
            .await?;
        Ok(SecretString::from(answer.into_inner().result.access_token))
    }
}

impl Credentials for Tokens {
    fn credential(&self) -> BoxFuture<'_, Result<Credential, Error>> {
        Box::pin(async move {
            self.budget.request().await;
            let (token, generation) = self.token().await?;
            Ok(Credential {
                headers: secret_header(
                    AUTHORIZATION,
                    &format!("Bearer {}", token.expose_secret()),
                )?,
                generation,
            })
        })
    }

    /// Forgets the token of `generation` after the server refused it, unless a newer one
    /// already replaced it.
    fn refused(&self, generation: u64) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            if cached.as_ref().is_some_and(|t| t.generation == generation) {
                *cached = None;
            }
            true
        })
    }
}
