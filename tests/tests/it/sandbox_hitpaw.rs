//! End-to-end runs of the sandbox's HitPaw emulation through the generated client: presigned
//! upload, enhancement and segmentation jobs polled to the end, inputs fetched from another
//! loopback server, the documented error codes, and the coin ledger.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use image::{DynamicImage, GenericImageView as _, ImageFormat};
use pixmill_hitpaw_api::Error;
use pixmill_hitpaw_api::types::{
    ErrorResponse, ImageSegmentationRequest, JobStatus as TaskInfoStatus, PhotoEnhancerRequest,
    PhotoEnhancerRequestModelName, PresignPutRequest, PresignPutRequestContentType, TaskInfo,
    TaskStatusRequest,
};
use pixmill_sandbox::{JobFailure, Provider, Sandbox, SandboxConfig};
use pixmill_tests::sandbox::{
    hitpaw, http_with, quick_config, sample_jpeg, sample_png, spec_violations,
};
use serde_json::{Value, json};

const JOB_DURATION: Duration = Duration::from_millis(200);
const ENHANCE_PRICE: i64 = 75;
const SEGMENT_PRICE: i64 = 20;

const API_KEY_NOT_VALID: i64 = 110400000;
const INVALID_URL: i64 = 100400001;
const TASK_DOES_NOT_EXIST: i64 = 110400002;
const MODEL_NOT_SUPPORTED: i64 = 110400005;
const EXTENSION_NOT_VALID: i64 = 110400007;
const COINS_NOT_ENOUGH: i64 = 110402000;
const INVALID_PARAMETERS: i64 = 100403000;

async fn sandbox() -> Sandbox {
    Sandbox::start_with(SandboxConfig {
        hitpaw_job_duration: JOB_DURATION,
        hitpaw_enhance_price: ENHANCE_PRICE,
        hitpaw_segment_price: SEGMENT_PRICE,
        ..quick_config()
    })
    .await
    .expect("sandbox starts")
}

/// Reserves an upload, PUTs `bytes` with the signed type and answers the `access_url`.
async fn upload(
    client: &pixmill_hitpaw_api::Client,
    filename: &str,
    content_type: PresignPutRequestContentType,
    bytes: Vec<u8>,
) -> String {
    let presigned = client
        .presign_put()
        .body(PresignPutRequest {
            content_type,
            expire_seconds: 600,
            filename: filename.parse().expect("a file name"),
        })
        .send()
        .await
        .expect("presign succeeds")
        .into_inner()
        .data;
    let status = reqwest::Client::new()
        .put(&presigned.upload_url)
        .header("content-type", &presigned.content_type)
        .body(bytes)
        .send()
        .await
        .expect("upload reaches the sandbox")
        .status();
    assert_eq!(status, 200, "upload with the signed type");
    presigned.access_url
}

fn enhance_request(
    model: PhotoEnhancerRequestModelName,
    img_url: &str,
    extension: &str,
) -> PhotoEnhancerRequest {
    PhotoEnhancerRequest {
        dpi: None,
        exif: false,
        extension: extension.into(),
        img_url: img_url.into(),
        model_name: model,
    }
}

async fn status(client: &pixmill_hitpaw_api::Client, job_id: &str) -> TaskInfo {
    client
        .task_status()
        .body(TaskStatusRequest {
            job_id: job_id.into(),
        })
        .send()
        .await
        .expect("task-status succeeds")
        .into_inner()
        .data
}

/// The job's status, checking that it is still `CONVERTING` unless the configured duration
/// has passed since `submitted` (taken just before the submit call).
async fn checked_status(
    client: &pixmill_hitpaw_api::Client,
    job_id: &str,
    submitted: Instant,
) -> TaskInfo {
    let info = status(client, job_id).await;
    assert_eq!(info.job_id, job_id);
    if info.status != TaskInfoStatus::Converting {
        let elapsed = submitted.elapsed();
        assert!(
            elapsed >= JOB_DURATION,
            "job {job_id} was {:?} after {elapsed:?}, before the configured {JOB_DURATION:?}",
            info.status
        );
    }
    info
}

/// Polls until the job leaves `CONVERTING`.
async fn finish(client: &pixmill_hitpaw_api::Client, job_id: &str, submitted: Instant) -> TaskInfo {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = checked_status(client, job_id, submitted).await;
        if info.status != TaskInfoStatus::Converting {
            return info;
        }
        assert!(info.res_url.is_none(), "no result while converting");
        assert!(Instant::now() < deadline, "job {job_id} never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn download(url: &str) -> (String, Vec<u8>) {
    let response = reqwest::get(url).await.expect("result downloads");
    assert_eq!(response.status(), 200, "{url}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (content_type, response.bytes().await.unwrap().to_vec())
}

/// Submits an enhancement, polls it to `COMPLETED` and decodes the result.
async fn enhance(
    client: &pixmill_hitpaw_api::Client,
    model: PhotoEnhancerRequestModelName,
    img_url: &str,
    extension: &str,
) -> DynamicImage {
    let submitted = Instant::now();
    let job = client
        .photo_enhancer()
        .body(enhance_request(model, img_url, extension))
        .send()
        .await
        .expect("photo-enhancer succeeds")
        .into_inner()
        .data;
    let info = finish(client, &job.job_id, submitted).await;
    assert_eq!(info.status, TaskInfoStatus::Completed, "{info:?}");
    let (_, bytes) = download(info.res_url.as_deref().expect("res_url")).await;
    image::load_from_memory(&bytes).expect("result decodes")
}

fn error_of<T: std::fmt::Debug>(result: Result<T, Error<ErrorResponse>>) -> (u16, ErrorResponse) {
    match result {
        Err(Error::ErrorResponse(response)) => {
            let status = response.status().as_u16();
            (status, response.into_inner())
        }
        other => panic!("expected an error answer, got {other:?}"),
    }
}

/// POSTs raw JSON with the right key, for bodies the typed client would not build.
async fn post_raw(sandbox: &Sandbox, path: &str, body: Value) -> (u16, Value) {
    let response = http_with("apikey", &sandbox.credentials().hitpaw_api_key)
        .post(format!("{}{path}", sandbox.base_url(Provider::Hitpaw)))
        .json(&body)
        .send()
        .await
        .expect("request reaches the sandbox");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// A minimal HTTP/1.1 server on another loopback port: `GET /photo.jpg` answers `body`,
/// `/moved.jpg` redirects there, `/elsewhere.jpg` redirects to the same server under the
/// non-loopback address `0.0.0.0` (which Linux still delivers locally), anything else is 404.
/// Returns its origin and a counter of requests served.
async fn serve_photo(body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    // A task on the test's own runtime, so that paused time never runs ahead of it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = listener.local_addr().unwrap().port();
    let origin = format!("http://127.0.0.1:{port}");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut chunk = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let head = String::from_utf8_lossy(&head);
            let path = head.split_whitespace().nth(1).unwrap_or_default();
            let (status, content_type, location, payload) = match path {
                "/photo.jpg" => ("200 OK", "image/jpeg", None, body.as_slice()),
                "/moved.jpg" => (
                    "302 Found",
                    "text/plain",
                    Some("/photo.jpg".to_string()),
                    &[][..],
                ),
                "/elsewhere.jpg" => (
                    "302 Found",
                    "text/plain",
                    Some(format!("http://0.0.0.0:{port}/photo.jpg")),
                    &[][..],
                ),
                _ => ("404 Not Found", "text/plain", None, b"not found".as_slice()),
            };
            let location = location
                .map(|l| format!("Location: {l}\r\n"))
                .unwrap_or_default();
            let header = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{location}Content-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = stream.write_all(header.as_bytes()).await;
            let _ = stream.write_all(payload).await;
            let _ = stream.flush().await;
        }
    });
    (origin, hits)
}

#[tokio::test(start_paused = true)]
async fn presigned_upload_then_enhancement_doubles_the_picture() {
    let sandbox = sandbox().await;
    let client = hitpaw(&sandbox);
    let start = sandbox.balance(Provider::Hitpaw);
    let picture = sample_png(20, 14);

    // Reserve an upload.
    let presigned = client
        .presign_put()
        .body(PresignPutRequest {
            content_type: PresignPutRequestContentType::ImagePng,
            expire_seconds: 600,
            filename: "my photo.png".parse().unwrap(),
        })
        .send()
        .await
        .expect("presign succeeds")
        .into_inner();
    assert_eq!(presigned.code, 0);
    let presigned = presigned.data;
    assert_eq!(presigned.content_type, "image/png");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now + 590..=now + 610).contains(&presigned.expire_at),
        "expire_at {} is not about 600 s from {now}",
        presigned.expire_at
    );
    assert!(presigned.access_url.contains(&presigned.object_key));

    // Submitting before the upload finds nothing at the URL.
    let (http_status, body) = error_of(
        client
            .photo_enhancer()
            .body(enhance_request(
                PhotoEnhancerRequestModelName::General2x,
                &presigned.access_url,
                ".png",
            ))
            .send()
            .await,
    );
    assert_eq!((http_status, body.error_code), (400, INVALID_URL));

    // The signature covers the Content-Type: another type, or none, is refused.
    let http = reqwest::Client::new();
    for wrong in [Some("image/jpeg"), Some("application/octet-stream"), None] {
        let mut put = http.put(&presigned.upload_url).body(picture.clone());
        if let Some(wrong) = wrong {
            put = put.header("content-type", wrong);
        }
        let response = put.send().await.unwrap();
        assert_eq!(response.status(), 403, "Content-Type {wrong:?}");
    }
    let response = http
        .put(&presigned.upload_url)
        .header("content-type", "image/png")
        .body(picture.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (content_type, stored) = download(&presigned.access_url).await;
    assert_eq!(content_type, "image/png");
    assert_eq!(stored, picture, "access_url serves the uploaded bytes");

    // Enhance.
    let submitted = Instant::now();
    let job = client
        .photo_enhancer()
        .body(enhance_request(
            PhotoEnhancerRequestModelName::General2x,
            &presigned.access_url,
            ".png",
        ))
        .send()
        .await
        .expect("photo-enhancer succeeds")
        .into_inner();
    assert_eq!(job.code, 200);
    let job = job.data;
    assert_eq!(job.consume_coins, ENHANCE_PRICE);
    assert_eq!(sandbox.balance(Provider::Hitpaw), start - ENHANCE_PRICE);
    let charges = sandbox.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].provider, Provider::Hitpaw);
    assert_eq!(charges[0].operation, "photo_enhancer");
    assert_eq!(charges[0].amount, ENHANCE_PRICE);
    assert_eq!(charges[0].reference.as_deref(), Some(job.job_id.as_str()));

    // Still converting right away.
    let early = checked_status(&client, &job.job_id, submitted).await;
    if early.status == TaskInfoStatus::Converting {
        assert!(early.res_url.is_none());
    }
    assert_eq!(
        early.original_url.as_deref(),
        Some(presigned.access_url.as_str())
    );

    let done = finish(&client, &job.job_id, submitted).await;
    assert_eq!(done.status, TaskInfoStatus::Completed);
    assert!(done.mask_url.is_none(), "enhancement has no mask");
    assert_eq!(
        done.original_url.as_deref(),
        Some(presigned.access_url.as_str())
    );
    let (content_type, bytes) = download(done.res_url.as_deref().unwrap()).await;
    assert_eq!(content_type, "image/png");
    assert_eq!(image::guess_format(&bytes).unwrap(), ImageFormat::Png);
    let result = image::load_from_memory(&bytes).unwrap();
    assert_eq!(result.dimensions(), (40, 28));

    // Polling is free; only the submit was charged.
    assert_eq!(sandbox.charges().len(), 1);
    assert_eq!(sandbox.balance(Provider::Hitpaw), start - ENHANCE_PRICE);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn the_model_suffix_sets_the_scale() {
    let sandbox = sandbox().await;
    let client = hitpaw(&sandbox);
    let url = upload(
        &client,
        "photo.jpg",
        PresignPutRequestContentType::ImageJpeg,
        sample_jpeg(12, 10),
    )
    .await;
    let start = sandbox.balance(Provider::Hitpaw);
    for (model, scale) in [
        (PhotoEnhancerRequestModelName::General4x, 4),
        (PhotoEnhancerRequestModelName::Face2x, 2),
        (PhotoEnhancerRequestModelName::SharpenDenoise1x, 1),
        (PhotoEnhancerRequestModelName::GenerativePortrait4x, 4),
        (PhotoEnhancerRequestModelName::Generative1x, 1),
    ] {
        let result = enhance(&client, model, &url, ".jpg").await;
        assert_eq!(result.dimensions(), (12 * scale, 10 * scale), "{model}");
    }
    assert_eq!(sandbox.charges().len(), 5);
    assert_eq!(sandbox.balance(Provider::Hitpaw), start - 5 * ENHANCE_PRICE);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn segmentation_yields_a_cutout_and_a_mask() {
    let sandbox = sandbox().await;
    let client = hitpaw(&sandbox);
    let start = sandbox.balance(Provider::Hitpaw);
    let url = upload(
        &client,
        "square.png",
        PresignPutRequestContentType::ImagePng,
        sample_png(32, 24),
    )
    .await;

    let submitted = Instant::now();

    let job = client
        .image_segmentation()
        .body(ImageSegmentationRequest {
            file_url: url.clone(),
        })
        .send()
        .await
        .expect("image-segmentation succeeds")
        .into_inner()
        .data;
    assert_eq!(job.consume_coins, SEGMENT_PRICE);
    assert_eq!(sandbox.balance(Provider::Hitpaw), start - SEGMENT_PRICE);
    assert_eq!(sandbox.charges()[0].operation, "image_segmentation");
    checked_status(&client, &job.job_id, submitted).await;

    let done = finish(&client, &job.job_id, submitted).await;
    assert_eq!(done.status, TaskInfoStatus::Completed);
    assert_eq!(done.original_url.as_deref(), Some(url.as_str()));

    let (content_type, bytes) = download(done.res_url.as_deref().expect("res_url")).await;
    assert_eq!(content_type, "image/png");
    assert_eq!(image::guess_format(&bytes).unwrap(), ImageFormat::Png);
    let cutout = image::load_from_memory(&bytes).unwrap();
    assert_eq!(cutout.color(), image::ColorType::Rgba8);
    assert_eq!(cutout.dimensions(), (32, 24));
    let cutout = cutout.to_rgba8();
    assert_eq!(cutout.get_pixel(0, 0)[3], 0, "corner is transparent");
    assert_eq!(cutout.get_pixel(31, 23)[3], 0, "corner is transparent");
    assert_eq!(cutout.get_pixel(16, 12)[3], 255, "centre is opaque");

    let (_, bytes) = download(done.mask_url.as_deref().expect("mask_url")).await;
    let mask = image::load_from_memory(&bytes).unwrap();
    assert_eq!(mask.color(), image::ColorType::L8, "the mask is greyscale");
    assert_eq!(mask.dimensions(), (32, 24));
    let mask = mask.to_luma8();
    assert_eq!(mask.get_pixel(0, 0)[0], 0);
    assert_eq!(mask.get_pixel(16, 12)[0], 255);
    // The mask is the cut-out's alpha channel.
    for (m, c) in mask.pixels().zip(cutout.pixels()) {
        assert_eq!(m[0], c[3]);
    }

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn inputs_are_fetched_from_another_loopback_server() {
    let sandbox = sandbox().await;
    let client = hitpaw(&sandbox);
    let (origin, hits) = serve_photo(sample_jpeg(18, 12)).await;

    let result = enhance(
        &client,
        PhotoEnhancerRequestModelName::HighFidelity2x,
        &format!("{origin}/photo.jpg"),
        ".jpg",
    )
    .await;
    assert_eq!(result.dimensions(), (36, 24));
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // Segmentation fetches the same way.
    let submitted = Instant::now();
    let job = client
        .image_segmentation()
        .body(ImageSegmentationRequest {
            file_url: format!("{origin}/photo.jpg"),
        })
        .send()
        .await
        .expect("image-segmentation succeeds")
        .into_inner()
        .data;
    let done = finish(&client, &job.job_id, submitted).await;
    assert_eq!(done.status, TaskInfoStatus::Completed);
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // A redirect within loopback is followed.
    let before = hits.load(Ordering::SeqCst);
    let result = enhance(
        &client,
        PhotoEnhancerRequestModelName::General2x,
        &format!("{origin}/moved.jpg"),
        ".jpg",
    )
    .await;
    assert_eq!(result.dimensions(), (36, 24));
    assert_eq!(hits.load(Ordering::SeqCst), before + 2);

    // A missing file there is an invalid URL, and free.
    let charged = sandbox.charges().len();
    let before = hits.load(Ordering::SeqCst);
    let (http_status, body) = error_of(
        client
            .photo_enhancer()
            .body(enhance_request(
                PhotoEnhancerRequestModelName::General2x,
                &format!("{origin}/missing.jpg"),
                ".jpg",
            ))
            .send()
            .await,
    );
    assert_eq!((http_status, body.error_code), (400, INVALID_URL));
    assert_eq!(hits.load(Ordering::SeqCst), before + 1);

    // A non-loopback address is refused, directly or behind a loopback redirect.
    let port = origin.rsplit(':').next().unwrap();
    for img_url in [
        format!("http://0.0.0.0:{port}/photo.jpg"),
        format!("{origin}/elsewhere.jpg"),
    ] {
        let before = hits.load(Ordering::SeqCst);
        let answer = client
            .photo_enhancer()
            .body(enhance_request(
                PhotoEnhancerRequestModelName::General2x,
                &img_url,
                ".jpg",
            ))
            .send()
            .await;
        assert!(answer.is_err(), "{img_url} was accepted");
        let (http_status, body) = error_of(answer);
        assert_eq!(
            (http_status, body.error_code),
            (400, INVALID_URL),
            "{img_url}"
        );
        assert!(
            hits.load(Ordering::SeqCst) <= before + 1,
            "{img_url}: the non-loopback address was fetched"
        );
    }

    // A remote host is refused without being contacted.
    let (http_status, body) = error_of(
        client
            .image_segmentation()
            .body(ImageSegmentationRequest {
                file_url: "http://192.0.2.1/photo.jpg".into(),
            })
            .send()
            .await,
    );
    assert_eq!((http_status, body.error_code), (400, INVALID_URL));
    assert_eq!(sandbox.charges().len(), charged);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn documented_error_codes_and_statuses() {
    let sandbox = sandbox().await;
    let client = hitpaw(&sandbox);
    let start = sandbox.balance(Provider::Hitpaw);
    let url = upload(
        &client,
        "photo.png",
        PresignPutRequestContentType::ImagePng,
        sample_png(8, 8),
    )
    .await;
    let base = sandbox.base_url(Provider::Hitpaw);

    // A wrong or missing Apikey: HTTP 400, 110400000, on every operation.
    for http in [http_with("apikey", "hitpaw-wrong"), reqwest::Client::new()] {
        let stranger = pixmill_hitpaw_api::Client::new_with_client(&base, http, Default::default());
        let (http_status, body) = error_of(
            stranger
                .photo_enhancer()
                .body(enhance_request(
                    PhotoEnhancerRequestModelName::General2x,
                    &url,
                    ".png",
                ))
                .send()
                .await,
        );
        assert_eq!((http_status, body.error_code), (400, API_KEY_NOT_VALID));
        assert!(!body.message.is_empty());
        let (http_status, body) = error_of(
            stranger
                .task_status()
                .body(TaskStatusRequest {
                    job_id: "anything".into(),
                })
                .send()
                .await,
        );
        assert_eq!((http_status, body.error_code), (400, API_KEY_NOT_VALID));
        let (http_status, body) = error_of(
            stranger
                .image_segmentation()
                .body(ImageSegmentationRequest {
                    file_url: url.clone(),
                })
                .send()
                .await,
        );
        assert_eq!((http_status, body.error_code), (400, API_KEY_NOT_VALID));
        let (http_status, body) = error_of(
            stranger
                .presign_put()
                .body(PresignPutRequest {
                    content_type: PresignPutRequestContentType::ImagePng,
                    expire_seconds: 600,
                    filename: "a.png".parse().unwrap(),
                })
                .send()
                .await,
        );
        assert_eq!((http_status, body.error_code), (400, API_KEY_NOT_VALID));
    }

    // An unknown model.
    let (http_status, body) = post_raw(
        &sandbox,
        "/api/photo-enhancer",
        json!({ "model_name": "enhanced_v1", "img_url": url, "extension": ".png" }),
    )
    .await;
    assert_eq!(http_status, 400, "{body}");
    assert_eq!(body["error_code"], MODEL_NOT_SUPPORTED, "{body}");

    // An input that is not an image, for both job kinds.
    let text_url = upload(
        &client,
        "notes.png",
        PresignPutRequestContentType::ImagePng,
        b"these are notes, not a picture".to_vec(),
    )
    .await;
    let (http_status, body) = error_of(
        client
            .photo_enhancer()
            .body(enhance_request(
                PhotoEnhancerRequestModelName::General2x,
                &text_url,
                ".png",
            ))
            .send()
            .await,
    );
    assert_eq!((http_status, body.error_code), (400, EXTENSION_NOT_VALID));
    let (http_status, body) = error_of(
        client
            .image_segmentation()
            .body(ImageSegmentationRequest { file_url: text_url })
            .send()
            .await,
    );
    assert_eq!((http_status, body.error_code), (400, EXTENSION_NOT_VALID));

    // An extension that is not one.
    let (http_status, body) = error_of(
        client
            .photo_enhancer()
            .body(enhance_request(
                PhotoEnhancerRequestModelName::General2x,
                &url,
                ".txt",
            ))
            .send()
            .await,
    );
    assert_eq!((http_status, body.error_code), (400, EXTENSION_NOT_VALID));

    // A format the limits do not list (GIF), for both job kinds.
    let mut gif = std::io::Cursor::new(Vec::new());
    image::load_from_memory(&sample_png(8, 8))
        .unwrap()
        .write_to(&mut gif, ImageFormat::Gif)
        .unwrap();
    let gif_url = upload(
        &client,
        "anim.gif",
        PresignPutRequestContentType::ImageGif,
        gif.into_inner(),
    )
    .await;
    let (http_status, body) = error_of(
        client
            .photo_enhancer()
            .body(enhance_request(
                PhotoEnhancerRequestModelName::General2x,
                &gif_url,
                ".png",
            ))
            .send()
            .await,
    );
    assert_eq!((http_status, body.error_code), (400, EXTENSION_NOT_VALID));
    let (http_status, body) = error_of(
        client
            .image_segmentation()
            .body(ImageSegmentationRequest { file_url: gif_url })
            .send()
            .await,
    );
    assert_eq!((http_status, body.error_code), (400, EXTENSION_NOT_VALID));

    // Missing parameters: 100403000, which HitPaw documents with HTTP 403.
    for path in [
        "/api/photo-enhancer",
        "/api/image-segmentation",
        "/api/task-status",
    ] {
        let (http_status, body) = post_raw(&sandbox, path, json!({})).await;
        assert_eq!(http_status, 403, "{path}: {body}");
        assert_eq!(body["error_code"], INVALID_PARAMETERS, "{path}: {body}");
    }

    // An unknown job.
    let (http_status, body) = error_of(
        client
            .task_status()
            .body(TaskStatusRequest {
                job_id: "hp-does-not-exist".into(),
            })
            .send()
            .await,
    );
    assert_eq!((http_status, body.error_code), (400, TASK_DOES_NOT_EXIST));

    // None of this cost anything.
    assert!(sandbox.charges().is_empty(), "{:?}", sandbox.charges());
    assert_eq!(sandbox.balance(Provider::Hitpaw), start);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn too_few_coins_is_402_and_charges_nothing() {
    let sandbox = sandbox().await;
    let client = hitpaw(&sandbox);
    let url = upload(
        &client,
        "photo.png",
        PresignPutRequestContentType::ImagePng,
        sample_png(8, 8),
    )
    .await;

    sandbox.set_balance(Provider::Hitpaw, ENHANCE_PRICE - 1);
    let (http_status, body) = error_of(
        client
            .photo_enhancer()
            .body(enhance_request(
                PhotoEnhancerRequestModelName::General2x,
                &url,
                ".png",
            ))
            .send()
            .await,
    );
    assert_eq!((http_status, body.error_code), (402, COINS_NOT_ENOUGH));
    assert!(sandbox.charges().is_empty());
    assert_eq!(sandbox.balance(Provider::Hitpaw), ENHANCE_PRICE - 1);

    // Segmentation is cheaper, so the same balance still pays for it.
    let job = client
        .image_segmentation()
        .body(ImageSegmentationRequest {
            file_url: url.clone(),
        })
        .send()
        .await
        .expect("the balance covers a segmentation")
        .into_inner()
        .data;
    assert_eq!(job.consume_coins, SEGMENT_PRICE);
    assert_eq!(
        sandbox.balance(Provider::Hitpaw),
        ENHANCE_PRICE - 1 - SEGMENT_PRICE
    );

    sandbox.set_balance(Provider::Hitpaw, 0);
    let (http_status, body) = error_of(
        client
            .image_segmentation()
            .body(ImageSegmentationRequest { file_url: url })
            .send()
            .await,
    );
    assert_eq!((http_status, body.error_code), (402, COINS_NOT_ENOUGH));
    assert_eq!(sandbox.charges().len(), 1);
    assert_eq!(sandbox.balance(Provider::Hitpaw), 0);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn an_injected_job_failure_ends_in_error() {
    let sandbox = sandbox().await;
    let client = hitpaw(&sandbox);
    let url = upload(
        &client,
        "photo.png",
        PresignPutRequestContentType::ImagePng,
        sample_png(10, 10),
    )
    .await;

    sandbox.fail_next_jobs(JobFailure {
        provider: Provider::Hitpaw,
        code: String::new(),
        times: 1,
    });
    let submitted = Instant::now();
    let job = client
        .photo_enhancer()
        .body(enhance_request(
            PhotoEnhancerRequestModelName::General2x,
            &url,
            ".png",
        ))
        .send()
        .await
        .expect("the job is accepted")
        .into_inner()
        .data;
    // A failing job still runs for the configured time first.
    checked_status(&client, &job.job_id, submitted).await;
    let failed = finish(&client, &job.job_id, submitted).await;
    assert_eq!(failed.status, TaskInfoStatus::Error);
    assert!(failed.res_url.is_none() && failed.mask_url.is_none());
    // ERROR is final.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        status(&client, &job.job_id).await.status,
        TaskInfoStatus::Error
    );

    // Only one job fails; the next succeeds.
    let submitted = Instant::now();
    let job = client
        .photo_enhancer()
        .body(PhotoEnhancerRequest {
            dpi: Some(300),
            exif: true,
            ..enhance_request(PhotoEnhancerRequestModelName::General2x, &url, ".png")
        })
        .send()
        .await
        .expect("the next job is accepted")
        .into_inner()
        .data;
    let done = finish(&client, &job.job_id, submitted).await;
    assert_eq!(done.status, TaskInfoStatus::Completed);
    let (_, bytes) = download(done.res_url.as_deref().unwrap()).await;
    assert_eq!(
        image::load_from_memory(&bytes).unwrap().dimensions(),
        (20, 20)
    );
    assert_eq!(sandbox.charges().len(), 2);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn the_output_follows_the_requested_extension() {
    let sandbox = sandbox().await;
    let client = hitpaw(&sandbox);
    let url = upload(
        &client,
        "photo.png",
        PresignPutRequestContentType::ImagePng,
        sample_png(10, 6),
    )
    .await;
    for (extension, format, mime) in [
        (".jpg", ImageFormat::Jpeg, "image/jpeg"),
        (".webp", ImageFormat::WebP, "image/webp"),
        (".png", ImageFormat::Png, "image/png"),
    ] {
        let submitted = Instant::now();
        let job = client
            .photo_enhancer()
            .body(enhance_request(
                PhotoEnhancerRequestModelName::FaceV22x,
                &url,
                extension,
            ))
            .send()
            .await
            .expect("photo-enhancer succeeds")
            .into_inner()
            .data;
        let done = finish(&client, &job.job_id, submitted).await;
        let (content_type, bytes) = download(done.res_url.as_deref().unwrap()).await;
        assert_eq!(content_type, mime, "{extension}");
        assert_eq!(image::guess_format(&bytes).unwrap(), format, "{extension}");
        let image = image::load_from_memory(&bytes).unwrap();
        assert_eq!(image.dimensions(), (20, 12), "{extension}");
    }
}

#[tokio::test(start_paused = true)]
async fn empty_strings_and_nulls_are_refused_by_name() {
    let sandbox = sandbox().await;
    let start = sandbox.balance(Provider::Hitpaw);
    let presign = serde_json::to_value(PresignPutRequest {
        content_type: PresignPutRequestContentType::ImagePng,
        expire_seconds: 600,
        filename: "a.png".parse().unwrap(),
    })
    .unwrap();
    let enhance = serde_json::to_value(enhance_request(
        PhotoEnhancerRequestModelName::General2x,
        "http://127.0.0.1:1/a.png",
        ".png",
    ))
    .unwrap();
    let with = |body: &Value, at: &str, value: Value| {
        let mut body = body.clone();
        *body.pointer_mut(at).expect("the field exists") = value;
        body
    };
    let cases = [
        (
            "/api/oss/presign-put",
            with(&presign, "/filename", json!("")),
            "`filename` must not be empty",
        ),
        (
            "/api/oss/presign-put",
            with(&presign, "/expire_seconds", Value::Null),
            "`expire_seconds` must not be null",
        ),
        (
            "/api/photo-enhancer",
            with(&enhance, "/exif", Value::Null),
            "`exif` must not be null",
        ),
        (
            "/api/photo-enhancer",
            with(&enhance, "/img_url", Value::Null),
            "`img_url` must not be null",
        ),
        (
            "/api/image-segmentation",
            json!({ "file_url": null }),
            "`file_url` must not be null",
        ),
        (
            "/api/task-status",
            json!({ "job_id": null }),
            "`job_id` must not be null",
        ),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = post_raw(&sandbox, path, body).await;
        let code = answer["error_code"].as_i64().expect("an error_code");
        let documented =
            pixmill_spec::find_error_code(pixmill_hitpaw_api::error_codes::ERROR_RESPONSE, code)
                .unwrap_or_else(|| panic!("{path}: {code} is a documented code"));
        assert_eq!(status, documented.status, "{path}: {answer}");
        assert!((400..500).contains(&status), "{path}: {answer}");
        assert_eq!(answer["message"], expected, "{path}");
    }
    assert_eq!(sandbox.balance(Provider::Hitpaw), start);
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}
