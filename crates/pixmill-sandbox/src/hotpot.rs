//! Hotpot.ai: synchronous JSON calls with base64 images, `X-API-KEY` auth, one credit per call.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use bytes::Bytes;
use pixmill_hotpot_api::constants::{
    colorize_picture_request, generate_color_request, remix_art_request, translate_file_request,
};
use pixmill_hotpot_api::service;
use pixmill_hotpot_api::types::{
    BlurFaceRequest, ColorFromPictureRequest, ColorFromPictureResponse, ColorizePictureRequest,
    CreateGraphicRequest, GenerateColorRequest, RemixArtRequest, RemoveBackgroundRequest,
    RestorePictureRequest, SupersizeImageRequest, TranslateFileRequest,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::body;
use crate::errors::json_status;
use crate::imaging::{self, DynamicImage, ImageFormat};
use crate::provider::Provider;
use crate::shared::{Shared, lock, spec_routes};

/// Largest output the sandbox renders, to keep a `sizeFactor` of 16 on a big picture from
/// exhausting memory. Hotpot documents no limit.
const MAX_OUTPUT_PIXELS: u64 = 100_000_000;

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    spec_routes!(service;
        create_graphic,
        remix_art,
        restore_picture,
        colorize_picture,
        supersize_image,
        translate_file,
        remove_background,
        generate_color,
        color_from_picture,
        blur_face,
    )
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

/// Runs one call: checks the balance, reads the body as the operation's request type and does
/// the work off the async workers, charges on success.
async fn call<T: DeserializeOwned + Send + 'static>(
    shared: Arc<Shared>,
    operation: &'static str,
    body: Bytes,
    work: fn(T) -> Result<Value, String>,
) -> Response {
    let price = shared.config.hotpot_price;
    if lock(&shared.ledger).balance(Provider::Hotpot) < price {
        // Hotpot answers an empty balance with its rate-limit status.
        return error(
            429,
            "Rate limit exceeded. Make sure you have enough credits left.",
        );
    }
    let outcome = tokio::task::spawn_blocking(move || body::typed::<T>(&body).and_then(work))
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

/// Decodes a base64 picture field named `name`.
fn picture(text: &str, name: &str) -> Result<DynamicImage, String> {
    let bytes = body::base64(text, name)?;
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
    call(s, "create_graphic", body, |r: CreateGraphicRequest| {
        let mut images = Vec::new();
        let screenshots = r.screenshot_list.iter().map(|item| item.as_str());
        let pictures = r.image_list.iter().map(|item| item.as_str());
        for (name, list) in [
            ("screenshotList", screenshots.collect::<Vec<_>>()),
            ("imageList", pictures.collect()),
        ] {
            for (index, item) in list.into_iter().enumerate() {
                images.push(picture(item, &format!("{name}[{index}]"))?);
            }
        }
        let graphic = imaging::render_graphic(&r.design_id, &r.text_list, &images);
        Ok(json!({ "base64Image": png_base64(&graphic)? }))
    })
    .await
}

async fn remix_art(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "remix_art", body, |r: RemixArtRequest| {
        let content = picture(&r.base64_content_image, "base64ContentImage")?;
        if r.base64_style_image_list.len() < remix_art_request::BASE64_STYLE_IMAGE_LIST_MIN_ITEMS {
            return Err("`base64StyleImageList` must not be empty".into());
        }
        let mut colours = Vec::new();
        for (index, item) in r.base64_style_image_list.iter().enumerate() {
            let style = picture(item, &format!("base64StyleImageList[{index}]"))?;
            colours.extend(imaging::dominant_colors(&style, 1));
        }
        // The styles' main colours, averaged, tint the content: strongly unless the caller asks
        // to keep close to the content.
        let count = colours.len().max(1) as u32;
        let average = [0, 1, 2].map(|c| {
            let sum: u32 = colours.iter().map(|colour| u32::from(colour[c])).sum();
            (sum / count) as u8
        });
        let strength = if r.focus_content { 0.35 } else { 0.8 };
        let art = imaging::tint(&content, average, strength);
        Ok(json!({ "base64Image": png_base64(&art)? }))
    })
    .await
}

async fn restore_picture(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "restore_picture", body, |r: RestorePictureRequest| {
        // Nothing to restore on a test picture: it comes back as it was, as a PNG.
        let image = picture(&r.base64_image, "base64Image")?;
        Ok(json!({ "base64Image": png_base64(&image)? }))
    })
    .await
}

async fn colorize_picture(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "colorize_picture", body, |r: ColorizePictureRequest| {
        let image = picture(&r.image_base64, "imageBase64")?;
        use colorize_picture_request::{RENDER_FACTOR_MAXIMUM, RENDER_FACTOR_MINIMUM};
        if !(RENDER_FACTOR_MINIMUM..=RENDER_FACTOR_MAXIMUM).contains(&r.render_factor) {
            return Err(format!(
                "`render_factor` must be between {RENDER_FACTOR_MINIMUM} and {RENDER_FACTOR_MAXIMUM}"
            ));
        }
        let colour = DynamicImage::ImageRgb8(imaging::colorize(&image));
        Ok(json!({ "imageBase64": png_base64(&colour)? }))
    })
    .await
}

async fn supersize_image(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "supersize_image", body, |r: SupersizeImageRequest| {
        let image = picture(&r.image_base64, "imageBase64")?;
        // The style and noise setting are the spec's to check; they change nothing here.
        let factor = u32::try_from(r.size_factor.value()).unwrap_or(1);
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
    call(s, "translate_file", body, |r: TranslateFileRequest| {
        if r.text.len() < translate_file_request::TEXT_MIN_ITEMS {
            return Err("`text` must not be empty".into());
        }
        // A visible pseudo-translation: callers can check that every string came back, in order.
        let target = r.target_language_code.to_string();
        let translated: Vec<String> = r.text.iter().map(|t| format!("[{target}] {t}")).collect();
        Ok(json!({ "translatedText": translated }))
    })
    .await
}

async fn remove_background(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(
        s,
        "remove_background",
        body,
        |r: RemoveBackgroundRequest| {
            let image = picture(&r.image_base64, "imageBase64")?;
            let (cutout, _mask) = imaging::remove_background(&image);
            let cutout = DynamicImage::ImageRgba8(cutout);
            Ok(json!({ "imageBase64": png_base64(&cutout)? }))
        },
    )
    .await
}

async fn generate_color(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "generate_color", body, |r: GenerateColorRequest| {
        use generate_color_request::{
            HINT_COLOR_LIST_ITEMS_DEFAULT as PADDING, HINT_COLOR_LIST_ITEMS_ITEMS_MAXIMUM as MAX,
            HINT_COLOR_LIST_ITEMS_ITEMS_MINIMUM as MIN,
        };
        // As many hints as the spec's fixed-length list holds.
        let mut hints = r.hint_color_list.map(|_| [0u16; 3]);
        for (slot, colour) in hints.iter_mut().zip(&r.hint_color_list) {
            for (target, value) in slot.iter_mut().zip(colour) {
                *target = u16::try_from(*value)
                    .ok()
                    .filter(|_| (MIN..=MAX).contains(value))
                    .ok_or(format!(
                        "hint components must be integers from {MIN} to {MAX}"
                    ))?;
            }
        }
        if r.hint_color_list.iter().all(|hint| hint[..] == *PADDING) {
            return Err("at least one hint colour must be given".into());
        }
        let palette = imaging::palette_from_hints(&hints);
        Ok(json!({ "paletteColorList": palette }))
    })
    .await
}

async fn color_from_picture(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(
        s,
        "color_from_picture",
        body,
        |r: ColorFromPictureRequest| {
            let text = r
                .base64_image
                .ok_or("`base64Image` is required: there is nothing to analyse without it")?;
            let image = picture(&text, "base64Image")?;
            let mut colours =
                imaging::dominant_colors(&image, imaging::MAX_DOMINANT_COLORS).into_iter();
            let answer = ColorFromPictureResponse {
                color0: colours.next().ok_or("`base64Image` has no pixels")?,
                color1: colours.next(),
                color2: colours.next(),
                color3: colours.next(),
                color4: colours.next(),
            };
            Ok(json!(answer))
        },
    )
    .await
}

async fn blur_face(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    call(s, "blur_face", body, |r: BlurFaceRequest| {
        // A mosaic over the whole picture covers faces and text alike.
        let image = picture(&r.base64_image, "base64Image")?;
        Ok(json!({ "base64Image": png_base64(&imaging::pixelate(&image))? }))
    })
    .await
}
