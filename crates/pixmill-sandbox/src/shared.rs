//! State shared by every handler of one sandbox.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

use axum::http::Method;
use axum::routing::MethodFilter;
use bytes::Bytes;
use rand::Rng;

use crate::config::SandboxConfig;
use crate::faults::FaultTable;
use crate::ledger::Ledger;
use crate::traffic::Exchange;

/// Credentials a sandbox accepts. They are made up per sandbox and are not secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Value for Hotpot's `X-API-KEY`.
    pub hotpot_api_key: String,
    /// Value for HitPaw's `Apikey`.
    pub hitpaw_api_key: String,
    /// Value for Segmind's `x-api-key`.
    pub segmind_api_key: String,
    /// Perfect's client id (the "API key").
    pub perfect_client_id: String,
    /// Perfect's client secret: the sandbox's RSA public key as base64 DER SubjectPublicKeyInfo.
    pub perfect_client_secret: String,
    /// Perfect V2's API key, sent as bearer token.
    pub perfect_api_key: String,
}

/// An object held for a presigned upload or served as a result file.
#[derive(Clone, Debug)]
pub(crate) struct Blob {
    pub bytes: Bytes,
    pub content_type: String,
}

/// A presigned upload that has not been used yet.
#[derive(Clone, Debug)]
pub(crate) struct PendingUpload {
    pub content_type: String,
    /// `None`: the slot never expires.
    pub expires: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct BlobStore {
    pub objects: std::collections::HashMap<String, Blob>,
    pub pending: std::collections::HashMap<String, PendingUpload>,
}

pub(crate) struct Shared {
    pub config: SandboxConfig,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub origin: String,
    pub credentials: Credentials,
    pub perfect_key: rsa::RsaPrivateKey,
    pub ledger: Mutex<Ledger>,
    pub faults: Mutex<FaultTable>,
    pub traffic: Mutex<Vec<Exchange>>,
    pub blobs: Mutex<BlobStore>,
    pub hitpaw: Mutex<crate::hitpaw::State>,
    pub perfect: Mutex<crate::perfect::State>,
    pub perfect_v2: Mutex<crate::perfect_v2::State>,
    /// Fetches HitPaw input URLs.
    pub http: reqwest::Client,
    next_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        config: SandboxConfig,
        origin: String,
        credentials: Credentials,
        perfect_key: rsa::RsaPrivateKey,
    ) -> Shared {
        Shared {
            ledger: Mutex::new(Ledger::new(config.balances)),
            hitpaw: Mutex::new(crate::hitpaw::State::default()),
            perfect: Mutex::new(crate::perfect::State::new(&config)),
            perfect_v2: Mutex::default(),
            config,
            origin,
            credentials,
            perfect_key,
            faults: Mutex::default(),
            traffic: Mutex::default(),
            blobs: Mutex::default(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            next_id: AtomicU64::new(1),
        }
    }

    /// A fresh id: a counter (so ids sort by creation) and random bits (so they are not guessable
    /// across sandboxes).
    pub(crate) fn new_id(&self, prefix: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let noise: u32 = rand::thread_rng().r#gen();
        format!("{prefix}{n:06}{noise:08x}")
    }

    /// Stores a result file and returns the URL it is served at.
    pub(crate) fn publish(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> String {
        lock(&self.blobs).objects.insert(
            key.to_string(),
            Blob {
                bytes: Bytes::from(bytes),
                content_type: content_type.to_string(),
            },
        );
        format!("{}/_files/{key}", self.origin)
    }

    /// Opens a presigned upload slot, open for `lifetime` (or for ever), and returns its URL.
    pub(crate) fn presign(
        &self,
        key: &str,
        content_type: &str,
        lifetime: Option<Duration>,
    ) -> String {
        let expires = lifetime.and_then(|lifetime| Instant::now().checked_add(lifetime));
        lock(&self.blobs).pending.insert(
            key.to_string(),
            PendingUpload {
                content_type: content_type.to_string(),
                expires,
            },
        );
        format!("{}/_uploads/{key}", self.origin)
    }

    /// An uploaded or published object.
    pub(crate) fn object(&self, key: &str) -> Option<Blob> {
        lock(&self.blobs).objects.get(key).cloned()
    }
}

/// The method filter of an HTTP method as a spec writes it (`GET`, `POST`, ...).
pub(crate) fn method_filter(method: &str) -> MethodFilter {
    Method::from_bytes(method.as_bytes())
        .ok()
        .and_then(|method| MethodFilter::try_from(method).ok())
        // Specs are linted to name standard methods only.
        .unwrap_or(MethodFilter::GET)
}

/// A router with each handler at its operation's method and path, from the generated
/// `service` module; each handler is named like its operation.
macro_rules! spec_routes {
    ($service:ident; $($operation:ident),+ $(,)?) => {
        axum::Router::new()
            $(.route(
                $service::$operation::PATH,
                axum::routing::on(
                    $crate::shared::method_filter($service::$operation::METHOD),
                    $operation,
                ),
            ))+
    };
}
pub(crate) use spec_routes;

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical section
/// leaves the state consistent, so a poisoned lock carries no broken invariant.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
