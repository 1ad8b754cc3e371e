//! Hotpot.ai: synchronous AI picture edits, template graphics, file translation and colours.
//!
//! ```no_run
//! # async fn demo() -> pixmill::Result<()> {
//! use pixmill::hotpot::{Client, ImageStyle, NoiseCancellation, Rgb, SizeFactor};
//!
//! let hotpot = Client::from_env()?; // HOTPOT_API_KEY, and HOTPOT_BASE_URL when set
//! let large = hotpot
//!     .supersize("texture.png")
//!     .size_factor(SizeFactor::X4)
//!     .style(ImageStyle::Anime)
//!     .noise_cancellation(NoiseCancellation::Low)
//!     .send()
//!     .await?;
//! large.save("texture-4x.png").await?;
//!
//! let cutout = hotpot.remove_background("product.jpg").await?;
//! cutout.save("product-cutout.png").await?;
//!
//! let palette = hotpot.generate_color(&[Rgb::new(88, 88, 88)]).await?;
//! println!("{}", palette.iter().map(Rgb::to_string).collect::<Vec<_>>().join(" "));
//! # Ok(()) }
//! ```
//!
//! Every call answers at once (there are no jobs to poll) and spends a credit. Pictures travel
//! as base64 inside the JSON bodies, so inputs must be local files or bytes: Hotpot cannot
//! fetch a URL, and one is refused before anything is sent. Hotpot documents no size or format
//! limits; inputs are still checked to be recognisable images before sending.
//!
//! # Retries
//!
//! Each call spends a credit, so each is retried only when Hotpot certainly did not process
//! it (HTTP 429 or 503, or no connection). A failure after the request may have reached Hotpot
//! is [`Error::OutcomeUnknown`] and is not re-sent.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use pixmill_hotpot_api as api;
use pixmill_spec::hooks::RequestHooks;
use secrecy::SecretString;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use crate::error::{Error, ErrorCode, Provider, excerpt};
use crate::image::{ImageFormat, ImageInfo, ImageInput, InputError};
use crate::retry::{Call, ErrorBody, Safety};
use crate::settings::{CommonBuilder, Settings, api_key_client, env, secret_header};

/// The kind of picture [`Client::supersize`] enlarges: `Default` for photos and most
/// graphics, `Anime` for anime-style art.
pub use api::types::SupersizeImageRequestImageStyle as ImageStyle;

/// The format of the strings given to [`Client::translate_file`] (`plaintext`,
/// `localizable.strings`, `strings.xml`, `json`, `resx`, `html`, `srt`).
pub use api::types::TranslateFileRequestType as FileType;

/// Hotpot's production server.
pub const DEFAULT_BASE_URL: &str = "https://api.hotpot.ai";

const PROVIDER: Provider = Provider::Hotpot;

/// The filler Hotpot documents for unused slots of the five-entry hint list.
const HINT_PADDING: [i64; 3] = [256, 256, 256];

/// Most hints [`Client::generate_color`] takes.
pub const MAX_HINTS: usize = 5;

/// Largest `render_factor` of [`Client::colorize_picture`].
pub const MAX_RENDER_FACTOR: u32 = 50;

/// Base64 as Hotpot answers it: standard alphabet, padding optional.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

api_key_client! {
    name: "Hotpot",
    module: "hotpot",
    key_var: "HOTPOT_API_KEY",
    base_url_var: "HOTPOT_BASE_URL",
    header: "x-api-key",
    header_doc: "X-API-KEY",
}

impl Client {
    /// Starts an upscale of `input` (a path or bytes). Configure it, then `send()`.
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// use pixmill::hotpot::{ImageStyle, SizeFactor};
    ///
    /// let large = hotpot
    ///     .supersize("sprite.png")
    ///     .size_factor(SizeFactor::X8)
    ///     .style(ImageStyle::Anime)
    ///     .send()
    ///     .await?;
    /// large.save("sprite-8x.png").await?;
    /// # Ok(()) }
    /// ```
    pub fn supersize(&self, input: impl Into<ImageInput>) -> SupersizeRequest {
        SupersizeRequest {
            client: self.clone(),
            input: input.into(),
            size_factor: SizeFactor::default(),
            style: ImageStyle::Default,
            noise_cancellation: NoiseCancellation::default(),
        }
    }

    /// Removes the background of `input` (a path or bytes) and returns the cut-out.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// let cutout = hotpot.remove_background("product.jpg").await?;
    /// cutout.save("product.png").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove_background(
        &self,
        input: impl Into<ImageInput>,
    ) -> Result<ImageOutput, Error> {
        const OPERATION: &str = "remove_background";
        let body = api::types::RemoveBackgroundRequest {
            image_base64: encode_input(OPERATION, &input.into()).await?,
        };
        let answer = self
            .run(OPERATION, || {
                self.inner.api.remove_background().body(body.clone()).send()
            })
            .await?;
        decode_image(OPERATION, "imageBase64", &answer.image_base64)
    }

    /// Restores an old colour or black-and-white photo; `with_scratch` asks for scratches to
    /// be removed as well.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// let restored = hotpot.restore_picture("grandparents.jpg", true).await?;
    /// restored.save("grandparents-restored.png").await?;
    /// # Ok(()) }
    /// ```
    pub async fn restore_picture(
        &self,
        input: impl Into<ImageInput>,
        with_scratch: bool,
    ) -> Result<ImageOutput, Error> {
        const OPERATION: &str = "restore_picture";
        let body = api::types::RestorePictureRequest {
            base64_image: encode_input(OPERATION, &input.into()).await?,
            with_scratch,
        };
        let answer = self
            .run(OPERATION, || {
                self.inner.api.restore_picture().body(body.clone()).send()
            })
            .await?;
        decode_image(OPERATION, "base64Image", &answer.base64_image)
    }

    /// Colourises a black-and-white picture. `render_factor` (0 to [`MAX_RENDER_FACTOR`]) is
    /// DeOldify's render factor: low values are faster and suit old or poor photos, high values
    /// suit sharp ones. An out-of-range factor is refused before anything is sent.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// let colour = hotpot.colorize_picture("1920s.jpg", 35).await?;
    /// colour.save("1920s-colour.png").await?;
    /// # Ok(()) }
    /// ```
    pub async fn colorize_picture(
        &self,
        input: impl Into<ImageInput>,
        render_factor: u32,
    ) -> Result<ImageOutput, Error> {
        const OPERATION: &str = "colorize_picture";
        check_range(
            "render_factor",
            0,
            i64::from(MAX_RENDER_FACTOR),
            i64::from(render_factor),
        )?;
        let body = api::types::ColorizePictureRequest {
            image_base64: encode_input(OPERATION, &input.into()).await?,
            render_factor: i64::from(render_factor),
        };
        let answer = self
            .run(OPERATION, || {
                self.inner.api.colorize_picture().body(body.clone()).send()
            })
            .await?;
        decode_image(OPERATION, "imageBase64", &answer.image_base64)
    }

    /// Applies the style of `styles` (at least one picture, combined in order) to `content`.
    /// `focus_content` keeps the result close to the content picture; `false` gives a more
    /// cartoon-like result. An empty style list is refused before anything is sent.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// let art = hotpot
    ///     .remix_art("portrait.jpg", ["starry-night.jpg", "mosaic.png"], true)
    ///     .await?;
    /// art.save("portrait-art.png").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remix_art<S: Into<ImageInput>>(
        &self,
        content: impl Into<ImageInput>,
        styles: impl IntoIterator<Item = S>,
        focus_content: bool,
    ) -> Result<ImageOutput, Error> {
        const OPERATION: &str = "remix_art";
        let content = content.into();
        let styles: Vec<ImageInput> = styles.into_iter().map(Into::into).collect();
        if styles.is_empty() {
            return Err(InputError::OutOfRange {
                field: "styles",
                expected: "at least one style picture".into(),
                actual: "none".into(),
            }
            .into());
        }
        let base64_content_image = encode_input(OPERATION, &content).await?;
        let mut base64_style_image_list = Vec::with_capacity(styles.len());
        for style in &styles {
            base64_style_image_list.push(encode_input(OPERATION, style).await?);
        }
        let body = api::types::RemixArtRequest {
            base64_content_image,
            base64_style_image_list,
            focus_content,
        };
        let answer = self
            .run(OPERATION, || {
                self.inner.api.remix_art().body(body.clone()).send()
            })
            .await?;
        decode_image(OPERATION, "base64Image", &answer.base64_image)
    }

    /// Blurs every face in `input`; with `blur_text` also text and similar sensitive content.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// let redacted = hotpot.blur_face("street.jpg", true).await?;
    /// redacted.save("street-redacted.png").await?;
    /// # Ok(()) }
    /// ```
    pub async fn blur_face(
        &self,
        input: impl Into<ImageInput>,
        blur_text: bool,
    ) -> Result<ImageOutput, Error> {
        const OPERATION: &str = "blur_face";
        let body = api::types::BlurFaceRequest {
            base64_image: encode_input(OPERATION, &input.into()).await?,
            should_blur_text: blur_text,
        };
        let answer = self
            .run(OPERATION, || {
                self.inner.api.blur_face().body(body.clone()).send()
            })
            .await?;
        decode_image(OPERATION, "base64Image", &answer.base64_image)
    }

    /// Starts rendering the Hotpot.ai template `design_id`. Add replacement texts, screenshots
    /// and images (each fills the template's slots of its kind in order), then `send()`.
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// let graphic = hotpot
    ///     .create_graphic("app-store-1")
    ///     .text("Edit photos in seconds")
    ///     .text("Try it free")
    ///     .screenshot("screen-1.png")
    ///     .send()
    ///     .await?;
    /// graphic.save("store-1.png").await?;
    /// # Ok(()) }
    /// ```
    pub fn create_graphic(&self, design_id: impl Into<String>) -> CreateGraphicRequest {
        CreateGraphicRequest {
            client: self.clone(),
            design_id: design_id.into(),
            texts: Vec::new(),
            screenshots: Vec::new(),
            images: Vec::new(),
        }
    }

    /// Generates a palette matching 1 to [`MAX_HINTS`] hint colours. Fewer than five hints
    /// are padded with Hotpot's placeholder `[256, 256, 256]`; no hints, or more than five, are
    /// refused before anything is sent.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection). An answer with a component outside 0–255, or an empty palette, is
    /// [`Error::InvalidResponse`].
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// use pixmill::hotpot::Rgb;
    ///
    /// let palette = hotpot.generate_color(&[Rgb::new(88, 88, 88), Rgb::new(200, 40, 40)]).await?;
    /// for colour in palette {
    ///     println!("{colour}"); // #80a8bc ...
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn generate_color(&self, hints: &[Rgb]) -> Result<Vec<Rgb>, Error> {
        const OPERATION: &str = "generate_color";
        let body = api::types::GenerateColorRequest {
            hint_color_list: hint_list(hints)?,
        };
        let answer = self
            .run(OPERATION, || {
                self.inner.api.generate_color().body(body.clone()).send()
            })
            .await?;
        if answer.palette_color_list.is_empty() {
            return Err(invalid_response(
                OPERATION,
                "`paletteColorList` is empty",
                serde_json::to_string(&answer)
                    .unwrap_or_default()
                    .as_bytes(),
            ));
        }
        Ok(answer
            .palette_color_list
            .into_iter()
            .map(Rgb::from)
            .collect())
    }

    /// The five most dominant colours of `input`, most dominant first.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection). An answer with a component outside 0–255 is [`Error::InvalidResponse`].
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// let [main, ..] = hotpot.color_from_picture("logo.png").await?;
    /// println!("brand colour: {main}");
    /// # Ok(()) }
    /// ```
    pub async fn color_from_picture(
        &self,
        input: impl Into<ImageInput>,
    ) -> Result<[Rgb; 5], Error> {
        const OPERATION: &str = "color_from_picture";
        let body = api::types::ColorFromPictureRequest {
            base64_image: Some(encode_input(OPERATION, &input.into()).await?),
        };
        let answer = self
            .run(OPERATION, || {
                self.inner
                    .api
                    .color_from_picture()
                    .body(body.clone())
                    .send()
            })
            .await?;
        Ok([
            answer.color0,
            answer.color1,
            answer.color2,
            answer.color3,
            answer.color4,
        ]
        .map(Rgb::from))
    }

    /// Translates the strings of a localization file from `source` to `target` (Microsoft
    /// Translator language codes such as `en`, `fr` or `zh-Hans`) and returns one translation
    /// per string, in order. An empty list or a malformed language code is refused before
    /// anything is sent; an answer with a different number of strings is
    /// [`Error::InvalidResponse`].
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// use pixmill::hotpot::FileType;
    ///
    /// let french = hotpot
    ///     .translate_file(["Hello", "Settings"], FileType::StringsXml, "en", "fr")
    ///     .await?;
    /// assert_eq!(french.len(), 2);
    /// # Ok(()) }
    /// ```
    pub async fn translate_file<T: Into<String>>(
        &self,
        texts: impl IntoIterator<Item = T>,
        file_type: FileType,
        source: impl Into<String>,
        target: impl Into<String>,
    ) -> Result<Vec<String>, Error> {
        const OPERATION: &str = "translate_file";
        let text: Vec<String> = texts.into_iter().map(Into::into).collect();
        if text.is_empty() {
            return Err(InputError::OutOfRange {
                field: "texts",
                expected: "at least one string".into(),
                actual: "none".into(),
            }
            .into());
        }
        let body = api::types::TranslateFileRequest {
            source_lanaguage_code: language_code("source", source.into())?,
            target_language_code: language_code("target", target.into())?,
            text,
            type_: file_type,
        };
        let answer = self
            .run(OPERATION, || {
                self.inner.api.translate_file().body(body.clone()).send()
            })
            .await?;
        if answer.translated_text.len() != body.text.len() {
            return Err(invalid_response(
                OPERATION,
                &format!(
                    "{} strings were sent but {} came back",
                    body.text.len(),
                    answer.translated_text.len()
                ),
                serde_json::to_string(&answer)
                    .unwrap_or_default()
                    .as_bytes(),
            ));
        }
        Ok(answer.translated_text)
    }

    /// Runs one credit-spending call and unwraps its answer.
    async fn run<T, F, Fut>(&self, operation: &'static str, send: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<api::ResponseValue<T>, api::Error<api::types::ErrorResponse>>>,
    {
        Ok(Call {
            provider: PROVIDER,
            operation,
            safety: Safety::Charged,
        }
        .run(&self.inner.settings.retry, send)
        .await?
        .into_inner())
    }
}

impl ErrorBody for api::types::ErrorResponse {
    fn code_and_message(&self) -> (Option<ErrorCode>, String) {
        // `code` only repeats the HTTP status.
        (None, self.message.clone())
    }
}

/// How much [`Client::supersize`] enlarges width and height.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SizeFactor {
    /// Twice as wide and high (the default).
    #[default]
    X2,
    /// Four times.
    X4,
    /// Eight times.
    X8,
    /// Sixteen times.
    X16,
}

impl SizeFactor {
    /// Every factor Hotpot accepts.
    pub const ALL: [SizeFactor; 4] = [
        SizeFactor::X2,
        SizeFactor::X4,
        SizeFactor::X8,
        SizeFactor::X16,
    ];

    /// The multiplier (2, 4, 8 or 16).
    pub const fn factor(self) -> u32 {
        match self {
            SizeFactor::X2 => 2,
            SizeFactor::X4 => 4,
            SizeFactor::X8 => 8,
            SizeFactor::X16 => 16,
        }
    }

    fn to_api(self) -> Result<api::types::SupersizeImageRequestSizeFactor, InputError> {
        api::types::SupersizeImageRequestSizeFactor::try_from(i64::from(self.factor())).map_err(
            |e| InputError::OutOfRange {
                field: "size_factor",
                expected: "2, 4, 8 or 16".into(),
                actual: format!("{} ({e})", self.factor()),
            },
        )
    }
}

impl TryFrom<u32> for SizeFactor {
    type Error = InputError;

    /// `2`, `4`, `8` or `16`; anything else is [`InputError::OutOfRange`].
    fn try_from(factor: u32) -> Result<Self, InputError> {
        SizeFactor::ALL
            .into_iter()
            .find(|f| f.factor() == factor)
            .ok_or_else(|| InputError::OutOfRange {
                field: "size_factor",
                expected: "2, 4, 8 or 16".into(),
                actual: factor.to_string(),
            })
    }
}

impl From<SizeFactor> for u32 {
    fn from(factor: SizeFactor) -> u32 {
        factor.factor()
    }
}

impl fmt::Display for SizeFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x", self.factor())
    }
}

/// How much noise [`Client::supersize`] removes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoiseCancellation {
    /// No noise cancellation (`0`, the default).
    #[default]
    None,
    /// Low noise cancellation (`1`).
    Low,
    /// Medium noise cancellation (`2`).
    Medium,
}

impl NoiseCancellation {
    /// The level Hotpot expects: 0, 1 or 2.
    pub const fn level(self) -> u8 {
        match self {
            NoiseCancellation::None => 0,
            NoiseCancellation::Low => 1,
            NoiseCancellation::Medium => 2,
        }
    }

    fn to_api(
        self,
    ) -> Result<api::types::SupersizeImageRequestNoiseCancellationFactor, InputError> {
        api::types::SupersizeImageRequestNoiseCancellationFactor::try_from(i64::from(self.level()))
            .map_err(|e| InputError::OutOfRange {
                field: "noise_cancellation",
                expected: "0, 1 or 2".into(),
                actual: format!("{} ({e})", self.level()),
            })
    }
}

impl TryFrom<u8> for NoiseCancellation {
    type Error = InputError;

    /// `0` (none), `1` (low) or `2` (medium); anything else is [`InputError::OutOfRange`].
    fn try_from(level: u8) -> Result<Self, InputError> {
        match level {
            0 => Ok(NoiseCancellation::None),
            1 => Ok(NoiseCancellation::Low),
            2 => Ok(NoiseCancellation::Medium),
            other => Err(range_error("noise_cancellation", 0, 2, i64::from(other))),
        }
    }
}

impl From<NoiseCancellation> for u8 {
    fn from(level: NoiseCancellation) -> u8 {
        level.level()
    }
}

/// An upscale to configure and send. From [`Client::supersize`].
#[derive(Debug)]
#[must_use = "nothing is sent until `send()`"]
pub struct SupersizeRequest {
    client: Client,
    input: ImageInput,
    size_factor: SizeFactor,
    style: ImageStyle,
    noise_cancellation: NoiseCancellation,
}

impl SupersizeRequest {
    /// How much to enlarge (default [`SizeFactor::X2`]).
    pub fn size_factor(mut self, factor: SizeFactor) -> Self {
        self.size_factor = factor;
        self
    }

    /// What kind of picture it is (default [`ImageStyle::Default`]).
    pub fn style(mut self, style: ImageStyle) -> Self {
        self.style = style;
        self
    }

    /// How much noise to remove (default [`NoiseCancellation::None`]).
    pub fn noise_cancellation(mut self, level: NoiseCancellation) -> Self {
        self.noise_cancellation = level;
        self
    }

    /// Checks the input is an image and sends it; returns the enlarged picture.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    pub async fn send(self) -> Result<ImageOutput, Error> {
        const OPERATION: &str = "supersize_image";
        let body = api::types::SupersizeImageRequest {
            size_factor: self.size_factor.to_api()?,
            image_style: self.style,
            noise_cancellation_factor: self.noise_cancellation.to_api()?,
            image_base64: encode_input(OPERATION, &self.input).await?,
        };
        let client = &self.client;
        let answer = client
            .run(OPERATION, || {
                client.inner.api.supersize_image().body(body.clone()).send()
            })
            .await?;
        decode_image(OPERATION, "imageBase64", &answer.image_base64)
    }
}

/// A template graphic to fill and render. From [`Client::create_graphic`].
#[derive(Debug)]
#[must_use = "nothing is sent until `send()`"]
pub struct CreateGraphicRequest {
    client: Client,
    design_id: String,
    texts: Vec<String>,
    screenshots: Vec<ImageInput>,
    images: Vec<ImageInput>,
}

impl CreateGraphicRequest {
    /// Adds the replacement for the template's next text slot.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.texts.push(text.into());
        self
    }

    /// Adds replacements for the template's next text slots, in order.
    pub fn texts<T: Into<String>>(mut self, texts: impl IntoIterator<Item = T>) -> Self {
        self.texts.extend(texts.into_iter().map(Into::into));
        self
    }

    /// Adds the replacement for the template's next screenshot slot (a path or bytes).
    pub fn screenshot(mut self, screenshot: impl Into<ImageInput>) -> Self {
        self.screenshots.push(screenshot.into());
        self
    }

    /// Adds replacements for the template's next screenshot slots, in order.
    pub fn screenshots<S: Into<ImageInput>>(
        mut self,
        screenshots: impl IntoIterator<Item = S>,
    ) -> Self {
        self.screenshots
            .extend(screenshots.into_iter().map(Into::into));
        self
    }

    /// Adds the replacement for the template's next image slot (a path or bytes).
    pub fn image(mut self, image: impl Into<ImageInput>) -> Self {
        self.images.push(image.into());
        self
    }

    /// Adds replacements for the template's next image slots, in order.
    pub fn images<S: Into<ImageInput>>(mut self, images: impl IntoIterator<Item = S>) -> Self {
        self.images.extend(images.into_iter().map(Into::into));
        self
    }

    /// Checks the design id and every picture, then renders the graphic.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    pub async fn send(self) -> Result<ImageOutput, Error> {
        const OPERATION: &str = "create_graphic";
        let CreateGraphicRequest {
            client,
            design_id,
            texts,
            screenshots,
            images,
        } = self;
        let design_id = design_id.trim();
        if design_id.is_empty() {
            return Err(InputError::OutOfRange {
                field: "design_id",
                expected: "a Hotpot.ai template id".into(),
                actual: "an empty string".into(),
            }
            .into());
        }
        let mut screenshot_list = Vec::with_capacity(screenshots.len());
        for screenshot in &screenshots {
            screenshot_list.push(encode_input(OPERATION, screenshot).await?);
        }
        let mut image_list = Vec::with_capacity(images.len());
        for image in &images {
            image_list.push(encode_input(OPERATION, image).await?);
        }
        let body = api::types::CreateGraphicRequest {
            design_id: design_id.to_string(),
            text_list: texts,
            screenshot_list,
            image_list,
        };
        let answer = client
            .run(OPERATION, || {
                client.inner.api.create_graphic().body(body.clone()).send()
            })
            .await?;
        decode_image(OPERATION, "base64Image", &answer.base64_image)
    }
}

/// A picture Hotpot returned, decoded from base64 and held in memory.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageOutput {
    bytes: Bytes,
    format: Option<ImageFormat>,
}

impl fmt::Debug for ImageOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageOutput")
            .field("bytes", &self.bytes.len())
            .field("format", &self.format)
            .finish()
    }
}

impl ImageOutput {
    /// The file's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The file's bytes, taken out.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The format, detected from the file header; `None` when it is not one pixmill
    /// recognises.
    pub fn format(&self) -> Option<ImageFormat> {
        self.format
    }

    /// Format and dimensions read from the file header, when recognisable.
    pub fn info(&self) -> Option<ImageInfo> {
        ImageInfo::read(&self.bytes).ok()
    }

    /// Writes the picture to `path` (through a temporary file renamed into place, so the
    /// file is written in full or not at all); returns its size.
    pub async fn save(&self, path: impl AsRef<Path>) -> Result<u64, Error> {
        let bytes = self.bytes.clone();
        crate::download::atomically(path.as_ref(), |mut file| async move {
            write_all(&mut file, &bytes).await
        })
        .await
    }

    /// Writes the picture into `writer`; returns its size.
    pub async fn write_to<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        writer: &mut W,
    ) -> Result<u64, Error> {
        write_all(writer, &self.bytes).await
    }
}

impl AsRef<[u8]> for ImageOutput {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

async fn write_all<W: AsyncWrite + Unpin + ?Sized>(
    writer: &mut W,
    bytes: &[u8],
) -> Result<u64, Error> {
    writer
        .write_all(bytes)
        .await
        .map_err(|e| Error::io(None, e))?;
    writer.flush().await.map_err(|e| Error::io(None, e))?;
    Ok(bytes.len() as u64)
}

/// An RGB colour, as Hotpot's colour tools take and return it.
///
/// ```
/// use pixmill::hotpot::Rgb;
///
/// let teal = Rgb::new(0, 128, 128);
/// assert_eq!(teal.to_string(), "#008080");
/// assert_eq!(Rgb::from([0, 128, 128]), teal);
/// assert_eq!(<[u8; 3]>::from(teal), [0, 128, 128]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rgb {
    /// Red, 0 to 255.
    pub r: u8,
    /// Green, 0 to 255.
    pub g: u8,
    /// Blue, 0 to 255.
    pub b: u8,
}

impl Rgb {
    /// A colour from its components.
    pub const fn new(r: u8, g: u8, b: u8) -> Rgb {
        Rgb { r, g, b }
    }

    /// `[r, g, b]`.
    pub const fn to_array(self) -> [u8; 3] {
        [self.r, self.g, self.b]
    }
}

impl From<[u8; 3]> for Rgb {
    fn from([r, g, b]: [u8; 3]) -> Rgb {
        Rgb { r, g, b }
    }
}

impl From<(u8, u8, u8)> for Rgb {
    fn from((r, g, b): (u8, u8, u8)) -> Rgb {
        Rgb { r, g, b }
    }
}

impl From<Rgb> for [u8; 3] {
    fn from(colour: Rgb) -> [u8; 3] {
        colour.to_array()
    }
}

impl fmt::Display for Rgb {
    /// `#rrggbb`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

/// The five-entry hint list Hotpot expects: the hints first, then the documented filler.
fn hint_list(hints: &[Rgb]) -> Result<[[i64; 3]; 5], InputError> {
    if hints.is_empty() || hints.len() > MAX_HINTS {
        let actual = if hints.is_empty() {
            "none (at least 1 is needed)".to_string()
        } else {
            format!(
                "{} ({} more than the maximum of {MAX_HINTS})",
                hints.len(),
                hints.len() - MAX_HINTS
            )
        };
        return Err(InputError::OutOfRange {
            field: "hints",
            expected: format!("1 to {MAX_HINTS} colours"),
            actual,
        });
    }
    let mut list = [HINT_PADDING; 5];
    for (slot, hint) in list.iter_mut().zip(hints) {
        *slot = hint.to_array().map(i64::from);
    }
    Ok(list)
}

/// Reads a local input and encodes it as the bare base64 Hotpot expects.
async fn encode_input(operation: &'static str, input: &ImageInput) -> Result<String, Error> {
    if let Some(url) = input.url() {
        return Err(InputError::Unsupported(format!(
            "{operation}: Hotpot needs the picture itself (a path or bytes), not a URL ({url})"
        ))
        .into());
    }
    let loaded = input.load().await?;
    Ok(STANDARD.encode(&loaded.bytes))
}

/// Decodes a base64 picture from an answer.
fn decode_image(operation: &'static str, field: &str, text: &str) -> Result<ImageOutput, Error> {
    let mut data = text.trim();
    // Bare base64 is documented; tolerate a `data:` URL all the same.
    if data.starts_with("data:")
        && let Some((_, rest)) = data.split_once(',')
    {
        data = rest;
    }
    let bytes = if data.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: String = data.split_ascii_whitespace().collect();
        LENIENT_BASE64.decode(compact)
    } else {
        LENIENT_BASE64.decode(data)
    }
    .map_err(|e| {
        invalid_response(
            operation,
            &format!("`{field}` is not valid base64 ({e})"),
            text.as_bytes(),
        )
    })?;
    if bytes.is_empty() {
        return Err(invalid_response(
            operation,
            &format!("`{field}` is empty"),
            text.as_bytes(),
        ));
    }
    let format = ImageFormat::detect(&bytes);
    Ok(ImageOutput {
        bytes: Bytes::from(bytes),
        format,
    })
}

fn invalid_response(operation: &'static str, reason: &str, body: &[u8]) -> Error {
    Error::InvalidResponse {
        provider: PROVIDER,
        operation,
        status: Some(200),
        reason: reason.to_string(),
        excerpt: excerpt(body),
    }
}

/// A Microsoft Translator language code: letters, digits and hyphens (`en`, `zh-Hans`).
fn language_code(field: &'static str, code: String) -> Result<String, InputError> {
    let trimmed = code.trim();
    if trimmed.is_empty()
        || !trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(InputError::OutOfRange {
            field,
            expected: "a Microsoft Translator language code such as `en` or `zh-Hans`".into(),
            actual: format!("{code:?}"),
        });
    }
    Ok(trimmed.to_string())
}

fn check_range(field: &'static str, min: i64, max: i64, actual: i64) -> Result<(), InputError> {
    if (min..=max).contains(&actual) {
        Ok(())
    } else {
        Err(range_error(field, min, max, actual))
    }
}

/// "`field` must be from `min` to `max`, got `actual` (`n` above the maximum)".
fn range_error(field: &'static str, min: i64, max: i64, actual: i64) -> InputError {
    let by = if actual < min {
        format!("{} below the minimum", min.abs_diff(actual))
    } else {
        format!("{} above the maximum", actual.abs_diff(max))
    };
    InputError::OutOfRange {
        field,
        expected: format!("from {min} to {max}"),
        actual: format!("{actual} ({by})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of a 4000×2000 PNG (enough for format detection).
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x0F, 0xA0, 0x00, 0x00, 0x07, 0xD0, 0x08, 0x02, 0x00, 0x00, 0x00,
    ];

    /// A client whose server does not exist: validation must fail before any request.
    fn offline() -> Client {
        Client::builder()
            .api_key("k")
            .base_url("http://127.0.0.1:9")
            .retry_policy(crate::RetryPolicy::none())
            .build()
            .unwrap()
    }

    fn message(error: Error) -> String {
        assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
        error.to_string()
    }

    #[test]
    fn hints_are_padded_with_the_documented_filler() {
        let list = hint_list(&[Rgb::new(88, 88, 88)]).unwrap();
        assert_eq!(
            list,
            [
                [88, 88, 88],
                [256, 256, 256],
                [256, 256, 256],
                [256, 256, 256],
                [256, 256, 256]
            ]
        );
        let five = [Rgb::new(1, 2, 3); 5];
        assert_eq!(hint_list(&five).unwrap(), [[1, 2, 3]; 5]);
        let wire = serde_json::to_value(api::types::GenerateColorRequest {
            hint_color_list: hint_list(&[Rgb::new(255, 0, 10), Rgb::new(0, 0, 0)]).unwrap(),
        })
        .unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"hintColorList": [[255, 0, 10], [0, 0, 0], [256, 256, 256], [256, 256, 256], [256, 256, 256]]})
        );
    }

    #[test]
    fn hint_counts_outside_one_to_five_are_refused() {
        assert_eq!(
            hint_list(&[]).unwrap_err().to_string(),
            "hints must be 1 to 5 colours, got none (at least 1 is needed)"
        );
        assert_eq!(
            hint_list(&[Rgb::default(); 7]).unwrap_err().to_string(),
            "hints must be 1 to 5 colours, got 7 (2 more than the maximum of 5)"
        );
    }

    #[test]
    fn size_factors_map_to_the_generated_type() {
        for factor in SizeFactor::ALL {
            let wire = factor.to_api().unwrap();
            assert_eq!(*wire, i64::from(factor.factor()));
            assert_eq!(SizeFactor::try_from(factor.factor()).unwrap(), factor);
        }
        assert_eq!(SizeFactor::X16.to_string(), "16x");
        assert_eq!(
            SizeFactor::try_from(3).unwrap_err().to_string(),
            "size_factor must be 2, 4, 8 or 16, got 3"
        );
    }

    #[test]
    fn noise_levels_map_to_the_generated_type() {
        for (level, expected) in [
            (NoiseCancellation::None, 0),
            (NoiseCancellation::Low, 1),
            (NoiseCancellation::Medium, 2),
        ] {
            assert_eq!(*level.to_api().unwrap(), expected);
            assert_eq!(NoiseCancellation::try_from(expected as u8).unwrap(), level);
        }
        assert_eq!(
            NoiseCancellation::try_from(5).unwrap_err().to_string(),
            "noise_cancellation must be from 0 to 2, got 5 (3 above the maximum)"
        );
    }

    #[test]
    fn generated_enums_are_re_exported_with_their_wire_names() {
        assert_eq!(ImageStyle::Anime.to_string(), "anime");
        assert_eq!(
            FileType::LocalizableStrings.to_string(),
            "localizable.strings"
        );
        assert_eq!(
            "strings.xml".parse::<FileType>().unwrap(),
            FileType::StringsXml
        );
    }

    #[tokio::test]
    async fn render_factor_is_checked_before_sending() {
        let error = offline()
            .colorize_picture(PNG.to_vec(), 51)
            .await
            .unwrap_err();
        assert_eq!(
            message(error),
            "render_factor must be from 0 to 50, got 51 (1 above the maximum)"
        );
    }

    #[tokio::test]
    async fn urls_and_non_images_are_refused_before_sending() {
        let client = offline();
        let error = client
            .remove_background("https://example.com/a.png")
            .await
            .unwrap_err();
        assert!(message(error).contains("not a URL"));
        let error = client
            .blur_face(b"hello".to_vec(), false)
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidInput(InputError::NotAnImage)),
            "{error:?}"
        );
        let error = client
            .supersize(b"not an image".to_vec())
            .size_factor(SizeFactor::X4)
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidInput(InputError::NotAnImage)),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn empty_lists_and_ids_are_refused_before_sending() {
        let client = offline();
        let error = client
            .remix_art(PNG.to_vec(), Vec::<ImageInput>::new(), true)
            .await
            .unwrap_err();
        assert_eq!(
            message(error),
            "styles must be at least one style picture, got none"
        );
        let error = client
            .translate_file(Vec::<String>::new(), FileType::Json, "en", "fr")
            .await
            .unwrap_err();
        assert_eq!(
            message(error),
            "texts must be at least one string, got none"
        );
        let error = client
            .translate_file(["Hi"], FileType::Json, "en", "f r")
            .await
            .unwrap_err();
        assert!(message(error).starts_with("target must be a Microsoft Translator language code"));
        let error = client
            .create_graphic(" ")
            .text("x")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            message(error),
            "design_id must be a Hotpot.ai template id, got an empty string"
        );
        let error = client.generate_color(&[]).await.unwrap_err();
        assert!(message(error).starts_with("hints must be 1 to 5 colours"));
    }

    #[test]
    fn answers_are_decoded_and_their_format_detected() {
        let text = STANDARD.encode(PNG);
        let output = decode_image("op", "imageBase64", &text).unwrap();
        assert_eq!(output.format(), Some(ImageFormat::Png));
        assert_eq!(output.bytes().as_ref(), PNG);
        assert_eq!(
            output.info().map(|i| (i.width, i.height)),
            Some((4000, 2000))
        );

        let unpadded = text.trim_end_matches('=');
        assert_eq!(
            decode_image("op", "f", unpadded).unwrap().bytes().as_ref(),
            PNG
        );
        let data_url = format!("data:image/png;base64,{text}");
        assert_eq!(
            decode_image("op", "f", &data_url).unwrap().bytes().as_ref(),
            PNG
        );
        let wrapped = format!("{}\n{}", &text[..10], &text[10..]);
        assert_eq!(
            decode_image("op", "f", &wrapped).unwrap().bytes().as_ref(),
            PNG
        );

        let unknown = decode_image("op", "f", &STANDARD.encode(b"plain text")).unwrap();
        assert_eq!(unknown.format(), None);
    }

    #[test]
    fn unreadable_answers_are_invalid_responses() {
        let error = decode_image("remove_background", "imageBase64", "not base64!").unwrap_err();
        assert!(
            matches!(
                &error,
                Error::InvalidResponse {
                    provider: Provider::Hotpot,
                    operation: "remove_background",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("`imageBase64` is not valid base64"),
            "{error}"
        );
        assert!(matches!(
            decode_image("op", "f", "  ").unwrap_err(),
            Error::InvalidResponse { .. }
        ));
    }

    #[tokio::test]
    async fn colour_components_over_255_are_invalid_responses() {
        // The generated answer types hold `u8`s, so an out-of-range component fails to parse,
        // and the failure becomes an `InvalidResponse`, never a panic or a wrapped value.
        for body in [
            r#"{"paletteColorList": [[256, 0, 0]]}"#,
            r#"{"paletteColorList": [[-1, 0, 0]]}"#,
            r#"{"paletteColorList": [[1, 2]]}"#,
        ] {
            let parse =
                serde_json::from_str::<api::types::GenerateColorResponse>(body).unwrap_err();
            let call = Call {
                provider: PROVIDER,
                operation: "generate_color",
                safety: Safety::Charged,
            };
            let error = call
                .convert::<api::types::ErrorResponse>(api::Error::InvalidResponsePayload(
                    Bytes::from(body),
                    parse,
                ))
                .await;
            assert!(matches!(error, Error::InvalidResponse { .. }), "{error:?}");
        }
        let picture = r#"{"color0": [1,2,3], "color1": [1,2,3], "color2": [1,2,3], "color3": [1,2,3], "color4": [300,2,3]}"#;
        assert!(serde_json::from_str::<api::types::ColorFromPictureResponse>(picture).is_err());
    }

    #[test]
    fn error_bodies_give_the_message_and_no_code() {
        let body = api::types::ErrorResponse {
            code: 429,
            message: "Rate limit exceeded".into(),
        };
        assert_eq!(
            body.code_and_message(),
            (None, "Rate limit exceeded".to_string())
        );
    }

    #[tokio::test]
    async fn outputs_save_atomically() {
        let output = decode_image("op", "f", &STANDARD.encode(PNG)).unwrap();
        let dir = std::env::temp_dir().join(format!("pixmill-hotpot-{}", std::process::id()));
        tokio::fs::create_dir_all(&dir).await.unwrap();
        let path = dir.join("out.png");
        assert_eq!(output.save(&path).await.unwrap(), PNG.len() as u64);
        assert_eq!(tokio::fs::read(&path).await.unwrap(), PNG);
        assert!(!dir.join(".out.png.part").exists());
        let mut buffer = Vec::new();
        assert_eq!(
            output.write_to(&mut buffer).await.unwrap(),
            PNG.len() as u64
        );
        assert_eq!(buffer, PNG);
        tokio::fs::remove_dir_all(&dir).await.unwrap();
    }

    #[test]
    fn colours_convert_and_print_as_hex() {
        let colour = Rgb::from([255, 8, 0]);
        assert_eq!(colour, Rgb::new(255, 8, 0));
        assert_eq!(colour, Rgb::from((255, 8, 0)));
        assert_eq!(colour.to_string(), "#ff0800");
        assert_eq!(<[u8; 3]>::from(colour), [255, 8, 0]);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let client = Client::new("very-secret-key");
        assert!(!format!("{client:?}").contains("very-secret-key"));
        let builder = Client::builder().api_key("very-secret-key");
        assert!(!format!("{builder:?}").contains("very-secret-key"));
        let request = client.supersize(PNG.to_vec());
        assert!(!format!("{request:?}").contains("very-secret-key"));
    }
}
