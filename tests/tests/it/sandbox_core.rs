//! The sandbox as a whole: every operation in `specs/` is served and answers by its spec, the
//! settings it exports, and fault injection.

use std::time::Duration;

use tokio::time::Instant;

use pixmill_sandbox::{Fault, FaultRule, Provider, Sandbox};
use pixmill_tests::conformance::operation_of;
use pixmill_tests::sandbox::{hitpaw, hotpot, quick_sandbox, spec_violations};
use pixmill_tests::{PROVIDERS, provider_of, spec_path};
use serde_json::Value;
use xtask::spec::Spec;

/// The auth header a provider expects, with the sandbox's credential.
async fn auth_header(sandbox: &Sandbox, provider: Provider) -> (&'static str, String) {
    let c = sandbox.credentials();
    match provider {
        Provider::Hotpot => ("x-api-key", c.hotpot_api_key.clone()),
        Provider::Hitpaw => ("apikey", c.hitpaw_api_key.clone()),
        Provider::Segmind => ("x-api-key", c.segmind_api_key.clone()),
        Provider::Perfect => {
            let body = serde_json::json!({
                "client_id": c.perfect_client_id,
                "id_token": pixmill_tests::sandbox::perfect_id_token(
                    &c.perfect_client_id,
                    &c.perfect_client_secret,
                    pixmill_tests::sandbox::now_ms(),
                ),
            });
            let answer: Value = reqwest::Client::new()
                .post(format!(
                    "{}/s2s/v1.0/client/auth",
                    sandbox.base_url(provider)
                ))
                .json(&body)
                .send()
                .await
                .expect("auth answers")
                .json()
                .await
                .expect("auth is JSON");
            let token = answer["result"]["access_token"].as_str().expect("a token");
            ("authorization", format!("Bearer {token}"))
        }
    }
}

/// The credential an operation of `spec` takes: the provider's, except where the spec names
/// another scheme for the operation (Perfect V2 takes its API key, but its unit operations take
/// the older API's access token).
async fn credential_for(
    sandbox: &Sandbox,
    spec: &Spec,
    name: &str,
    op: &xtask::spec::Operation<'_>,
) -> (&'static str, String) {
    let provider = provider_of(name);
    if name != provider.name() {
        let own_scheme = op.value["security"]
            .as_array()
            .and_then(|schemes| schemes.first())
            .and_then(Value::as_object)
            .and_then(|scheme| scheme.keys().next())
            .is_none_or(|scheme| spec.json["security"][0].get(scheme).is_some());
        if own_scheme {
            let key = &sandbox.credentials().perfect_api_key;
            return ("authorization", format!("Bearer {key}"));
        }
    }
    auth_header(sandbox, provider).await
}

/// Sends each operation of every spec once, with its documented example body and parameter
/// examples, and checks that the sandbox routes it (no fallback 404/405) and that every
/// answer matches its spec.
#[tokio::test(start_paused = true)]
async fn every_operation_is_served_and_answers_by_its_spec() {
    let sandbox = quick_sandbox().await;
    let http = reqwest::Client::new();
    let mut served = 0;
    for name in PROVIDERS {
        let provider = provider_of(name);
        let spec = Spec::load(&spec_path(name)).expect("spec loads");
        for op in spec.operations() {
            let (header, value) = credential_for(&sandbox, &spec, name, &op).await;
            let mut url = format!("{}{}", sandbox.base_url(provider), op.path);
            let query: Vec<String> = op.value["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| spec.deref(p))
                .filter(|p| p["in"] == "query")
                .filter_map(|p| {
                    let example = p.get("example").or_else(|| p.pointer("/schema/example"))?;
                    let text = match example {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    Some(format!("{}={}", p["name"].as_str()?, url_encode(&text)))
                })
                .collect();
            if !query.is_empty() {
                url = format!("{url}?{}", query.join("&"));
            }
            let method = reqwest::Method::from_bytes(op.method.to_uppercase().as_bytes())
                .expect("HTTP method");
            let mut request = http.request(method, &url).header(header, &value);
            if let Some(example) = xtask::examples::body_examples(&spec)
                .into_iter()
                .find(|e| e.operation_id == op.id() && e.role == "request")
            {
                request = request.json(&example.example);
            }
            let response = request.send().await.expect("the sandbox answers");
            let status = response.status().as_u16();
            assert!(
                status != 404 && status != 405,
                "{name} {} {} is not served ({status})",
                op.method,
                op.path
            );
            served += 1;
        }
    }
    assert!(served >= 104, "only {served} operations");
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    // Every recorded answer belongs to an operation of the specs.
    for exchange in sandbox.traffic() {
        let provider = exchange.provider.expect("only provider routes were called");
        assert!(
            operation_of(provider.name(), &exchange.method, &exchange.path).is_some(),
            "{provider} {} {}",
            exchange.method,
            exchange.path
        );
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn exports_point_every_provider_at_the_sandbox() {
    let sandbox = quick_sandbox().await;
    let exports = sandbox.exports();
    let lines: Vec<&str> = exports.lines().collect();
    assert_eq!(lines.len(), 10);
    let origin = format!("http://{}", sandbox.addr());
    for provider in Provider::ALL {
        let name = format!("{}_BASE_URL", provider.name().to_uppercase());
        assert!(
            lines.contains(&format!("export {name}={origin}{}", provider.prefix()).as_str()),
            "{name} missing from {exports}"
        );
    }
    assert!(exports.contains(&format!(
        "export PERFECT_CLIENT_SECRET={}",
        sandbox.credentials().perfect_client_secret
    )));
    // One Perfect base URL serves both APIs; the key selects V2.
    assert!(exports.contains(&format!(
        "export PERFECT_API_KEY={}",
        sandbox.credentials().perfect_api_key
    )));
}

fn png_base64(width: u32, height: u32) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .encode(pixmill_tests::sandbox::sample_png(width, height))
}

async fn supersize(sandbox: &Sandbox) -> Result<u16, String> {
    let answer = hotpot(sandbox)
        .supersize_image()
        .body(pixmill_hotpot_api::types::SupersizeImageRequest {
            image_base64: png_base64(8, 8).parse().unwrap(),
            size_factor: 2.try_into().expect("2 is a documented factor"),
            image_style: pixmill_hotpot_api::types::SupersizeImageRequestImageStyle::Default,
            noise_cancellation_factor: 0.try_into().expect("0 is documented"),
        })
        .send()
        .await;
    match answer {
        Ok(response) => Ok(response.status().as_u16()),
        Err(pixmill_hotpot_api::Error::ErrorResponse(response)) => Ok(response.status().as_u16()),
        Err(other) => Err(other.to_string()),
    }
}

#[tokio::test(start_paused = true)]
async fn status_faults_apply_the_given_number_of_times_without_charging() {
    let sandbox = quick_sandbox().await;
    sandbox
        .inject(FaultRule::new(Provider::Hotpot, "/supersize-image", Fault::Status(503)).times(2));
    let before = sandbox.balance(Provider::Hotpot);
    assert_eq!(supersize(&sandbox).await, Ok(503));
    assert_eq!(supersize(&sandbox).await, Ok(503));
    assert_eq!(
        sandbox.balance(Provider::Hotpot),
        before,
        "faulted calls are not processed"
    );
    assert_eq!(supersize(&sandbox).await, Ok(200));
    assert_eq!(sandbox.balance(Provider::Hotpot), before - 1);
    assert!(spec_violations(&sandbox).is_empty());
}

#[tokio::test(start_paused = true)]
async fn too_many_requests_carries_retry_after() {
    let sandbox = quick_sandbox().await;
    sandbox.inject(FaultRule::new(
        Provider::Hitpaw,
        "/api/task-status",
        Fault::TooManyRequests {
            retry_after_secs: 3,
        },
    ));
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/task-status",
            sandbox.base_url(Provider::Hitpaw)
        ))
        .header("apikey", &sandbox.credentials().hitpaw_api_key)
        .json(&serde_json::json!({ "job_id": "x" }))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error_code"], 100429000);
    assert!(spec_violations(&sandbox).is_empty());
}

#[tokio::test(start_paused = true)]
async fn malformed_json_reaches_the_client_as_an_invalid_payload() {
    let sandbox = quick_sandbox().await;
    sandbox.inject(FaultRule::new(
        Provider::Hitpaw,
        "/api/task-status",
        Fault::MalformedJson,
    ));
    let error = hitpaw(&sandbox)
        .task_status()
        .body(pixmill_hitpaw_api::types::TaskStatusRequest {
            job_id: "anything".into(),
        })
        .send()
        .await
        .expect_err("a truncated body cannot parse");
    assert!(
        matches!(error, pixmill_hitpaw_api::Error::InvalidResponsePayload(..)),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn delays_hold_the_answer_back() {
    let sandbox = quick_sandbox().await;
    sandbox.inject(FaultRule::new(
        Provider::Hotpot,
        "/supersize-image",
        Fault::Delay(Duration::from_millis(300)),
    ));
    let started = Instant::now();
    assert_eq!(supersize(&sandbox).await, Ok(200));
    assert!(started.elapsed() >= Duration::from_millis(300));
}

async fn enhance_submit(sandbox: &Sandbox) -> reqwest::Result<reqwest::Response> {
    reqwest::Client::new()
        .post(format!(
            "{}/api/photo-enhancer",
            sandbox.base_url(Provider::Hitpaw)
        ))
        .header("apikey", &sandbox.credentials().hitpaw_api_key)
        .json(&serde_json::json!({
            "model_name": "general_2x",
            "img_url": format!("{}/_files/missing.png", sandbox.base_url(Provider::Hitpaw)),
            "extension": ".png",
        }))
        .send()
        .await
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_before_processing_charges_nothing() {
    let sandbox = quick_sandbox().await;
    sandbox.inject(FaultRule::new(
        Provider::Segmind,
        "/hotshot-xl",
        Fault::DropBeforeProcessing,
    ));
    let before = sandbox.balance(Provider::Segmind);
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/hotshot-xl",
            sandbox.base_url(Provider::Segmind)
        ))
        .header("x-api-key", &sandbox.credentials().segmind_api_key)
        .json(&serde_json::json!({ "prompt": "a cat", "width": 256, "height": 256 }))
        .send()
        .await;
    let error = answer.expect_err("no answer comes back");
    assert!(!error.is_status(), "{error}");
    assert_eq!(sandbox.balance(Provider::Segmind), before);
    assert_eq!(
        sandbox.request_count(Provider::Segmind, "POST", "/hotshot-xl"),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_after_processing_has_charged() {
    let sandbox = quick_sandbox().await;
    sandbox.inject(FaultRule::new(
        Provider::Segmind,
        "/hotshot-xl",
        Fault::DropAfterProcessing,
    ));
    let before = sandbox.balance(Provider::Segmind);
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/hotshot-xl",
            sandbox.base_url(Provider::Segmind)
        ))
        .header("x-api-key", &sandbox.credentials().segmind_api_key)
        .json(&serde_json::json!({ "prompt": "a cat", "width": 256, "height": 256 }))
        .send()
        .await;
    assert!(answer.is_err(), "the connection closes without an answer");
    assert_eq!(
        sandbox.balance(Provider::Segmind),
        before - 1,
        "the work was done"
    );
    assert_eq!(sandbox.charges().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn faults_match_method_and_provider() {
    let sandbox = quick_sandbox().await;
    sandbox.inject(
        FaultRule::new(Provider::Hitpaw, "/api/photo-enhancer", Fault::Status(500)).method("GET"),
    );
    // A POST is not caught by a GET rule: the request is processed (and fails on its input).
    let response = enhance_submit(&sandbox).await.expect("answers");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error_code"], 100400001, "{body}");
    sandbox.clear_faults();
    assert!(spec_violations(&sandbox).is_empty());
}

#[test]
fn the_conformance_check_catches_a_wrong_body_and_an_undeclared_status() {
    use pixmill_tests::conformance::{Answer, violation};
    let answer = |status, body| Answer {
        provider: "hitpaw",
        method: "POST",
        path: "/api/task-status",
        status,
        body,
    };
    assert_eq!(
        violation(&answer(
            200,
            r#"{"code": 200, "data": {"job_id": "j", "status": "COMPLETED"}}"#
        )),
        None
    );
    let wrong_type = violation(&answer(200, r#"{"code": "200", "data": {}}"#));
    assert!(wrong_type.is_some_and(|v| v.contains("\"200\"")));
    let wrong_enum = violation(&answer(
        200,
        r#"{"code": 200, "data": {"job_id": "j", "status": "DONE"}}"#,
    ));
    assert!(wrong_enum.is_some());
    let undeclared = violation(&answer(418, "{}"));
    assert!(undeclared.is_some_and(|v| v.contains("no 418 or 4XX")));
}

/// The sandbox refuses `null` anywhere in a request body: right only while no schema of the
/// specs it serves, requests among them, is `nullable`.
#[test]
fn no_request_field_the_sandbox_serves_is_nullable() {
    fn nullable(value: &Value, path: &mut Vec<String>, found: &mut Vec<String>) {
        match value {
            Value::Object(fields) => {
                if fields.get("nullable") == Some(&Value::Bool(true)) {
                    found.push(path.join("/"));
                }
                for (name, child) in fields {
                    path.push(name.clone());
                    nullable(child, path, found);
                    path.pop();
                }
            }
            Value::Array(items) => items.iter().for_each(|item| nullable(item, path, found)),
            _ => {}
        }
    }
    for provider in Provider::ALL {
        let spec = Spec::load(&spec_path(provider.name())).expect("spec loads");
        let mut found = Vec::new();
        nullable(&spec.json, &mut Vec::new(), &mut found);
        assert!(
            found.is_empty(),
            "{provider}: nullable schemas {found:?}; the sandbox's null check must learn them"
        );
    }
}
