//! Starting sandboxes and talking to them with the generated clients.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use pixmill_sandbox::{Fault, Provider, Sandbox, SandboxConfig};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rsa::pkcs8::DecodePublicKey as _;

use crate::conformance::{Answer, violation};

/// A sandbox with short timings, so tests stay fast.
pub async fn quick_sandbox() -> Sandbox {
    Sandbox::start_with(quick_config())
        .await
        .expect("sandbox starts")
}

/// Settings with short job and task durations and a fast polling interval.
pub fn quick_config() -> SandboxConfig {
    SandboxConfig {
        hitpaw_job_duration: Duration::from_millis(150),
        perfect_task_duration: Duration::from_millis(150),
        perfect_polling_interval: Duration::from_millis(50),
        ..SandboxConfig::default()
    }
}

/// A `reqwest::Client` that sends `header: value` on every request.
pub fn http_with(header: &'static str, value: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static(header),
        HeaderValue::from_str(value).expect("header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client builds")
}

/// Generated Hotpot client for the sandbox.
pub fn hotpot(sandbox: &Sandbox) -> pixmill_hotpot_api::Client {
    pixmill_hotpot_api::Client::new_with_client(
        &sandbox.base_url(Provider::Hotpot),
        http_with("x-api-key", &sandbox.credentials().hotpot_api_key),
        Default::default(),
    )
}

/// Generated HitPaw client for the sandbox.
pub fn hitpaw(sandbox: &Sandbox) -> pixmill_hitpaw_api::Client {
    pixmill_hitpaw_api::Client::new_with_client(
        &sandbox.base_url(Provider::Hitpaw),
        http_with("apikey", &sandbox.credentials().hitpaw_api_key),
        Default::default(),
    )
}

/// Generated Segmind client for the sandbox.
pub fn segmind(sandbox: &Sandbox) -> pixmill_segmind_api::Client {
    pixmill_segmind_api::Client::new_with_client(
        &sandbox.base_url(Provider::Segmind),
        http_with("x-api-key", &sandbox.credentials().segmind_api_key),
        Default::default(),
    )
}

/// The `id_token` Perfect's auth expects: `client_id=..&timestamp=..` encrypted with the
/// client secret (base64 DER SubjectPublicKeyInfo) using RSA PKCS#1 v1.5, then base64.
pub fn perfect_id_token(client_id: &str, secret: &str, timestamp_ms: u128) -> String {
    let der = base64::engine::general_purpose::STANDARD
        .decode(secret)
        .expect("secret is base64");
    let key = rsa::RsaPublicKey::from_public_key_der(&der).expect("secret is an SPKI key");
    let plain = format!("client_id={client_id}&timestamp={timestamp_ms}");
    let cipher = key
        .encrypt(
            &mut rand::thread_rng(),
            rsa::Pkcs1v15Encrypt,
            plain.as_bytes(),
        )
        .expect("encrypts");
    base64::engine::general_purpose::STANDARD.encode(cipher)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis()
}

/// Exchanges credentials for a token and returns a generated Perfect client that sends it.
pub async fn perfect(sandbox: &Sandbox) -> pixmill_perfect_api::Client {
    let base = sandbox.base_url(Provider::Perfect);
    let anonymous = pixmill_perfect_api::Client::new_with_client(
        &base,
        reqwest::Client::new(),
        Default::default(),
    );
    let credentials = sandbox.credentials();
    let token = anonymous
        .auth()
        .body(pixmill_perfect_api::types::AuthRequest {
            client_id: credentials.perfect_client_id.parse().expect("a client id"),
            id_token: perfect_id_token(
                &credentials.perfect_client_id,
                &credentials.perfect_client_secret,
                now_ms(),
            )
            .parse()
            .expect("an id token"),
        })
        .send()
        .await
        .expect("auth succeeds")
        .into_inner()
        .result
        .access_token;
    pixmill_perfect_api::Client::new_with_client(
        &base,
        http_with("authorization", &format!("Bearer {token}")),
        Default::default(),
    )
}

/// Generated Perfect V2 client for the sandbox, sending its API key.
pub fn perfect_v2(sandbox: &Sandbox) -> pixmill_perfect_v2_api::Client {
    pixmill_perfect_v2_api::Client::new_with_client(
        &sandbox.base_url(Provider::Perfect),
        http_with(
            "authorization",
            &format!("Bearer {}", sandbox.credentials().perfect_api_key),
        ),
        Default::default(),
    )
}

/// Every JSON answer the sandbox gave that does not match the spec (injected malformed bodies
/// excepted), one message each.
pub fn spec_violations(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .traffic()
        .iter()
        .filter(|e| e.fault != Some(Fault::MalformedJson))
        .filter_map(|e| {
            let answer = Answer {
                provider: e.provider?.name(),
                method: &e.method,
                path: &e.path,
                status: e.status?,
                body: e.json_body.as_deref()?,
            };
            violation(&answer)
        })
        .collect()
}

/// A small PNG: a red square on a white background, `width`×`height`.
pub fn sample_png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let inside = x > width / 4 && x < width * 3 / 4 && y > height / 4 && y < height * 3 / 4;
        if inside {
            image::Rgb([220, 20, 20])
        } else {
            image::Rgb([255, 255, 255])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encodes");
    out.into_inner()
}

/// A small JPEG of the same picture.
pub fn sample_jpeg(width: u32, height: u32) -> Vec<u8> {
    let png = sample_png(width, height);
    let image = image::load_from_memory(&png).expect("decodes");
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encodes");
    out.into_inner()
}
