//! End-to-end runs of the sandbox's Hotpot emulation through the generated client: every
//! operation with a real picture, the documented errors, and the credit ledger.

use base64::Engine as _;
use image::{DynamicImage, GenericImageView as _, ImageFormat, Rgb, RgbImage};
use pixmill_hotpot_api::Error;
use pixmill_hotpot_api::types::{
    BlurFaceRequest, ColorFromPictureRequest, ColorizePictureRequest, CreateGraphicRequest,
    GenerateColorRequest, RemixArtRequest, RemoveBackgroundRequest, RestorePictureRequest,
    SupersizeImageRequest, SupersizeImageRequestImageStyle, TranslateFileRequest,
    TranslateFileRequestType,
};
use pixmill_sandbox::{Provider, Sandbox, SandboxConfig};
use pixmill_tests::sandbox::{hotpot, http_with, quick_config, sample_png, spec_violations};
use serde_json::{Value, json};

/// Price used by most tests: not 1, so "charged once" and "charged the price" differ.
const PRICE: i64 = 3;

async fn sandbox_with_price(price: i64) -> Sandbox {
    Sandbox::start_with(SandboxConfig {
        hotpot_price: price,
        ..quick_config()
    })
    .await
    .expect("sandbox starts")
}

/// Base64 of `bytes`, as whichever text type the field takes (the generated types wrap
/// non-empty strings).
fn b64<T: std::str::FromStr>(bytes: &[u8]) -> T
where
    T::Err: std::fmt::Debug,
{
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .parse()
        .expect("base64 is a valid value")
}

/// Decodes a base64 answer and checks that it is a PNG.
fn decode_png(text: &str) -> DynamicImage {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("answer is base64");
    assert_eq!(
        image::guess_format(&bytes).expect("known format"),
        ImageFormat::Png
    );
    image::load_from_memory(&bytes).expect("answer decodes")
}

fn png(image: &DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png).expect("encodes");
    out.into_inner()
}

/// A picture with detail everywhere: a fine checkerboard of two colours.
fn checkerboard(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        if (x / 2 + y / 2) % 2 == 0 {
            Rgb([240, 240, 240])
        } else {
            Rgb([20, 60, 20])
        }
    }))
}

fn chroma(p: [u8; 3]) -> u8 {
    p.iter().max().unwrap() - p.iter().min().unwrap()
}

/// POSTs raw JSON with a valid key, for bodies the typed client would refuse to build.
async fn post_raw(sandbox: &Sandbox, path: &str, body: Value) -> (u16, Value) {
    let http = http_with("x-api-key", &sandbox.credentials().hotpot_api_key);
    let response = http
        .post(format!("{}{path}", sandbox.base_url(Provider::Hotpot)))
        .json(&body)
        .send()
        .await
        .expect("request reaches the sandbox");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON error body"))
}

/// The status and body of an error answer from the generated client.
fn error_of<T: std::fmt::Debug>(
    result: Result<T, Error<pixmill_hotpot_api::types::ErrorResponse>>,
) -> (u16, pixmill_hotpot_api::types::ErrorResponse) {
    match result {
        Err(Error::ErrorResponse(response)) => {
            let status = response.status().as_u16();
            (status, response.into_inner())
        }
        other => panic!("expected an error answer, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn every_operation_succeeds_and_charges_its_price_once() {
    let sandbox = sandbox_with_price(PRICE).await;
    let client = hotpot(&sandbox);
    let start = sandbox.balance(Provider::Hotpot);
    let picture = sample_png(24, 16);

    // supersize-image: exactly twice the size.
    let large = client
        .supersize_image()
        .body(SupersizeImageRequest {
            image_base64: b64(&picture),
            image_style: SupersizeImageRequestImageStyle::Default,
            noise_cancellation_factor: 1i64.try_into().unwrap(),
            size_factor: 2i64.try_into().unwrap(),
        })
        .send()
        .await
        .expect("supersize succeeds")
        .into_inner();
    let large = decode_png(&large.image_base64);
    assert_eq!(large.dimensions(), (48, 32));
    // The red square is still in the middle, white still in the corner.
    let centre = large.to_rgb8().get_pixel(24, 16).0;
    assert!(centre[0] > 150 && centre[1] < 90, "centre {centre:?}");
    assert!(large.to_rgb8().get_pixel(0, 0).0.iter().all(|&c| c > 230));

    // remove-background: RGBA PNG, transparent corner, opaque centre.
    let square = sample_png(32, 32);
    let cutout = client
        .remove_background()
        .body(RemoveBackgroundRequest {
            image_base64: b64(&square),
        })
        .send()
        .await
        .expect("remove-background succeeds")
        .into_inner();
    let cutout = decode_png(&cutout.image_base64);
    assert_eq!(cutout.color(), image::ColorType::Rgba8);
    assert_eq!(cutout.dimensions(), (32, 32));
    let rgba = cutout.to_rgba8();
    assert_eq!(rgba.get_pixel(0, 0)[3], 0, "corner is transparent");
    assert_eq!(rgba.get_pixel(31, 31)[3], 0, "corner is transparent");
    assert_eq!(rgba.get_pixel(16, 16)[3], 255, "centre is opaque");
    assert_eq!(&rgba.get_pixel(16, 16).0[..3], &[220, 20, 20]);

    // color-from-picture: 75% blue, 25% yellow.
    let blue = [20, 40, 200];
    let yellow = [250, 220, 30];
    let mostly_blue = DynamicImage::ImageRgb8(RgbImage::from_fn(40, 40, |x, _| {
        if x < 30 { Rgb(blue) } else { Rgb(yellow) }
    }));
    let colours = client
        .color_from_picture()
        .body(ColorFromPictureRequest {
            base64_image: Some(b64(&png(&mostly_blue))),
        })
        .send()
        .await
        .expect("color-from-picture succeeds")
        .into_inner();
    let near = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 8);
    assert!(near(colours.color0, blue), "color0 {:?}", colours.color0);
    assert!(
        near(colours.color1.unwrap(), yellow),
        "color1 {:?}",
        colours.color1
    );

    // generate-color: real hints stay in their slots, the padding is filled.
    const PAD: [i64; 3] = [256, 256, 256];
    let palette = client
        .generate_color()
        .body(GenerateColorRequest {
            hint_color_list: [[200, 30, 40], PAD, [10, 20, 200], PAD, PAD],
        })
        .send()
        .await
        .expect("generate-color succeeds")
        .into_inner()
        .palette_color_list;
    assert_eq!(palette.len(), 5, "{palette:?}");
    assert_eq!(palette[0], [200, 30, 40]);
    assert_eq!(palette[2], [10, 20, 200]);
    for slot in [1, 3, 4] {
        assert_ne!(
            palette[slot], palette[0],
            "slot {slot} was filled: {palette:?}"
        );
        assert_ne!(
            palette[slot], palette[2],
            "slot {slot} was filled: {palette:?}"
        );
    }

    // translate-file: one string per input, in order.
    let text = vec![
        "Hello".to_string(),
        "Settings".to_string(),
        "Track every habit".to_string(),
    ];
    let translated = client
        .translate_file()
        .body(TranslateFileRequest {
            source_lanaguage_code: "en".parse().unwrap(),
            target_language_code: "fr".parse().unwrap(),
            text: text.clone(),
            type_: TranslateFileRequestType::StringsXml,
        })
        .send()
        .await
        .expect("translate-file succeeds")
        .into_inner()
        .translated_text;
    assert_eq!(translated.len(), text.len());
    for (source, target) in text.iter().zip(&translated) {
        assert!(target.contains(source.as_str()), "{source} -> {target}");
        assert_ne!(source, target);
    }

    // colorize-picture: a grey picture comes back RGB with colour.
    let grey = DynamicImage::ImageLuma8(image::GrayImage::from_fn(20, 12, |x, _| {
        image::Luma([(x * 12) as u8])
    }));
    let coloured = client
        .colorize_picture()
        .body(ColorizePictureRequest {
            image_base64: b64(&png(&grey)),
            render_factor: 35,
        })
        .send()
        .await
        .expect("colorize succeeds")
        .into_inner();
    let coloured = decode_png(&coloured.image_base64);
    assert_eq!(coloured.color(), image::ColorType::Rgb8);
    assert_eq!(coloured.dimensions(), (20, 12));
    let most_colourful = coloured.to_rgb8().pixels().map(|p| chroma(p.0)).max();
    assert!(
        most_colourful.unwrap() >= 20,
        "no colour: {most_colourful:?}"
    );

    // restore-picture: same size.
    let restored = client
        .restore_picture()
        .body(RestorePictureRequest {
            base64_image: b64(&picture),
            with_scratch: true,
        })
        .send()
        .await
        .expect("restore succeeds")
        .into_inner();
    assert_eq!(decode_png(&restored.base64_image).dimensions(), (24, 16));

    // blur-face: same size, and the centre (where a face would be) is smoothed.
    let detailed = checkerboard(32, 32);
    let blurred = client
        .blur_face()
        .body(BlurFaceRequest {
            base64_image: b64(&png(&detailed)),
            should_blur_text: true,
        })
        .send()
        .await
        .expect("blur-face succeeds")
        .into_inner();
    let blurred = decode_png(&blurred.base64_image);
    assert_eq!(blurred.dimensions(), (32, 32));
    let (before, after) = (detailed.to_rgb8(), blurred.to_rgb8());
    let changed = (12..20)
        .flat_map(|y| (12..20).map(move |x| (x, y)))
        .filter(|&(x, y)| before.get_pixel(x, y) != after.get_pixel(x, y))
        .count();
    assert!(changed > 32, "only {changed} of 64 centre pixels changed");

    // remix-art: content size, colours moved towards the style.
    let style = DynamicImage::ImageRgb8(RgbImage::from_pixel(8, 8, Rgb([10, 10, 240])));
    let remixed = client
        .remix_art()
        .body(RemixArtRequest {
            base64_content_image: b64(&picture),
            base64_style_image_list: vec![b64(&png(&style))],
            focus_content: false,
        })
        .send()
        .await
        .expect("remix-art succeeds")
        .into_inner();
    let remixed = decode_png(&remixed.base64_image);
    assert_eq!(remixed.dimensions(), (24, 16));
    let mean_blue = |image: &DynamicImage| {
        let rgb = image.to_rgb8();
        rgb.pixels().map(|p| u64::from(p[2])).sum::<u64>() / u64::from(rgb.width() * rgb.height())
    };
    let mean_red = |image: &DynamicImage| {
        let rgb = image.to_rgb8();
        rgb.pixels().map(|p| u64::from(p[0])).sum::<u64>() / u64::from(rgb.width() * rgb.height())
    };
    let original = image::load_from_memory(&picture).unwrap();
    assert!(mean_red(&remixed) < mean_red(&original));
    assert!(mean_blue(&remixed) >= mean_blue(&original) - 10);

    // create-graphic: a decodable, non-empty graphic.
    let graphic = client
        .create_graphic()
        .body(CreateGraphicRequest {
            design_id: "1234".parse().unwrap(),
            image_list: vec![b64(&picture)],
            screenshot_list: vec![],
            text_list: vec!["Track every habit".into()],
        })
        .send()
        .await
        .expect("create-graphic succeeds")
        .into_inner();
    let graphic = decode_png(&graphic.base64_image);
    assert!(graphic.width() > 0 && graphic.height() > 0);
    let distinct: std::collections::BTreeSet<_> = graphic
        .to_rgb8()
        .pixels()
        .map(|p| p.0)
        .take(1_000_000)
        .collect();
    assert!(distinct.len() > 2, "the graphic is blank");

    // Ten successful calls, ten charges of the price.
    let charges = sandbox.charges();
    let operations: Vec<&str> = charges.iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(
        operations,
        [
            "supersize_image",
            "remove_background",
            "color_from_picture",
            "generate_color",
            "translate_file",
            "colorize_picture",
            "restore_picture",
            "blur_face",
            "remix_art",
            "create_graphic",
        ]
    );
    assert!(
        charges
            .iter()
            .all(|c| c.provider == Provider::Hotpot && c.amount == PRICE)
    );
    assert_eq!(sandbox.balance(Provider::Hotpot), start - 10 * PRICE);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn supersize_honours_every_factor_and_style() {
    let sandbox = sandbox_with_price(PRICE).await;
    let client = hotpot(&sandbox);
    let picture = sample_png(6, 5);
    for (factor, style) in [
        (4i64, SupersizeImageRequestImageStyle::Anime),
        (8, SupersizeImageRequestImageStyle::Default),
    ] {
        let answer = client
            .supersize_image()
            .body(SupersizeImageRequest {
                image_base64: b64(&picture),
                image_style: style,
                noise_cancellation_factor: 0i64.try_into().unwrap(),
                size_factor: factor.try_into().unwrap(),
            })
            .send()
            .await
            .expect("supersize succeeds")
            .into_inner();
        let factor = factor as u32;
        assert_eq!(
            decode_png(&answer.image_base64).dimensions(),
            (6 * factor, 5 * factor)
        );
    }
    // A factor outside the enumeration is refused, uncharged.
    let (status, body) = post_raw(
        &sandbox,
        "/supersize-image",
        json!({
            "imageBase64": b64::<String>(&picture),
            "sizeFactor": 3,
            "imageStyle": "default",
            "noiseCancellationFactor": 0,
        }),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{body}");
    assert_eq!(sandbox.charges().len(), 2);
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_wrong_or_missing_key_is_forbidden_and_free() {
    let sandbox = sandbox_with_price(PRICE).await;
    let base = sandbox.base_url(Provider::Hotpot);
    let request = RemoveBackgroundRequest {
        image_base64: b64(&sample_png(8, 8)),
    };

    let wrong = pixmill_hotpot_api::Client::new_with_client(
        &base,
        http_with("x-api-key", "hotpot-not-the-key"),
        Default::default(),
    );
    let (status, body) = error_of(wrong.remove_background().body(request.clone()).send().await);
    assert_eq!(status, 403);
    assert_eq!(body.code, 403);
    assert!(!body.message.is_empty());

    let anonymous = pixmill_hotpot_api::Client::new_with_client(
        &base,
        reqwest::Client::new(),
        Default::default(),
    );
    let (status, body) = error_of(
        anonymous
            .remove_background()
            .body(request.clone())
            .send()
            .await,
    );
    assert_eq!((status, body.code), (403, 403));
    assert!(!body.message.is_empty());

    // Every operation is guarded, not only one.
    let (status, body) = error_of(
        anonymous
            .translate_file()
            .body(TranslateFileRequest {
                source_lanaguage_code: "en".parse().unwrap(),
                target_language_code: "de".parse().unwrap(),
                text: vec!["Hi".into()],
                type_: TranslateFileRequestType::Plaintext,
            })
            .send()
            .await,
    );
    assert_eq!((status, body.code), (403, 403));

    // The right key still works afterwards.
    hotpot(&sandbox)
        .remove_background()
        .body(request)
        .send()
        .await
        .expect("the right key is accepted");
    assert_eq!(sandbox.charges().len(), 1);
    assert_eq!(
        sandbox.request_count(Provider::Hotpot, "POST", "/remove-background"),
        3
    );

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn bad_inputs_are_400_and_free() {
    let sandbox = sandbox_with_price(PRICE).await;
    let client = hotpot(&sandbox);
    let start = sandbox.balance(Provider::Hotpot);
    let picture: String = b64(&sample_png(8, 8));

    // render_factor above the documented maximum of 50.
    let (status, body) = error_of(
        client
            .colorize_picture()
            .body(ColorizePictureRequest {
                image_base64: picture.parse().unwrap(),
                render_factor: 51,
            })
            .send()
            .await,
    );
    assert_eq!((status, body.code), (400, 400));
    assert!(body.message.contains("render_factor"), "{}", body.message);

    // The boundary itself is fine.
    client
        .colorize_picture()
        .body(ColorizePictureRequest {
            image_base64: picture.parse().unwrap(),
            render_factor: 50,
        })
        .send()
        .await
        .expect("render_factor 50 is accepted");

    // Base64 that is not an image.
    let not_an_image: String = b64(b"just some text, not a picture");
    let (status, body) = error_of(
        client
            .remove_background()
            .body(RemoveBackgroundRequest {
                image_base64: not_an_image.parse().unwrap(),
            })
            .send()
            .await,
    );
    assert_eq!((status, body.code), (400, 400));
    let (status, body) = error_of(
        client
            .blur_face()
            .body(BlurFaceRequest {
                base64_image: not_an_image.parse().unwrap(),
                should_blur_text: false,
            })
            .send()
            .await,
    );
    assert_eq!((status, body.code), (400, 400));

    // Not base64 at all, a missing field, a palette without a real hint.
    let (status, body) = post_raw(
        &sandbox,
        "/remove-background",
        json!({ "imageBase64": "%%% not base64 %%%" }),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{body}");
    let (status, body) = post_raw(
        &sandbox,
        "/restore-picture",
        json!({ "base64Image": picture }),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{body}");
    let (status, body) = post_raw(
        &sandbox,
        "/generate-color",
        json!({ "hintColorList": vec![[256, 256, 256]; 5] }),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{body}");

    // Only the one good call was charged.
    assert_eq!(sandbox.charges().len(), 1);
    assert_eq!(sandbox.balance(Provider::Hotpot), start - PRICE);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn an_empty_balance_is_429_and_charges_nothing() {
    let sandbox = sandbox_with_price(PRICE).await;
    let client = hotpot(&sandbox);
    let request = SupersizeImageRequest {
        image_base64: b64(&sample_png(8, 8)),
        image_style: SupersizeImageRequestImageStyle::Default,
        noise_cancellation_factor: 0i64.try_into().unwrap(),
        size_factor: 2i64.try_into().unwrap(),
    };

    sandbox.set_balance(Provider::Hotpot, 0);
    let (status, body) = error_of(client.supersize_image().body(request.clone()).send().await);
    assert_eq!((status, body.code), (429, 429));
    assert!(!body.message.is_empty());
    assert!(sandbox.charges().is_empty());
    assert_eq!(sandbox.balance(Provider::Hotpot), 0);

    // Short of one call's price is as good as empty.
    sandbox.set_balance(Provider::Hotpot, PRICE - 1);
    let (status, _) = error_of(client.supersize_image().body(request.clone()).send().await);
    assert_eq!(status, 429);
    assert!(sandbox.charges().is_empty());
    assert_eq!(sandbox.balance(Provider::Hotpot), PRICE - 1);

    // Exactly the price pays for one call, then the balance is empty again.
    sandbox.set_balance(Provider::Hotpot, PRICE);
    client
        .supersize_image()
        .body(request.clone())
        .send()
        .await
        .expect("the balance covers one call");
    assert_eq!(sandbox.balance(Provider::Hotpot), 0);
    let (status, _) = error_of(client.supersize_image().body(request).send().await);
    assert_eq!(status, 429);
    assert_eq!(sandbox.charges().len(), 1);
    assert_eq!(sandbox.charges()[0].amount, PRICE);

    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_path_is_404_in_hotpot_form() {
    let sandbox = sandbox_with_price(1).await;
    let (status, body) = post_raw(&sandbox, "/no-such-operation", json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], 404);
    assert!(body["message"].is_string());
    assert!(sandbox.charges().is_empty());
}

/// `body` with the value at JSON pointer `at` replaced by `value`.
fn with(mut body: Value, at: &str, value: Value) -> Value {
    *body.pointer_mut(at).expect("the field exists") = value;
    body
}

#[tokio::test(start_paused = true)]
async fn empty_strings_and_nulls_are_refused_by_name() {
    let sandbox = sandbox_with_price(PRICE).await;
    let picture = png(&checkerboard(8, 8));
    let cut_out = serde_json::to_value(RemoveBackgroundRequest {
        image_base64: b64(&picture),
    })
    .unwrap();
    let analyse = serde_json::to_value(ColorFromPictureRequest {
        base64_image: Some(b64(&picture)),
    })
    .unwrap();
    let translate = serde_json::to_value(TranslateFileRequest {
        source_lanaguage_code: "en".parse().unwrap(),
        target_language_code: "fr".parse().unwrap(),
        text: vec!["Hello".into()],
        type_: TranslateFileRequestType::Json,
    })
    .unwrap();
    let blur = serde_json::to_value(BlurFaceRequest {
        base64_image: b64(&picture),
        should_blur_text: false,
    })
    .unwrap();
    let cases = [
        (
            "/remove-background",
            with(cut_out.clone(), "/imageBase64", json!("")),
            "`imageBase64` must not be empty",
        ),
        (
            "/remove-background",
            with(cut_out, "/imageBase64", Value::Null),
            "`imageBase64` must not be null",
        ),
        // Optional in the spec, yet not nullable.
        (
            "/color-from-picture",
            with(analyse, "/base64Image", Value::Null),
            "`base64Image` must not be null",
        ),
        (
            "/translate-file",
            with(translate.clone(), "/targetLanguageCode", json!("")),
            "`targetLanguageCode` must not be empty",
        ),
        (
            "/translate-file",
            with(translate, "/text/0", Value::Null),
            "`text[0]` must not be null",
        ),
        (
            "/blur-face",
            with(blur, "/shouldBlurText", Value::Null),
            "`shouldBlurText` must not be null",
        ),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = post_raw(&sandbox, path, body).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["code"], 400, "{path}: {answer}");
        assert_eq!(answer["message"], expected, "{path}");
    }
    assert!(sandbox.charges().is_empty(), "{:?}", sandbox.charges());
    let violations = spec_violations(&sandbox);
    assert!(violations.is_empty(), "{violations:#?}");
}
