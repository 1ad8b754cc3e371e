//! The sandbox's Perfect V2 emulation through the generated client and plain HTTP: the API
//! key, the file API, task ids that need percent-encoding, the either/or rules of run-task
//! bodies, engine errors, units and the unit operations. Every test ends by checking that each
//! JSON answer the sandbox gave matches `specs/perfect-v2.yaml`.

use std::time::Duration;

use tokio::time::Instant;

use pixmill_perfect_v2_api::constants::parameters;
use pixmill_perfect_v2_api::features::Feature;
use pixmill_perfect_v2_api::types::{
    CreateFileRequest, EngineErrorCode, ErrorCode, FileRequest, TaskStatus,
};
use pixmill_sandbox::{Provider, Sandbox};
use pixmill_tests::sandbox::{
    http_with, perfect_v2, quick_sandbox, sample_jpeg, sample_png, spec_violations,
};
use serde_json::{Value, json};

fn assert_conforms(sandbox: &Sandbox) {
    let violations = spec_violations(sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

/// Registers and uploads `bytes` through the generated client; returns the file id.
async fn upload(sandbox: &Sandbox, bytes: Vec<u8>, content_type: &str) -> String {
    let answer = perfect_v2(sandbox)
        .create_file()
        .body(CreateFileRequest {
            files: vec![FileRequest {
                content_type: content_type.parse().unwrap(),
                file_name: "photo".parse().unwrap(),
                file_size: bytes.len() as i64,
            }],
        })
        .send()
        .await
        .expect("create_file answers")
        .into_inner();
    let file = answer.data.files.into_iter().next().expect("one file");
    let request = &file.requests[0];
    let mut put = reqwest::Client::new().put(&request.url).body(bytes);
    for (name, value) in &request.headers {
        put = put.header(name, value.as_str().expect("text headers"));
    }
    let status = put.send().await.expect("upload answers").status();
    assert!(status.is_success(), "upload answered {status}");
    file.file_id
}

/// Runs `feature` with `body` over plain HTTP; returns the status and the JSON answer.
async fn run(sandbox: &Sandbox, feature: Feature, body: Value) -> (u16, Value) {
    let path = feature.facts().operation("run_task").unwrap().path;
    let response = http_with(
        "authorization",
        &format!("Bearer {}", sandbox.credentials().perfect_api_key),
    )
    .post(format!("{}{path}", sandbox.base_url(Provider::Perfect)))
    .json(&body)
    .send()
    .await
    .expect("run_task answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// Polls through the generated dispatch (which percent-encodes the id) until the task ends;
/// returns its final state as JSON.
async fn finish(sandbox: &Sandbox, feature: Feature, task_id: &str) -> Value {
    let client = perfect_v2(sandbox);
    let started = Instant::now();
    loop {
        let answer = feature
            .check_status(&client, task_id.parse().unwrap())
            .await
            .expect("check_status answers")
            .into_inner();
        let answer = serde_json::to_value(answer).unwrap();
        if answer["data"]["task_status"] != json!(TaskStatus::Running.to_string()) {
            return answer["data"].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still running");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

fn task_id(answer: &Value) -> String {
    answer["data"]["task_id"]
        .as_str()
        .expect("a task id")
        .to_string()
}

#[tokio::test(start_paused = true)]
async fn the_api_key_is_required_and_the_older_token_is_not_it() {
    let sandbox = quick_sandbox().await;
    let base = sandbox.base_url(Provider::Perfect);
    let path = Feature::HairStyle
        .facts()
        .operation("list_templates")
        .unwrap()
        .path;
    for client in [
        reqwest::Client::new(),
        http_with("authorization", "Bearer sk-someone-else"),
    ] {
        let answer = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 401);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(
            body["error_code"],
            json!(ErrorCode::InvalidApiKey.to_string())
        );
    }
    // The unit operations take the older API's access token, not the key.
    let with_key = http_with(
        "authorization",
        &format!("Bearer {}", sandbox.credentials().perfect_api_key),
    )
    .get(format!("{base}/s2s/v1.0/client/credit"))
    .send()
    .await
    .unwrap();
    assert_eq!(with_key.status(), 401);
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn an_uploaded_file_runs_and_its_task_id_needs_percent_encoding() {
    let sandbox = quick_sandbox().await;
    let file = upload(&sandbox, sample_png(40, 30), "image/png").await;
    let (status, answer) = run(
        &sandbox,
        Feature::Enhance,
        json!({ "src_file_id": file, "scale": 2 }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let id = task_id(&answer);
    assert!(id.contains('/') && id.contains('+'), "{id}");
    let done = finish(&sandbox, Feature::Enhance, &id).await;
    assert_eq!(done["task_status"], json!("success"), "{done}");
    let url = done["results"]["url"].as_str().expect("a result URL");
    let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let image = image::load_from_memory(&bytes).unwrap();
    assert_eq!((image.width(), image.height()), (80, 60));
    // Another feature's status path does not know the task.
    let other = Feature::Colorize
        .check_status(&perfect_v2(&sandbox), id.parse().unwrap())
        .await
        .expect_err("unknown there");
    assert_eq!(other.status().map(|s| s.as_u16()), Some(400));
    let charges = sandbox.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(
        charges[0].amount as f64,
        Feature::Enhance.facts().costs[0].units
    );
    assert_eq!(charges[0].reference.as_deref(), Some(id.as_str()));
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn run_task_bodies_follow_the_either_or_rules() {
    let sandbox = quick_sandbox().await;
    let file = upload(&sandbox, sample_jpeg(40, 40), "image/jpeg").await;
    let template = "hair_restyle_001";
    let url = "http://127.0.0.1:9/photo.jpg";
    let refused = [
        (Feature::HairRestyle, json!({ "src_file_id": file })),
        (
            Feature::HairRestyle,
            json!({ "src_file_id": file, "template_id": template, "ref_file_url": url }),
        ),
        (
            Feature::HairRestyle,
            json!({ "src_file_id": file, "src_file_url": url, "template_id": template }),
        ),
        (
            Feature::HairRestyle,
            json!({ "src_file_id": file, "template_id": "no_such_template" }),
        ),
        (
            Feature::Colorize,
            json!({ "src_file_id": "never-registered" }),
        ),
        (Feature::MakeupTransfer, json!({ "src_file_id": file })),
        (Feature::Enhance, json!({ "src_file_id": file, "scale": 3 })),
        (
            Feature::YoucamImageToImage,
            json!({ "model": "youcam-image-v2", "prompt": "p", "src_file_urls": [url, url, url, url] }),
        ),
    ];
    for (feature, body) in refused {
        let (status, answer) = run(&sandbox, feature, body.clone()).await;
        assert_eq!(status, 400, "{feature} {body}: {answer}");
        assert_eq!(
            answer["error_code"],
            json!(ErrorCode::InvalidParameters.to_string()),
            "{feature} {body}"
        );
    }
    for body in [
        json!({ "src_file_id": file, "template_id": template, "hair_color": "src" }),
        json!({ "src_file_id": file, "ref_file_id": file }),
    ] {
        let (status, answer) = run(&sandbox, Feature::HairRestyle, body.clone()).await;
        assert_eq!(status, 200, "{body}: {answer}");
    }
    assert!(sandbox.charges().is_empty(), "refusals cost nothing");
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn the_engine_fails_tasks_with_documented_codes() {
    let sandbox = quick_sandbox().await;
    let never_uploaded = {
        let answer = perfect_v2(&sandbox)
            .create_file()
            .body(CreateFileRequest {
                files: vec![FileRequest {
                    content_type: "image/jpeg".parse().unwrap(),
                    file_name: "lost.jpg".parse().unwrap(),
                    file_size: 10,
                }],
            })
            .send()
            .await
            .unwrap()
            .into_inner();
        answer.data.files[0].file_id.clone()
    };
    let png = upload(&sandbox, sample_png(40, 40), "image/png").await;
    let photo = upload(&sandbox, sample_jpeg(40, 40), "image/jpeg").await;
    let cases = [
        (
            Feature::Colorize,
            json!({ "src_file_id": never_uploaded }),
            EngineErrorCode::UnknownInternalError,
        ),
        (
            Feature::Colorize,
            json!({ "src_file_url": "https://example.com/remote.jpg" }),
            EngineErrorCode::ErrorDownloadImage,
        ),
        (
            Feature::ObjectRemoval,
            json!({ "src_file_id": photo, "msk_file_url": "https://example.com/mask.png" }),
            EngineErrorCode::ErrorDownloadMask,
        ),
        (
            Feature::HairStyle,
            json!({ "src_file_id": png, "template_id": "hair_style_001" }),
            EngineErrorCode::InvalidParameter,
        ),
        (
            Feature::Aging,
            json!({ "src_file_id": photo }),
            EngineErrorCode::ErrorBelowMinImageSize,
        ),
    ];
    for (feature, body, code) in cases {
        let (status, answer) = run(&sandbox, feature, body.clone()).await;
        assert_eq!(status, 200, "{feature} {body}: {answer}");
        let done = finish(&sandbox, feature, &task_id(&answer)).await;
        assert_eq!(done["task_status"], json!("error"), "{feature}: {done}");
        assert_eq!(done["error"], json!(code.to_string()), "{feature}: {done}");
    }
    assert!(sandbox.charges().is_empty(), "failed tasks cost nothing");
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn units_prices_and_history() {
    let sandbox = quick_sandbox().await;
    let photo = upload(&sandbox, sample_jpeg(40, 40), "image/jpeg").await;
    let price = Feature::Colorize.facts().costs[0].units as i64;
    sandbox.set_balance(Provider::Perfect, price - 1);
    let (status, answer) = run(&sandbox, Feature::Colorize, json!({ "src_file_id": photo })).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["error_code"],
        json!(ErrorCode::CreditInsufficiency.to_string())
    );
    sandbox.set_balance(Provider::Perfect, 100);
    let (_, answer) = run(&sandbox, Feature::Colorize, json!({ "src_file_id": photo })).await;
    let id = task_id(&answer);
    let done = finish(&sandbox, Feature::Colorize, &id).await;
    assert!(done["results"]["output"].as_array().unwrap().len() > 1);
    assert_eq!(sandbox.balance(Provider::Perfect), 100 - price);

    let older = pixmill_perfect_api::Client::new_with_client(
        &sandbox.base_url(Provider::Perfect),
        reqwest::Client::new(),
        Default::default(),
    );
    let token = older
        .auth()
        .body(pixmill_perfect_api::types::AuthRequest {
            client_id: sandbox.credentials().perfect_client_id.parse().unwrap(),
            id_token: pixmill_tests::sandbox::perfect_id_token(
                &sandbox.credentials().perfect_client_id,
                &sandbox.credentials().perfect_client_secret,
                pixmill_tests::sandbox::now_ms(),
            )
            .parse()
            .unwrap(),
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .result
        .access_token;
    let units = pixmill_perfect_v2_api::Client::new_with_client(
        &sandbox.base_url(Provider::Perfect),
        http_with("authorization", &format!("Bearer {token}")),
        Default::default(),
    );
    let balance = units.credit_balance().send().await.unwrap().into_inner();
    assert_eq!(balance.results[0].amount_dec, Some((100 - price) as f64));
    let history = units.credit_history().send().await.unwrap().into_inner();
    assert_eq!(history.result.history.len(), 1);
    assert_eq!(
        history.result.history[0].target_id.as_deref(),
        Some(id.as_str())
    );

    let prices = perfect_v2(&sandbox)
        .feature_cost()
        .send()
        .await
        .unwrap()
        .into_inner();
    let listed = prices.result.skus.len();
    let documented = Feature::ALL
        .iter()
        .filter(|f| !f.facts().costs.is_empty())
        .count();
    let first_page = usize::try_from(parameters::PAGE_SIZE_DEFAULT).unwrap();
    assert_eq!(
        listed,
        documented.min(first_page),
        "one price per feature on the first page"
    );
    assert_conforms(&sandbox);
}

#[tokio::test(start_paused = true)]
async fn only_finished_tasks_and_only_task_ids_can_be_deleted() {
    let sandbox = quick_sandbox().await;
    let photo = upload(&sandbox, sample_jpeg(40, 40), "image/jpeg").await;
    let client = perfect_v2(&sandbox);
    let delete = |id: String| {
        let client = client.clone();
        async move {
            client
                .delete_task()
                .body(pixmill_perfect_v2_api::types::DeleteTaskRequest {
                    task_id: id.parse().unwrap(),
                })
                .send()
                .await
        }
    };
    let code =
        |error: pixmill_perfect_v2_api::Error<pixmill_perfect_v2_api::types::Error>| match error {
            pixmill_perfect_v2_api::Error::ErrorResponse(answer) => answer.into_inner().error_code,
            other => panic!("{other:?}"),
        };
    assert_eq!(
        code(delete(photo.clone()).await.unwrap_err()),
        Some(ErrorCode::OperationNotSupport)
    );
    assert_eq!(
        code(delete("no-such-task".into()).await.unwrap_err()),
        Some(ErrorCode::InvalidTaskId)
    );
    let (_, answer) = run(&sandbox, Feature::Colorize, json!({ "src_file_id": photo })).await;
    let id = task_id(&answer);
    finish(&sandbox, Feature::Colorize, &id).await;
    delete(id.clone())
        .await
        .expect("a finished task is deleted");
    assert_eq!(
        code(delete(id).await.unwrap_err()),
        Some(ErrorCode::InvalidTaskId)
    );
    assert_conforms(&sandbox);
}
