//! Hotpot.ai: synchronous JSON calls with base64 images, `X-API-KEY` auth, one credit per call.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::body::{self, Object};
use crate::errors::json_status;
use crate::imaging::{self, DynamicImage, ImageFormat};
use crate::provider::Provider;
use crate::shared::{Shared, lock};

/// Largest output the sandbox renders, to keep a `sizeFactor` of 16 on a big picture from
/// exhausting memory. Hotpot documents no limit.
const MAX_OUTPUT_PIXELS: u64 = 100_000_000;

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/create-graphic", post(create_graphic))
        .route("/remix-art", post(remix_art))
        .route("/restore-picture", post(restore_picture))
        .route("/colorize-picture", post(colorize_picture))
        .route("/supersize-image", post(supersize_image))
        .route("/translate-file", post(translate_file))
        .route("/remove-background", post(remove_background))
        .route("/generate-color", post(generate_color))
        .route("/color-from-picture", post(color_from_picture))
        .route("/blur-face", post(blur_face))
        .route_layer(middleware::from_fn_with_state(shared, auth))
        .fallback(|| async { error(404, "Missing endpoint") })
}

/// Hotpot's error body: `{code, message}`.
pub(crate) fn error(status: u16, message: &str) -> Response {
    json_status(status, json!({ "code": status, "message": message }))
}

async fn auth(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok());
    if key != Some(shared.credentials.hotpot_api_key.as_str()) {
        return error(403, "Forbidden. No valid API key provided.");
    }
    next.run(request).await
}

/// Runs one call: checks the balance, does the work off the async workers, charges on success.
async fn call(
    shared: Arc<Shared>,
    operation: &'static str,
    body: Bytes,
    work: fn(&Object) -> Result<Value, String>,
) -> Response {
    let price = shared.config.hotpot_price;
    if lock(&shared.ledger).balance(Provider::Hotpot) < price {
        // Hotpot answers an empty balance with its rate-limit status.
        return error(
            429,
            "Rate limit exceeded. Make sure you have enough credits left.",
        );
    }
    let outcome = tokio::task::spawn_blocking(move || body::object(&body).and_then(|o| work(&o)))
        .await
        .unwrap_or_else(|_| Err("the sandbox failed while processing".into()));
    match outcome {
        Ok(answer) => {
            if lock(&shared.ledger)
                .charge(Provider::Hotpot, operation, None, price)
                .is_none()
            {
                return error(
                    429,
                    "Rate limit exceeded. Make sure you have enough credits left.",
                );
            }
            json_status(200, answer)
        }
        Err(message) => error(400, &message),
    }
}

fn image_field(object: &Object, name: &str) -> Result<DynamicImage, String> {
    let text = body::required_string(object, name)?;
    let bytes = body::base64(&text, name)?;
    imaging::decode(&bytes)
        .map(|(image, _)| image)
        .map_err(|_| format!("`{name}` is not a decodable image"))
}

fn png_base64(image: &DynamicImage) -> Result<String, String> {
    imaging::encode(image, ImageFormat::Png)
        .map(|bytes| body::encode_base64(&bytes))
        .map_err(|e| e.to_string())
}

async fn create_graphic(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "create_graphic", body, |o| {
        let design = body::required_string(o, "designID")?;
        let texts = body::string_list(o, "textList")?.unwrap_or_default();
        let mut images = Vec::new();
        for name in ["screenshotList", "imageList"] {
            for (index, item) in body::string_list(o, name)?
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let label = format!("{name}[{index}]");
                let bytes = body::base64(item, &label)?;
                let (image, _) = imaging::decode(&bytes)
                    .map_err(|_| format!("`{label}` is not a decodable image"))?;
                images.push(image);
            }
        }
        let graphic = imaging::render_graphic(&design, &texts, &images);
        Ok(json!({ "base64Image": png_base64(&graphic)? }))
    })
    .await
}

async fn remix_art(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "remix_art", body, |o| {
        let content = image_field(o, "base64ContentImage")?;
        let list = body::string_list(o, "base64StyleImageList")?
            .ok_or("`base64StyleImageList` is required")?;
        if list.is_empty() {
            return Err("`base64StyleImageList` must not be empty".into());
        }
        let focus = body::required_boolean(o, "focusContent")?;
        let styles = list
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let label = format!("base64StyleImageList[{index}]");
                let bytes = body::base64(item, &label)?;
                imaging::decode(&bytes)
                    .map(|(image, _)| image)
                    .map_err(|_| format!("`{label}` is not a decodable image"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let art = imaging::style_transfer(&content, &styles, focus);
        Ok(json!({ "base64Image": png_base64(&art)? }))
    })
    .await
}

async fn restore_picture(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "restore_picture", body, |o| {
        let image = image_field(o, "base64Image")?;
        let scratches = body::required_boolean(o, "withScratch")?;
        Ok(json!({ "base64Image": png_base64(&imaging::restore(&image, scratches))? }))
    })
    .await
}

async fn colorize_picture(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "colorize_picture", body, |o| {
        let image = image_field(o, "imageBase64")?;
        let factor = body::required_integer(o, "render_factor")?;
        if !(0..=50).contains(&factor) {
            return Err("`render_factor` must be between 0 and 50".into());
        }
        let colour = DynamicImage::ImageRgb8(imaging::colorize(&image));
        Ok(json!({ "imageBase64": png_base64(&colour)? }))
    })
    .await
}

async fn supersize_image(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "supersize_image", body, |o| {
        let image = image_field(o, "imageBase64")?;
        let factor = body::required_integer(o, "sizeFactor")?;
        if ![2, 4, 8, 16].contains(&factor) {
            return Err("`sizeFactor` must be one of 2, 4, 8, 16".into());
        }
        let style = body::required_string(o, "imageStyle")?;
        if style != "default" && style != "anime" {
            return Err("`imageStyle` must be `default` or `anime`".into());
        }
        let noise = body::required_integer(o, "noiseCancellationFactor")?;
        if !(0..=2).contains(&noise) {
            return Err("`noiseCancellationFactor` must be 0, 1 or 2".into());
        }
        let factor = factor as u32;
        let pixels = u64::from(image.width() * factor) * u64::from(image.height() * factor);
        if pixels > MAX_OUTPUT_PIXELS {
            return Err("the result would exceed the sandbox's 100 megapixel output limit".into());
        }
        let large = imaging::scale(&image, factor);
        Ok(json!({ "imageBase64": png_base64(&large)? }))
    })
    .await
}

async fn translate_file(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "translate_file", body, |o| {
        let text = body::string_list(o, "text")?.ok_or("`text` is required")?;
        let kind = body::required_string(o, "type")?;
        const TYPES: &[&str] = &[
            "plaintext",
            "localizable.strings",
            "strings.xml",
            "json",
            "resx",
            "html",
            "srt",
        ];
        if !TYPES.contains(&kind.as_str()) {
            return Err(format!("`type` must be one of {}", TYPES.join(", ")));
        }
        let _source = body::required_string(o, "sourceLanaguageCode")?;
        let target = body::required_string(o, "targetLanguageCode")?;
        // A visible pseudo-translation: callers can check that every string came back, in order.
        let translated: Vec<String> = text.iter().map(|t| format!("[{target}] {t}")).collect();
        Ok(json!({ "translatedText": translated }))
    })
    .await
}

async fn remove_background(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "remove_background", body, |o| {
        let image = image_field(o, "imageBase64")?;
        let (cutout, _mask) = imaging::remove_background(&image);
        let cutout = DynamicImage::ImageRgba8(cutout);
        Ok(json!({ "imageBase64": png_base64(&cutout)? }))
    })
    .await
}

/// The documented filler for unused hint slots.
const HINT_PADDING: [u16; 3] = [256, 256, 256];

async fn generate_color(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "generate_color", body, |o| {
        let list = body::array(o, "hintColorList")?.ok_or("`hintColorList` is required")?;
        if list.len() != 5 {
            return Err(
                "`hintColorList` must hold exactly 5 colours; pad with [256, 256, 256]".into(),
            );
        }
        let mut hints = [[0u16; 3]; 5];
        for (slot, colour) in hints.iter_mut().zip(list) {
            let components = colour
                .as_array()
                .filter(|c| c.len() == 3)
                .ok_or("each hint must be an array of 3 integers")?;
            for (target, value) in slot.iter_mut().zip(components) {
                *target = value
                    .as_u64()
                    .filter(|v| *v <= 256)
                    .ok_or("hint components must be integers from 0 to 256")?
                    as u16;
            }
        }
        if hints.iter().all(|h| *h == HINT_PADDING) {
            return Err("at least one hint colour must be given".into());
        }
        let palette = imaging::palette_from_hints(&hints);
        Ok(json!({ "paletteColorList": palette }))
    })
    .await
}

async fn color_from_picture(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "color_from_picture", body, |o| {
        let image = image_field(o, "base64Image")?;
        let colours = imaging::dominant_colors(&image, 5);
        let mut answer = serde_json::Map::new();
        for (index, colour) in colours.iter().enumerate().take(5) {
            answer.insert(format!("color{index}"), json!(colour));
        }
        Ok(Value::Object(answer))
    })
    .await
}

async fn blur_face(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "blur_face", body, |o| {
        let image = image_field(o, "base64Image")?;
        let text = body::required_boolean(o, "shouldBlurText")?;
        Ok(json!({ "base64Image": png_base64(&imaging::blur_faces(&image, text))? }))
    })
    .await
}
