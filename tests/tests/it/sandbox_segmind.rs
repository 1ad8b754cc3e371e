//! End-to-end runs of the sandbox's Segmind HotshotXL emulation through the generated client:
//! GIF and MP4 answers with their headers, the documented errors, and the credit ledger.

use image::AnimationDecoder as _;
use image::codecs::gif::GifDecoder;
use pixmill_sandbox::{Provider, Sandbox, SandboxConfig};
use pixmill_segmind_api::constants::hotshot_xl_request::{HEIGHT_DEFAULT, WIDTH_DEFAULT};
use pixmill_segmind_api::types::{ErrorResponse, HotshotXlRequest};
use pixmill_segmind_api::{ByteStream, Error, ResponseValue};
use pixmill_tests::sandbox::{http_with, quick_config, segmind, spec_violations};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// Price used by most tests: not 1, so "charged once" and "charged the price" differ.
const PRICE: i64 = 4;

async fn sandbox() -> Sandbox {
    Sandbox::start_with(SandboxConfig {
        segmind_price: PRICE,
        ..quick_config()
    })
    .await
    .expect("sandbox starts")
}

fn request(prompt: &str) -> pixmill_segmind_api::types::builder::HotshotXlRequest {
    HotshotXlRequest::builder().prompt(prompt)
}

/// The whole body of a file answer, with its headers.
async fn collect(response: ResponseValue<ByteStream>) -> (HeaderMap, Vec<u8>) {
    use futures::StreamExt as _;
    let headers = response.headers().clone();
    let mut stream = response.into_inner();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.expect("body streams"));
    }
    (headers, body)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("header {name} is missing"))
        .to_str()
        .expect("ASCII header")
}

/// Frame count and size of a GIF.
fn gif_frames(bytes: &[u8]) -> (usize, u32, u32) {
    let decoder = GifDecoder::new(std::io::Cursor::new(bytes)).expect("a GIF");
    let frames = decoder
        .into_frames()
        .collect_frames()
        .expect("frames decode");
    let first = frames.first().expect("at least one frame").buffer();
    let (width, height) = first.dimensions();
    for frame in &frames {
        assert_eq!(frame.buffer().dimensions(), (width, height));
    }
    (frames.len(), width, height)
}

/// Top-level ISO-BMFF boxes: (type, size).
fn mp4_boxes(bytes: &[u8]) -> Vec<(String, usize)> {
    let mut boxes = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned();
        assert!(size >= 8 && at + size <= bytes.len(), "box {kind} overruns");
        boxes.push((kind, size));
        at += size;
    }
    assert_eq!(at, bytes.len(), "trailing bytes after the last box");
    boxes
}

/// The payload of the first box of type `kind` among the boxes in `bytes`.
fn child_box<'a>(bytes: &'a [u8], kind: &str) -> &'a [u8] {
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        assert!(size >= 8 && at + size <= bytes.len(), "a box overruns");
        if &bytes[at + 4..at + 8] == kind.as_bytes() {
            return &bytes[at + 8..at + size];
        }
        at += size;
    }
    panic!("no {kind} box")
}

/// Width and height of an MP4's first track, from its `tkhd` box (16.16 fixed point).
fn mp4_track_size(bytes: &[u8]) -> (i64, i64) {
    let tkhd = child_box(child_box(child_box(bytes, "moov"), "trak"), "tkhd");
    // Version 1 widens three time fields from 4 to 8 bytes.
    let at = if tkhd[0] == 1 { 88 } else { 76 };
    let field =
        |at: usize| i64::from(u32::from_be_bytes(tkhd[at..at + 4].try_into().unwrap()) >> 16);
    (field(at), field(at + 4))
}

fn error_of(
    result: Result<ResponseValue<ByteStream>, Error<ErrorResponse>>,
) -> (u16, ErrorResponse) {
    match result {
        Err(Error::ErrorResponse(response)) => {
            let status = response.status().as_u16();
            (status, response.into_inner())
        }
        Err(other) => panic!("expected an error answer, got {other:?}"),
        Ok(file) => panic!("expected an error answer, got a {} file", file.status()),
    }
}

async fn post_raw(sandbox: &Sandbox, body: Value) -> (u16, Value) {
    let response = http_with("x-api-key", &sandbox.credentials().segmind_api_key)
        .post(format!(
            "{}/hotshot-xl",
            sandbox.base_url(Provider::Segmind)
        ))
        .json(&body)
        .send()
        .await
        .expect("request reaches the sandbox");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test(start_paused = true)]
async fn defaults_give_a_gif_with_every_header() {
    let sandbox = sandbox().await;
    let client = segmind(&sandbox);
    let start = sandbox.balance(Provider::Segmind);
    let send_defaults = || async {
        client
            .hotshot_xl()
            .body(request(
                "a dog running towards you with a smile, hd, high quality",
            ))
            .send()
            .await
            .expect("hotshot-xl succeeds")
    };

    let response = send_defaults().await;
    assert_eq!(response.status(), 200);
    let (headers, body) = collect(response).await;
    assert_eq!(header(&headers, "content-type"), "image/gif");
    assert!(body.starts_with(b"GIF8"), "not a GIF");
    let (frames, width, height) = gif_frames(&body);
    assert!(frames >= 2, "only {frames} frame(s)");
    assert_eq!((width, height), (672, 384));

    let balance = sandbox.balance(Provider::Segmind);
    assert_eq!(balance, start - PRICE);
    assert_eq!(
        header(&headers, "x-remaining-credits")
            .parse::<f64>()
            .unwrap(),
        balance as f64
    );
    assert_eq!(
        header(&headers, "x-cost").parse::<f64>().unwrap(),
        PRICE as f64
    );
    let seconds: f64 = header(&headers, "x-generation-time").parse().unwrap();
    assert!((0.0..60.0).contains(&seconds), "{seconds}");
    let seed: i64 = header(&headers, "x-seed-value")
        .parse()
        .expect("the drawn seed is a number");
    let request_id = header(&headers, "x-request-id");
    assert!(!request_id.is_empty());

    let charges = sandbox.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].provider, Provider::Segmind);
    assert_eq!(charges[0].operation, "hotshot_xl");
    assert_eq!(charges[0].amount, PRICE);
    assert_eq!(charges[0].reference.as_deref(), Some(request_id));

    let (redrawn_headers, _) = collect(send_defaults().await).await;
    assert_ne!(
        header(&redrawn_headers, "x-seed-value"),
        seed.to_string(),
        "each request without a seed draws another"
    );

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn size_seed_and_format_are_honoured() {
    let sandbox = sandbox().await;
    let client = segmind(&sandbox);
    let start = sandbox.balance(Provider::Segmind);

    // Width and height.
    let response = client
        .hotshot_xl()
        .body(
            request("a paper boat on a pond")
                .width(512i64)
                .height(256i64)
                .seed(42),
        )
        .send()
        .await
        .expect("hotshot-xl succeeds");
    let (headers, gif) = collect(response).await;
    let (frames, width, height) = gif_frames(&gif);
    assert!(frames >= 2);
    assert_eq!((width, height), (512, 256));
    assert_eq!(header(&headers, "x-seed-value"), "42");

    // The same seed and settings reproduce the animation; another seed does not.
    let again = client
        .hotshot_xl()
        .body(
            request("a paper boat on a pond")
                .width(512i64)
                .height(256i64)
                .seed(42),
        )
        .send()
        .await
        .expect("hotshot-xl succeeds");
    let (again_headers, again) = collect(again).await;
    assert_eq!(again, gif, "same seed, same animation");
    assert_ne!(
        header(&again_headers, "x-request-id"),
        header(&headers, "x-request-id"),
        "every request has its own id"
    );
    let other = client
        .hotshot_xl()
        .body(
            request("a paper boat on a pond")
                .width(512i64)
                .height(256i64)
                .seed(43),
        )
        .send()
        .await
        .expect("hotshot-xl succeeds");
    let (other_headers, other) = collect(other).await;
    assert_ne!(other, gif, "another seed, another animation");
    assert_eq!(header(&other_headers, "x-seed-value"), "43");

    // MP4.
    let response = client
        .hotshot_xl()
        .body(
            request("a paper boat on a pond")
                .mp4(true)
                .width(256i64)
                .height(256i64),
        )
        .send()
        .await
        .expect("hotshot-xl succeeds");
    let (headers, video) = collect(response).await;
    assert_eq!(header(&headers, "content-type"), "video/mp4");
    assert_eq!(&video[4..8], b"ftyp", "starts with an ftyp box");
    let kinds: Vec<String> = mp4_boxes(&video).into_iter().map(|(k, _)| k).collect();
    assert!(kinds.iter().any(|k| k == "moov"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "mdat"), "{kinds:?}");
    // Every MP4 answer is the sandbox's one H.264 clip, at the spec's default size.
    assert!(video.windows(4).any(|w| w == b"avc1"), "H.264 video");
    assert_eq!(
        mp4_track_size(&video),
        (WIDTH_DEFAULT.value(), HEIGHT_DEFAULT.value())
    );

    // Four generations, four charges, headers counting down.
    assert_eq!(sandbox.charges().len(), 4);
    assert!(sandbox.charges().iter().all(|c| c.amount == PRICE));
    let balance = sandbox.balance(Provider::Segmind);
    assert_eq!(balance, start - 4 * PRICE);
    assert_eq!(
        header(&headers, "x-remaining-credits")
            .parse::<f64>()
            .unwrap(),
        balance as f64
    );

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn the_seed_header_echoes_any_seed_sent() {
    let sandbox = sandbox().await;
    let client = segmind(&sandbox);
    for seed in [0i64, -1, i64::MAX] {
        let response = client
            .hotshot_xl()
            .body(
                request("rain on a window")
                    .width(256i64)
                    .height(256i64)
                    .seed(seed),
            )
            .send()
            .await
            .expect("hotshot-xl succeeds");
        let (headers, _) = collect(response).await;
        let echoed: i64 = header(&headers, "x-seed-value")
            .parse()
            .expect("the seed header is an integer a client can send back");
        assert_eq!(echoed, seed);
    }
}

#[tokio::test(start_paused = true)]
async fn a_wrong_or_missing_key_is_401_and_free() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url(Provider::Segmind);
    let start = sandbox.balance(Provider::Segmind);
    for http in [http_with("x-api-key", "SG_wrong"), reqwest::Client::new()] {
        let stranger =
            pixmill_segmind_api::Client::new_with_client(&base, http, Default::default());
        let (status, body) = error_of(stranger.hotshot_xl().body(request("a cat")).send().await);
        assert_eq!(status, 401);
        assert!(!body.error.is_empty());
    }
    assert!(sandbox.charges().is_empty());
    assert_eq!(sandbox.balance(Provider::Segmind), start);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn out_of_credits_is_406_and_charges_nothing() {
    let sandbox = sandbox().await;
    let client = segmind(&sandbox);

    sandbox.set_balance(Provider::Segmind, 0);
    let (status, body) = error_of(client.hotshot_xl().body(request("a cat")).send().await);
    assert_eq!(status, 406);
    assert!(!body.error.is_empty());
    assert!(sandbox.charges().is_empty());
    assert_eq!(sandbox.balance(Provider::Segmind), 0);

    sandbox.set_balance(Provider::Segmind, PRICE - 1);
    let (status, _) = error_of(client.hotshot_xl().body(request("a cat")).send().await);
    assert_eq!(status, 406);
    assert!(sandbox.charges().is_empty());

    // Exactly the price pays for one generation, down to zero.
    sandbox.set_balance(Provider::Segmind, PRICE);
    let response = client
        .hotshot_xl()
        .body(request("a cat").width(256i64).height(256i64))
        .send()
        .await
        .expect("the balance covers one generation");
    let (headers, _) = collect(response).await;
    assert_eq!(
        header(&headers, "x-remaining-credits")
            .parse::<f64>()
            .unwrap(),
        0.0
    );
    let (status, _) = error_of(client.hotshot_xl().body(request("a cat")).send().await);
    assert_eq!(status, 406);
    assert_eq!(sandbox.charges().len(), 1);
    assert_eq!(sandbox.balance(Provider::Segmind), 0);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn invalid_settings_are_400_with_an_error_and_free() {
    let sandbox = sandbox().await;
    for body in [
        json!({ "prompt": "a cat", "width": 500 }),
        json!({ "prompt": "a cat", "height": 1000 }),
        json!({ "prompt": "a cat", "steps": 0 }),
        json!({ "prompt": "a cat", "steps": 501 }),
        json!({ "prompt": "a cat", "scheduler": "Euler" }),
        json!({ "prompt": "a cat", "mp4": "yes" }),
        json!({ "width": 512 }),
    ] {
        let (status, answer) = post_raw(&sandbox, body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body} -> {answer}"
        );
    }
    assert!(sandbox.charges().is_empty());

    // The documented bounds themselves are fine.
    let response = http_with("x-api-key", &sandbox.credentials().segmind_api_key)
        .post(format!(
            "{}/hotshot-xl",
            sandbox.base_url(Provider::Segmind)
        ))
        .json(&json!({ "prompt": "a cat", "width": 256, "height": 1024, "steps": 500 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "image/gif"
    );
    assert_eq!(sandbox.charges().len(), 1);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn wrong_method_and_unknown_path_answer_segmind_errors() {
    let sandbox = sandbox().await;
    let http = http_with("x-api-key", &sandbox.credentials().segmind_api_key);
    let base = sandbox.base_url(Provider::Segmind);

    let response = http.get(format!("{base}/hotshot-xl")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: Value = response.json().await.expect("a JSON error body");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );

    let response = http
        .post(format!("{base}/no-such-model"))
        .json(&json!({ "prompt": "a cat" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("a JSON error body");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );

    assert!(sandbox.charges().is_empty());
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn empty_strings_and_nulls_are_refused_by_name() {
    let sandbox = sandbox().await;
    let valid =
        serde_json::to_value(HotshotXlRequest::try_from(request("a cat")).unwrap()).unwrap();
    let with = |at: &str, value: Value| {
        let mut body = valid.clone();
        *body.pointer_mut(at).expect("the field exists") = value;
        body
    };
    let cases = [
        (with("/prompt", json!("")), "`prompt` must not be empty"),
        (with("/prompt", Value::Null), "`prompt` must not be null"),
        // Optional fields, with defaults, are not nullable either.
        (
            with("/negative_prompt", Value::Null),
            "`negative_prompt` must not be null",
        ),
        (with("/steps", Value::Null), "`steps` must not be null"),
    ];
    for (body, expected) in cases {
        let (status, answer) = post_raw(&sandbox, body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer, json!({ "error": expected }));
    }
    assert!(sandbox.charges().is_empty());
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}
