//! The Hotpot facade end to end against the sandbox: every operation with its typed options,
//! retries without double charges, unreadable answers, bad input and credentials.

use std::time::Duration;

use image::{ColorType, DynamicImage, GenericImageView as _};
use pixmill::hotpot::{Client, FileType, ImageStyle, NoiseCancellation, Rgb, SizeFactor};
use pixmill::{Error, ImageFormat, ImageInput, InputError, RetryPolicy};
use pixmill_sandbox::imaging::GRAPHIC_SIDE;
use pixmill_sandbox::{Fault, FaultRule, Provider, Sandbox, SandboxConfig};
use pixmill_tests::sandbox::{
    quick_config, quick_sandbox, sample_jpeg, sample_png, spec_violations,
};

const SUPERSIZE: &str = "/supersize-image";

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_initial_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(100))
}

fn client(sandbox: &Sandbox) -> Client {
    Client::builder()
        .api_key(sandbox.credentials().hotpot_api_key.clone())
        .base_url(sandbox.base_url(Provider::Hotpot))
        .retry_policy(fast_retries())
        .build()
        .expect("client builds")
}

fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).expect("a decodable result")
}

/// A grey picture with some structure: a dark square on a light background.
fn grey_png(width: u32, height: u32) -> Vec<u8> {
    let image = image::GrayImage::from_fn(width, height, |x, y| {
        if x > width / 4 && x < width * 3 / 4 && y > height / 4 && y < height * 3 / 4 {
            image::Luma([40])
        } else {
            image::Luma([200])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageLuma8(image)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encodes");
    out.into_inner()
}

fn chroma(p: [u8; 3]) -> u8 {
    p.iter().max().unwrap() - p.iter().min().unwrap()
}

#[tokio::test(start_paused = true)]
async fn every_operation_runs_with_its_typed_options() {
    let sandbox = Sandbox::start_with(SandboxConfig {
        hotpot_price: 3,
        ..quick_config()
    })
    .await
    .expect("sandbox starts");
    let client = client(&sandbox);
    let start_balance = sandbox.balance(Provider::Hotpot);
    let dir = tempfile::tempdir().unwrap();

    // supersize: from a path, 2x, anime style, low noise cancellation, saved atomically.
    let input = dir.path().join("photo.png");
    std::fs::write(&input, sample_png(40, 30)).unwrap();
    let large = client
        .supersize(input.as_path())
        .size_factor(SizeFactor::X2)
        .style(ImageStyle::Anime)
        .noise_cancellation(NoiseCancellation::Low)
        .send()
        .await
        .expect("supersized");
    assert_eq!(large.format(), Some(ImageFormat::Png));
    let info = large.info().expect("a readable header");
    assert_eq!((info.width, info.height), (80, 60));
    let target = dir.path().join("large.png");
    assert_eq!(
        large.save(&target).await.expect("saves"),
        large.as_bytes().unwrap().len() as u64
    );
    assert_eq!(
        decode(&std::fs::read(&target).unwrap()).dimensions(),
        (80, 60)
    );
    assert!(!dir.path().join(".large.png.part").exists());

    // supersize 4x from a JPEG in memory.
    let larger = client
        .supersize(sample_jpeg(20, 10))
        .size_factor(SizeFactor::X4)
        .send()
        .await
        .expect("supersized");
    assert_eq!(decode(larger.as_bytes().unwrap()).dimensions(), (80, 40));

    // remove_background: RGBA with a transparent corner and an opaque subject.
    let cutout = client
        .remove_background(sample_png(32, 32))
        .await
        .expect("cut out");
    assert_eq!(cutout.format(), Some(ImageFormat::Png));
    let cutout = decode(cutout.as_bytes().unwrap());
    assert_eq!(cutout.color(), ColorType::Rgba8);
    let cutout = cutout.to_rgba8();
    assert_eq!(
        cutout.get_pixel(0, 0)[3],
        0,
        "the background is transparent"
    );
    assert_eq!(cutout.get_pixel(16, 16)[3], 255, "the subject is opaque");

    // colorize_picture: a grey picture comes back in colour.
    let colour = client
        .colorize_picture(grey_png(24, 24), 35)
        .await
        .expect("colourized");
    let colour = decode(colour.as_bytes().unwrap());
    assert_eq!(colour.color(), ColorType::Rgb8);
    assert_eq!(colour.dimensions(), (24, 24));
    assert!(
        colour.to_rgb8().pixels().all(|p| chroma(p.0) > 10),
        "every pixel has colour"
    );

    // color_from_picture: the white background dominates, then the red square.
    let colours = client
        .color_from_picture(sample_png(40, 40))
        .await
        .expect("colours");
    assert_eq!(colours[0], Rgb::new(255, 255, 255));
    assert_eq!(colours[1], Rgb::new(220, 20, 20));
    assert_eq!(colours[0].to_string(), "#ffffff");

    // generate_color: the hints keep their slots; the padded slots are filled in.
    let hints = [Rgb::new(88, 88, 88), Rgb::new(200, 40, 40)];
    let palette = client.generate_color(&hints).await.expect("palette");
    assert_eq!(palette.len(), 5);
    assert_eq!(&palette[..2], &hints);
    for (index, filled) in palette.iter().enumerate().skip(2) {
        assert!(
            !palette[..index].contains(filled),
            "{filled} is a new colour: {palette:?}"
        );
    }
    let single = client
        .generate_color(&[Rgb::new(0, 128, 128)])
        .await
        .expect("palette");
    assert_eq!(single[0], Rgb::new(0, 128, 128));
    assert_eq!(single.len(), 5);

    // translate_file: one translation per string, in order.
    let translated = client
        .translate_file(
            ["Hello", "Settings", "Quit"],
            FileType::StringsXml,
            "en",
            "fr",
        )
        .await
        .expect("translated");
    assert_eq!(
        translated,
        ["[fr] Hello", "[fr] Settings", "[fr] Quit"].map(String::from)
    );

    // create_graphic: texts and a screenshot render to the template's square canvas.
    let graphic = client
        .create_graphic("app-store-1")
        .text("Edit photos in seconds")
        .texts(["Try it free"])
        .screenshot(sample_png(30, 60))
        .image(sample_jpeg(16, 16))
        .send()
        .await
        .expect("rendered");
    assert_eq!(graphic.format(), Some(ImageFormat::Png));
    assert_eq!(
        decode(graphic.as_bytes().unwrap()).dimensions(),
        (GRAPHIC_SIDE, GRAPHIC_SIDE)
    );

    // remix_art, restore_picture, blur_face: same size as the content picture.
    let art = client
        .remix_art(
            sample_png(36, 28),
            [grey_png(10, 10), sample_jpeg(12, 8)],
            true,
        )
        .await
        .expect("remixed");
    assert_eq!(decode(art.as_bytes().unwrap()).dimensions(), (36, 28));
    let restored = client
        .restore_picture(sample_jpeg(30, 22), true)
        .await
        .expect("restored");
    assert_eq!(decode(restored.as_bytes().unwrap()).dimensions(), (30, 22));
    let blurred = client
        .blur_face(sample_png(26, 34), true)
        .await
        .expect("blurred");
    assert_eq!(decode(blurred.as_bytes().unwrap()).dimensions(), (26, 34));

    let operations: Vec<String> = sandbox.charges().into_iter().map(|c| c.operation).collect();
    assert_eq!(
        operations,
        [
            "supersize_image",
            "supersize_image",
            "remove_background",
            "colorize_picture",
            "color_from_picture",
            "generate_color",
            "generate_color",
            "translate_file",
            "create_graphic",
            "remix_art",
            "restore_picture",
            "blur_face",
        ],
        "each call is charged once"
    );
    assert_eq!(
        start_balance - sandbox.balance(Provider::Hotpot),
        3 * operations.len() as i64
    );
    assert!(sandbox.traffic().iter().all(|e| e.status == Some(200)));
    assert_eq!(spec_violations(&sandbox), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_503_until_the_deadline_is_a_timeout_naming_the_last_503() {
    let sandbox = quick_sandbox().await;
    sandbox.inject(FaultRule::new(Provider::Hotpot, SUPERSIZE, Fault::Status(503)).times(u32::MAX));
    let client = Client::builder()
        .api_key(sandbox.credentials().hotpot_api_key.clone())
        .base_url(sandbox.base_url(Provider::Hotpot))
        .retry_policy(
            fast_retries()
                .with_max_attempts(u32::MAX)
                .with_deadline(Duration::from_millis(300)),
        )
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let error = client
        .supersize(sample_png(16, 16))
        .send()
        .await
        .expect_err("never succeeds");
    assert!(started.elapsed() < Duration::from_secs(5));
    match &error {
        Error::Timeout {
            provider,
            operation,
            deadline,
            last_error,
            ..
        } => {
            assert_eq!(*provider, pixmill::Provider::Hotpot);
            assert_eq!(*operation, "supersize_image");
            assert_eq!(*deadline, Duration::from_millis(300));
            let last = last_error.as_deref().expect("the last failure is kept");
            assert_eq!(last.status(), Some(503));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.status(), Some(503));
    let message = error.to_string();
    assert!(message.contains("gave up after"), "{message}");
    assert!(message.contains("HTTP 503"), "{message}");
    assert!(sandbox.request_count(Provider::Hotpot, "POST", SUPERSIZE) > 2);
    assert!(sandbox.charges().is_empty(), "nothing was processed");
    assert_eq!(spec_violations(&sandbox), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn malformed_json_is_an_invalid_response_with_an_excerpt() {
    let sandbox = quick_sandbox().await;
    sandbox.inject(FaultRule::new(
        Provider::Hotpot,
        "/generate-color",
        Fault::MalformedJson,
    ));
    let error = client(&sandbox)
        .generate_color(&[Rgb::new(1, 2, 3)])
        .await
        .expect_err("unreadable");
    match &error {
        Error::InvalidResponse {
            provider,
            operation,
            excerpt,
            ..
        } => {
            assert_eq!(*provider, pixmill::Provider::Hotpot);
            assert_eq!(*operation, "generate_color");
            assert!(excerpt.starts_with("{\"status\""), "{excerpt}");
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("body starts with"), "{error}");
    assert_eq!(
        sandbox.request_count(Provider::Hotpot, "POST", "/generate-color"),
        1,
        "an unreadable answer is not retried"
    );
}

#[tokio::test(start_paused = true)]
async fn invalid_input_fails_before_any_request() {
    let sandbox = quick_sandbox().await;
    let client = client(&sandbox);

    let error = client
        .colorize_picture(sample_png(8, 8), 51)
        .await
        .expect_err("render_factor 51");
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "render_factor must be from 0 to 50, got 51 (1 above the maximum)"
    );

    let error = client.generate_color(&[]).await.expect_err("no hints");
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    assert!(error.to_string().contains("empty"), "{error}");
    let error = client
        .generate_color(&[Rgb::new(9, 9, 9); 6])
        .await
        .expect_err("six hints");
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    assert!(
        error.to_string().contains("6 (1 more than the maximum)"),
        "{error}"
    );

    let error = client
        .remove_background(b"definitely not a picture".to_vec())
        .await
        .expect_err("not an image");
    assert!(
        matches!(error, Error::InvalidInput(InputError::NotAnImage)),
        "{error:?}"
    );
    let error = client
        .supersize(ImageInput::from_url("https://example.com/photo.png"))
        .send()
        .await
        .expect_err("a URL");
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    assert!(error.to_string().contains("not a URL"), "{error}");
    let error = client
        .remix_art(sample_png(8, 8), ["http://127.0.0.1:1/style.png"], false)
        .await
        .expect_err("a URL style");
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    let error = client
        .blur_face(std::path::Path::new("/nonexistent/pixmill/face.png"), false)
        .await
        .expect_err("a missing file");
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");

    assert!(sandbox.traffic().is_empty(), "the sandbox saw no request");
    assert!(sandbox.charges().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_empty_balance_is_a_429_that_charges_nothing() {
    let sandbox = quick_sandbox().await;
    sandbox.set_balance(Provider::Hotpot, 0);
    let client = Client::builder()
        .api_key(sandbox.credentials().hotpot_api_key.clone())
        .base_url(sandbox.base_url(Provider::Hotpot))
        .retry_policy(fast_retries().with_max_attempts(2))
        .build()
        .unwrap();
    let error = client
        .translate_file(["Hello"], FileType::Plaintext, "en", "de")
        .await
        .expect_err("out of credits");
    assert_eq!(error.status(), Some(429));
    assert!(error.to_string().contains("enough credits"), "{error}");
    assert_eq!(
        sandbox.request_count(Provider::Hotpot, "POST", "/translate-file"),
        2,
        "a 429 was certainly not processed, so it is retried up to the attempt limit"
    );
    assert!(sandbox.charges().is_empty());
    assert_eq!(sandbox.balance(Provider::Hotpot), 0);
}
