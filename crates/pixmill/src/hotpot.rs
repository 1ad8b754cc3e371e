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
//! limits; inputs are still checked to be recognisable images before sending. Results are
//! [`Output`]s held in memory.
//!
//! # Retries
//!
//! Each call spends a credit, so each is retried only when Hotpot certainly did not process
//! it (HTTP 429 or 503, or no connection). A failure after the request may have reached Hotpot,
//! or a 5xx answer, is [`Error::OutcomeUnknown`] and is not re-sent.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use pixmill_hotpot_api as api;

use crate::client::{BoxFuture, Core, KeyConfig, KeyedService, sealed};
use crate::error::{Error, ErrorCode, Provider, excerpt};
use crate::image::{ImageInput, InputError, Inspected, check_range};
use crate::output::Output;
use crate::retry::{ErrorBody, Safety};
use crate::splice::{self, RequestSplice, ResponseSplice, Sink, Source};
use crate::transport::Splices;

/// The kind of picture [`Client::supersize`] enlarges: `Default` for photos and most
/// graphics, `Anime` for anime-style art.
pub use api::types::SupersizeImageRequestImageStyle as ImageStyle;

/// The format of the strings given to [`Client::translate_file`].
pub use api::types::TranslateFileRequestType as FileType;

/// How much [`Client::supersize`] enlarges width and height.
pub use api::types::SizeFactor;

/// How much noise [`Client::supersize`] removes.
pub use api::types::NoiseCancellation;

/// The documented ranges and defaults of Hotpot's requests, one module per request type.
pub use api::constants as facts;

const PROVIDER: Provider = Provider::Hotpot;

/// Base64 as Hotpot answers it: standard alphabet, padding optional.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Hotpot as a [`KeyedService`]: its spec's server and auth header, its variables.
#[derive(Debug)]
pub struct Service;

impl sealed::Sealed for Service {}

impl KeyedService for Service {
    const PROVIDER: Provider = PROVIDER;
    const KEY_VAR: &'static str = "HOTPOT_API_KEY";
    const BASE_URL_VAR: &'static str = "HOTPOT_BASE_URL";
    const SERVER_URL: &'static str = api::service::SERVER_URL;
    const AUTH: pixmill_spec::AuthScheme = api::service::AUTH;
    type Client = Client;

    fn client(core: Core) -> Client {
        let api = api::Client::new_with_client(core.base_url(), core.http().clone(), core.hooks());
        Client {
            inner: Arc::new(Inner { core, api }),
        }
    }
}

/// Builds a Hotpot [`Client`] (see [`crate::ClientBuilder`]).
pub type ClientBuilder = crate::ClientBuilder<KeyConfig<Service>>;

/// A Hotpot client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    core: Core,
    api: api::Client,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.core.debug(f, "hotpot::Client")
    }
}

/// Builds a generated request type from its builder, turning a refused value into an input
/// error (an empty base64 field, a malformed language code).
macro_rules! body {
    ($operation:expr, $builder:expr) => {
        $builder
            .try_into()
            .map_err(|e: api::types::error::ConversionError| {
                Error::from(InputError::Request(format!("{}: {e}", $operation)))
            })
    };
}

impl Client {
    /// A client for the production API with default settings.
    pub fn new(api_key: impl Into<String>) -> Result<Client, Error> {
        Client::builder().api_key(api_key).build()
    }

    /// A client configured from `HOTPOT_API_KEY` and, when set, `HOTPOT_BASE_URL`.
    pub fn from_env() -> Result<Client, Error> {
        ClientBuilder::from_env()?.build()
    }

    /// A builder for every setting.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The generated client underneath, for raw access.
    pub fn api(&self) -> &api::Client {
        &self.inner.api
    }

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
            size_factor: SizeFactor::ALL[0],
            style: ImageStyle::Default,
            noise_cancellation: NoiseCancellation::ALL[0],
        }
    }

    /// Removes the background of `input` (a path or bytes). Await the call for the cut-out in
    /// memory, or [`PictureCall::save`] it straight to a file.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// let cutout = hotpot.remove_background("product.jpg").await?;
    /// println!("{} bytes", cutout.as_bytes().map_or(0, |b| b.len()));
    /// // Or without holding the picture in memory at all:
    /// hotpot.remove_background("product.jpg").save("product.png").await?;
    /// # Ok(()) }
    /// ```
    pub fn remove_background(&self, input: impl Into<ImageInput>) -> PictureCall {
        const OPERATION: &str = "remove_background";
        PictureCall::new(
            self,
            OPERATION,
            vec![input.into()],
            image_base64_field(),
            move |client, holders, splices| {
                Box::pin(async move {
                    let body: api::types::RemoveBackgroundRequest = body!(
                        OPERATION,
                        api::types::RemoveBackgroundRequest::builder()
                            .image_base64(holders[0].clone())
                    )?;
                    let answer = client
                        .run(OPERATION, splices, || {
                            client
                                .inner
                                .api
                                .remove_background()
                                .body(body.clone())
                                .send()
                        })
                        .await?;
                    Ok(answer.image_base64)
                })
            },
        )
    }

    /// Restores an old colour or black-and-white photo; `with_scratch` asks for scratches to
    /// be removed as well. Await it, or `save` it straight to a file.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// hotpot.restore_picture("grandparents.jpg", true).save("grandparents-restored.png").await?;
    /// # Ok(()) }
    /// ```
    pub fn restore_picture(&self, input: impl Into<ImageInput>, with_scratch: bool) -> PictureCall {
        const OPERATION: &str = "restore_picture";
        PictureCall::new(
            self,
            OPERATION,
            vec![input.into()],
            base64_image_field(),
            move |client, holders, splices| {
                Box::pin(async move {
                    let body: api::types::RestorePictureRequest = body!(
                        OPERATION,
                        api::types::RestorePictureRequest::builder()
                            .base64_image(holders[0].clone())
                            .with_scratch(with_scratch)
                    )?;
                    let answer = client
                        .run(OPERATION, splices, || {
                            client.inner.api.restore_picture().body(body.clone()).send()
                        })
                        .await?;
                    Ok(answer.base64_image)
                })
            },
        )
    }

    /// Colourises a black-and-white picture. `render_factor` (from
    /// [`facts::colorize_picture_request::RENDER_FACTOR_MINIMUM`] to
    /// [`facts::colorize_picture_request::RENDER_FACTOR_MAXIMUM`]) is DeOldify's render
    /// factor: low values are faster and suit old or poor photos, high values suit sharp ones.
    /// An out-of-range factor is refused before anything is sent.
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
    pub fn colorize_picture(
        &self,
        input: impl Into<ImageInput>,
        render_factor: u32,
    ) -> PictureCall {
        const OPERATION: &str = "colorize_picture";
        use api::constants::colorize_picture_request as range;
        let mut call = PictureCall::new(
            self,
            OPERATION,
            vec![input.into()],
            image_base64_field(),
            move |client, holders, splices| {
                Box::pin(async move {
                    let body: api::types::ColorizePictureRequest = body!(
                        OPERATION,
                        api::types::ColorizePictureRequest::builder()
                            .image_base64(holders[0].clone())
                            .render_factor(i64::from(render_factor))
                    )?;
                    let answer = client
                        .run(OPERATION, splices, || {
                            client
                                .inner
                                .api
                                .colorize_picture()
                                .body(body.clone())
                                .send()
                        })
                        .await?;
                    Ok(answer.image_base64)
                })
            },
        );
        call.refuse(check_range(
            "render_factor",
            range::RENDER_FACTOR_MINIMUM,
            range::RENDER_FACTOR_MAXIMUM,
            i64::from(render_factor),
        ));
        call
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
    pub fn remix_art<S: Into<ImageInput>>(
        &self,
        content: impl Into<ImageInput>,
        styles: impl IntoIterator<Item = S>,
        focus_content: bool,
    ) -> PictureCall {
        const OPERATION: &str = "remix_art";
        let mut pictures = vec![content.into()];
        pictures.extend(styles.into_iter().map(Into::into));
        let styles = pictures.len() - 1;
        let mut call = PictureCall::new(
            self,
            OPERATION,
            pictures,
            base64_image_field(),
            move |client, holders, splices| {
                Box::pin(async move {
                    let style_list = holders[1..]
                        .iter()
                        .map(|holder| holder.parse())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e: api::types::error::ConversionError| {
                            InputError::Request(format!("{OPERATION}: {e}"))
                        })?;
                    let body: api::types::RemixArtRequest = body!(
                        OPERATION,
                        api::types::RemixArtRequest::builder()
                            .base64_content_image(holders[0].clone())
                            .base64_style_image_list(style_list)
                            .focus_content(focus_content)
                    )?;
                    let answer = client
                        .run(OPERATION, splices, || {
                            client.inner.api.remix_art().body(body.clone()).send()
                        })
                        .await?;
                    Ok(answer.base64_image)
                })
            },
        );
        if styles < api::constants::remix_art_request::BASE64_STYLE_IMAGE_LIST_MIN_ITEMS {
            call.refuse(Err(InputError::Empty { field: "styles" }));
        }
        call
    }

    /// Blurs every face in `input`; with `blur_text` also text and similar sensitive content.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// hotpot.blur_face("street.jpg", true).save("street-redacted.png").await?;
    /// # Ok(()) }
    /// ```
    pub fn blur_face(&self, input: impl Into<ImageInput>, blur_text: bool) -> PictureCall {
        const OPERATION: &str = "blur_face";
        PictureCall::new(
            self,
            OPERATION,
            vec![input.into()],
            base64_image_field(),
            move |client, holders, splices| {
                Box::pin(async move {
                    let body: api::types::BlurFaceRequest = body!(
                        OPERATION,
                        api::types::BlurFaceRequest::builder()
                            .base64_image(holders[0].clone())
                            .should_blur_text(blur_text)
                    )?;
                    let answer = client
                        .run(OPERATION, splices, || {
                            client.inner.api.blur_face().body(body.clone()).send()
                        })
                        .await?;
                    Ok(answer.base64_image)
                })
            },
        )
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

    /// Generates a palette matching 1 to
    /// [`facts::generate_color_request::HINT_COLOR_LIST_MAX_ITEMS`] hint colours. Unused slots
    /// are filled with Hotpot's placeholder
    /// ([`facts::generate_color_request::HINT_COLOR_LIST_ITEMS_DEFAULT`]); no hints, or too
    /// many, are refused before anything is sent.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection). An empty palette is [`Error::InvalidResponse`].
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
            .run(OPERATION, None, || {
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

    /// The most dominant colours of `input`, most dominant first: up to five, as Hotpot
    /// reports them. The picture is streamed from its source into the request.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection). An answer with a component outside 0–255 is [`Error::InvalidResponse`].
    ///
    /// ```no_run
    /// # async fn demo(hotpot: pixmill::hotpot::Client) -> pixmill::Result<()> {
    /// let colours = hotpot.color_from_picture("logo.png").await?;
    /// println!("brand colour: {}", colours[0]);
    /// # Ok(()) }
    /// ```
    pub async fn color_from_picture(
        &self,
        input: impl Into<ImageInput>,
    ) -> Result<Vec<Rgb>, Error> {
        const OPERATION: &str = "color_from_picture";
        let source = picture_source(OPERATION, &input.into()).await?;
        let holder = splice::placeholder(0);
        let body: api::types::ColorFromPictureRequest = body!(
            OPERATION,
            api::types::ColorFromPictureRequest::builder().base64_image(Some(
                holder
                    .parse()
                    .map_err(|e: api::types::error::ConversionError| {
                        InputError::Request(format!("{OPERATION}: {e}"))
                    })?
            ))
        )?;
        let splices = Arc::new(Splices {
            request: Some(RequestSplice {
                parts: vec![(holder, source)],
            }),
            response: None,
        });
        let answer = self
            .run(OPERATION, Some(splices), || {
                self.inner
                    .api
                    .color_from_picture()
                    .body(body.clone())
                    .send()
            })
            .await?;
        Ok(std::iter::once(answer.color0)
            .chain(
                [answer.color1, answer.color2, answer.color3, answer.color4]
                    .into_iter()
                    .flatten(),
            )
            .map(Rgb::from)
            .collect())
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
        if text.len() < api::constants::translate_file_request::TEXT_MIN_ITEMS {
            return Err(InputError::Empty { field: "texts" }.into());
        }
        let count = text.len();
        let body: api::types::TranslateFileRequest = body!(
            OPERATION,
            api::types::TranslateFileRequest::builder()
                .source_lanaguage_code(source.into().trim().to_string())
                .target_language_code(target.into().trim().to_string())
                .text(text)
                .type_(file_type)
        )?;
        let answer = self
            .run(OPERATION, None, || {
                self.inner.api.translate_file().body(body.clone()).send()
            })
            .await?;
        if answer.translated_text.len() != count {
            return Err(invalid_response(
                OPERATION,
                &format!(
                    "{count} strings were sent but {} came back",
                    answer.translated_text.len()
                ),
                serde_json::to_string(&answer)
                    .unwrap_or_default()
                    .as_bytes(),
            ));
        }
        Ok(answer.translated_text)
    }

    /// Runs one credit-spending call, with its pictures streamed, and unwraps its answer.
    async fn run<T, F, Fut>(
        &self,
        operation: &'static str,
        splices: Option<Arc<Splices>>,
        send: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<api::ResponseValue<T>, api::Error<api::types::ErrorResponse>>>,
    {
        Ok(self
            .inner
            .core
            .call_spliced(operation, Safety::Charged, splices, send)
            .await?
            .into_inner())
    }
}

/// The wire name of the picture field of answers typed `ImageBase64Response`.
fn image_base64_field() -> String {
    wire_field(&api::types::ImageBase64Response {
        image_base64: splice::placeholder(0),
    })
}

/// The wire name of the picture field of answers typed `Base64ImageResponse`.
fn base64_image_field() -> String {
    wire_field(&api::types::Base64ImageResponse {
        base64_image: splice::placeholder(0),
    })
}

/// The key under which a generated answer type carries the placeholder: the spec's name for
/// the field, read off the generated type instead of written here.
fn wire_field<T: serde::Serialize>(probe: &T) -> String {
    let placeholder = serde_json::Value::from(splice::placeholder(0));
    serde_json::to_value(probe)
        .ok()
        .and_then(|value| {
            value
                .as_object()?
                .iter()
                .find(|(_, v)| **v == placeholder)
                .map(|(k, _)| k.clone())
        })
        .unwrap_or_default()
}

/// Sends a call given the placeholders of its pictures, returning the answer's picture field.
type Sender = Box<
    dyn FnOnce(
            Client,
            Vec<String>,
            Option<Arc<Splices>>,
        ) -> BoxFuture<'static, Result<String, Error>>
        + Send,
>;

/// A Hotpot call whose answer is a picture. Await it for the picture in memory, or
/// [`PictureCall::save`] it straight to a file.
///
/// Either way the pictures travel as streams: the inputs are base64-encoded from their source
/// (a file is read while the request is sent) and the answer's base64 is decoded as it arrives,
/// so no picture is ever held as base64 text. With `save`, the answer never sits in memory
/// either; it is written through a temporary file renamed into place, so the file is complete
/// or absent.
#[must_use = "nothing is sent until the call is awaited or saved"]
pub struct PictureCall {
    client: Client,
    operation: &'static str,
    pictures: Vec<ImageInput>,
    answer_field: String,
    refused: Option<InputError>,
    sender: Sender,
}

impl fmt::Debug for PictureCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PictureCall")
            .field("operation", &self.operation)
            .field("pictures", &self.pictures)
            .finish_non_exhaustive()
    }
}

impl PictureCall {
    fn new(
        client: &Client,
        operation: &'static str,
        pictures: Vec<ImageInput>,
        answer_field: String,
        sender: impl FnOnce(
            Client,
            Vec<String>,
            Option<Arc<Splices>>,
        ) -> BoxFuture<'static, Result<String, Error>>
        + Send
        + 'static,
    ) -> PictureCall {
        PictureCall {
            client: client.clone(),
            operation,
            pictures,
            answer_field,
            refused: None,
            sender: Box::new(sender),
        }
    }

    /// Refuses the call before anything is sent when `check` failed.
    fn refuse(&mut self, check: Result<(), InputError>) {
        if let Err(error) = check {
            self.refused.get_or_insert(error);
        }
    }

    /// Sends the call and writes the answer's picture to `path`; returns its size.
    pub async fn save(self, path: impl AsRef<Path>) -> Result<u64, Error> {
        let path = path.as_ref().to_path_buf();
        crate::output::atomically(&path, |file| async move {
            match self.execute(Sink::File(file)).await? {
                (Sink::File(file), written) => {
                    file.sync_all().await.map_err(|e| Error::io(None, e))?;
                    Ok(written)
                }
                (Sink::Memory(_), written) => Ok(written),
            }
        })
        .await
    }

    async fn execute(self, sink: Sink) -> Result<(Sink, u64), Error> {
        let PictureCall {
            client,
            operation,
            pictures,
            answer_field,
            refused,
            sender,
        } = self;
        if let Some(error) = refused {
            return Err(error.into());
        }
        // Check every picture before anything is sent.
        let mut parts = Vec::with_capacity(pictures.len());
        for (index, picture) in pictures.iter().enumerate() {
            parts.push((
                splice::placeholder(index),
                picture_source(operation, picture).await?,
            ));
        }
        let holders = parts.iter().map(|(holder, _)| holder.clone()).collect();
        let splices = Arc::new(Splices {
            request: Some(RequestSplice { parts }),
            response: Some(ResponseSplice::new(answer_field, sink)),
        });
        let value = sender(client, holders, Some(splices.clone())).await?;
        let (sink, written) = splices
            .response
            .as_ref()
            .map(ResponseSplice::take)
            .unwrap_or((None, 0));
        let mut sink =
            sink.ok_or_else(|| invalid_response(operation, "the answer was not read", &[]))?;
        if value != splice::placeholder(0) {
            // The picture was not where the spec puts it (a different shape of answer): decode
            // what the generated type read instead.
            let decoded = decode_image(operation, &value)?;
            let bytes = decoded.as_bytes().cloned().unwrap_or_default();
            return match &mut sink {
                Sink::Memory(buffer) => {
                    buffer.extend_from_slice(&bytes);
                    Ok((sink, bytes.len() as u64))
                }
                Sink::File(file) => {
                    tokio::io::AsyncWriteExt::write_all(file, &bytes)
                        .await
                        .map_err(|e| Error::io(None, e))?;
                    Ok((sink, bytes.len() as u64))
                }
            };
        }
        if written == 0 {
            return Err(invalid_response(
                operation,
                "the answer's picture is empty",
                &[],
            ));
        }
        Ok((sink, written))
    }
}

impl std::future::IntoFuture for PictureCall {
    type Output = Result<Output, Error>;
    type IntoFuture = BoxFuture<'static, Result<Output, Error>>;

    /// Sends the call and keeps the answer's picture in memory.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let operation = self.operation;
            match self.execute(Sink::Memory(Vec::new())).await? {
                (Sink::Memory(bytes), _) => Ok(Output::memory(PROVIDER, Bytes::from(bytes))),
                (Sink::File(_), _) => Err(invalid_response(
                    operation,
                    "the answer went to a file",
                    &[],
                )),
            }
        })
    }
}

/// Where a picture to send comes from, after checking it is a recognisable image: a file is
/// read only for its header here and streamed while the request is sent.
async fn picture_source(operation: &'static str, input: &ImageInput) -> Result<Source, Error> {
    if let Some(url) = input.url() {
        return Err(InputError::Unsupported(format!(
            "{operation}: Hotpot needs the picture itself (a path or bytes), not a URL ({url})"
        ))
        .into());
    }
    Ok(match input.inspect().await? {
        Inspected::Bytes(bytes) => Source::Bytes(bytes),
        Inspected::File(path, info) => Source::File {
            path,
            len: info.bytes,
        },
    })
}

impl ErrorBody for api::types::ErrorResponse {
    fn code_and_message(&self) -> (Option<ErrorCode>, String) {
        // `code` only repeats the HTTP status.
        (None, self.message.clone())
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
    /// How much to enlarge (default: the smallest factor).
    pub fn size_factor(mut self, factor: SizeFactor) -> Self {
        self.size_factor = factor;
        self
    }

    /// What kind of picture it is (default [`ImageStyle::Default`]).
    pub fn style(mut self, style: ImageStyle) -> Self {
        self.style = style;
        self
    }

    /// How much noise to remove (default: none, the first level).
    pub fn noise_cancellation(mut self, level: NoiseCancellation) -> Self {
        self.noise_cancellation = level;
        self
    }

    /// The call: await it for the enlarged picture in memory, or save it straight to a file
    /// ([`PictureCall::save`]).
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    pub fn send(self) -> PictureCall {
        const OPERATION: &str = "supersize_image";
        let SupersizeRequest {
            client,
            input,
            size_factor,
            style,
            noise_cancellation,
        } = self;
        PictureCall::new(
            &client,
            OPERATION,
            vec![input],
            image_base64_field(),
            move |client, holders, splices| {
                Box::pin(async move {
                    let body: api::types::SupersizeImageRequest = body!(
                        OPERATION,
                        api::types::SupersizeImageRequest::builder()
                            .size_factor(size_factor)
                            .image_style(style)
                            .noise_cancellation_factor(noise_cancellation)
                            .image_base64(holders[0].clone())
                    )?;
                    let answer = client
                        .run(OPERATION, splices, || {
                            client.inner.api.supersize_image().body(body.clone()).send()
                        })
                        .await?;
                    Ok(answer.image_base64)
                })
            },
        )
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

    /// The call: await it for the rendered graphic in memory, or save it straight to a file
    /// ([`PictureCall::save`]). The design id and every picture are checked first.
    ///
    /// Spends a credit: retried only when Hotpot certainly did not process it (429, 503, no
    /// connection).
    pub fn send(self) -> PictureCall {
        const OPERATION: &str = "create_graphic";
        let CreateGraphicRequest {
            client,
            design_id,
            texts,
            screenshots,
            images,
        } = self;
        let screenshot_count = screenshots.len();
        let mut pictures = screenshots;
        pictures.extend(images);
        PictureCall::new(
            &client,
            OPERATION,
            pictures,
            base64_image_field(),
            move |client, holders, splices| {
                Box::pin(async move {
                    let refused = |e: api::types::error::ConversionError| {
                        Error::from(InputError::Request(format!("{OPERATION}: {e}")))
                    };
                    let screenshot_list = holders[..screenshot_count]
                        .iter()
                        .map(|h| h.parse().map_err(refused))
                        .collect::<Result<Vec<_>, _>>()?;
                    let image_list = holders[screenshot_count..]
                        .iter()
                        .map(|h| h.parse().map_err(refused))
                        .collect::<Result<Vec<_>, _>>()?;
                    let body: api::types::CreateGraphicRequest = body!(
                        OPERATION,
                        api::types::CreateGraphicRequest::builder()
                            .design_id(design_id.trim().to_string())
                            .text_list(texts)
                            .screenshot_list(screenshot_list)
                            .image_list(image_list)
                    )?;
                    let answer = client
                        .run(OPERATION, splices, || {
                            client.inner.api.create_graphic().body(body.clone()).send()
                        })
                        .await?;
                    Ok(answer.base64_image)
                })
            },
        )
    }
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

/// The hint list Hotpot expects: the hints first, then the documented placeholder.
fn hint_list(
    hints: &[Rgb],
) -> Result<[[i64; 3]; facts::generate_color_request::HINT_COLOR_LIST_MAX_ITEMS], InputError> {
    use facts::generate_color_request::{HINT_COLOR_LIST_ITEMS_DEFAULT, HINT_COLOR_LIST_MAX_ITEMS};
    if hints.is_empty() {
        return Err(InputError::Empty { field: "hints" });
    }
    if hints.len() > HINT_COLOR_LIST_MAX_ITEMS {
        return Err(InputError::OutOfRange {
            field: "hints",
            expected: format!("1 to {HINT_COLOR_LIST_MAX_ITEMS} colours"),
            actual: format!(
                "{} ({} more than the maximum)",
                hints.len(),
                hints.len() - HINT_COLOR_LIST_MAX_ITEMS
            ),
        });
    }
    let placeholder: [i64; 3] = HINT_COLOR_LIST_ITEMS_DEFAULT
        .try_into()
        .map_err(|_| InputError::Request("the spec's hint placeholder is not a colour".into()))?;
    let mut list = [placeholder; HINT_COLOR_LIST_MAX_ITEMS];
    for (slot, hint) in list.iter_mut().zip(hints) {
        *slot = hint.to_array().map(i64::from);
    }
    Ok(list)
}

/// Decodes a base64 picture from an answer.
fn decode_image(operation: &'static str, text: &str) -> Result<Output, Error> {
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
            &format!("the picture is not valid base64 ({e})"),
            text.as_bytes(),
        )
    })?;
    if bytes.is_empty() {
        return Err(invalid_response(
            operation,
            "the picture is empty",
            text.as_bytes(),
        ));
    }
    Ok(Output::memory(PROVIDER, Bytes::from(bytes)))
}

/// [`decode_image`] for the property tests.
#[cfg(test)]
pub(crate) fn decode_picture_for_fuzz(text: &str) -> Result<Output, Error> {
    decode_image("fuzz", text)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageFormat;
    use base64::engine::general_purpose::STANDARD;

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

    fn invalid_input(error: Error) -> String {
        assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
        error.to_string()
    }

    #[test]
    fn hints_are_padded_with_the_documented_placeholder() {
        use facts::generate_color_request::{
            HINT_COLOR_LIST_ITEMS_DEFAULT, HINT_COLOR_LIST_MAX_ITEMS,
        };
        let list = hint_list(&[Rgb::new(88, 88, 88)]).unwrap();
        assert_eq!(list[0], [88, 88, 88]);
        for slot in &list[1..] {
            assert_eq!(slot.as_slice(), HINT_COLOR_LIST_ITEMS_DEFAULT);
        }
        let full = vec![Rgb::new(1, 2, 3); HINT_COLOR_LIST_MAX_ITEMS];
        assert!(hint_list(&full).unwrap().iter().all(|c| *c == [1, 2, 3]));
        assert_eq!(
            hint_list(&[]).unwrap_err().to_string(),
            "hints must not be empty"
        );
        let too_many = vec![Rgb::default(); HINT_COLOR_LIST_MAX_ITEMS + 2];
        assert!(
            hint_list(&too_many)
                .unwrap_err()
                .to_string()
                .contains("2 more than the maximum")
        );
    }

    #[test]
    fn request_enums_are_the_generated_ones() {
        assert_eq!(ImageStyle::Anime.to_string(), "anime");
        assert_eq!(
            FileType::LocalizableStrings.to_string(),
            "localizable.strings"
        );
        let largest = *SizeFactor::ALL.last().unwrap();
        let wire = serde_json::to_value(largest).unwrap();
        assert_eq!(wire, largest.value());
        assert!(
            SizeFactor::try_from(3).is_err(),
            "3 is not a documented factor"
        );
    }

    #[tokio::test]
    async fn render_factor_is_checked_before_sending() {
        let above = facts::colorize_picture_request::RENDER_FACTOR_MAXIMUM as u32 + 1;
        let error = offline()
            .colorize_picture(PNG.to_vec(), above)
            .await
            .unwrap_err();
        assert!(invalid_input(error).contains("1 above the maximum"));
    }

    #[tokio::test]
    async fn urls_empty_strings_and_non_images_are_refused_before_sending() {
        let client = offline();
        let error = client
            .remove_background("https://example.com/a.png")
            .await
            .unwrap_err();
        assert!(invalid_input(error).contains("not a URL"));
        let error = client
            .blur_face(b"hello".to_vec(), false)
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidInput(InputError::NotAnImage)),
            "{error:?}"
        );
        let error = client
            .remix_art(PNG.to_vec(), Vec::<ImageInput>::new(), true)
            .await
            .unwrap_err();
        assert_eq!(invalid_input(error), "styles must not be empty");
        let error = client
            .translate_file(Vec::<String>::new(), FileType::Json, "en", "fr")
            .await
            .unwrap_err();
        assert_eq!(invalid_input(error), "texts must not be empty");
        // The spec's pattern and minLength reach the generated types.
        let error = client
            .translate_file(["Hi"], FileType::Json, "en", "f r")
            .await
            .unwrap_err();
        assert!(invalid_input(error).contains("target_language_code"));
        let error = client
            .translate_file(["Hi"], FileType::Json, "", "fr")
            .await
            .unwrap_err();
        assert!(invalid_input(error).contains("source_lanaguage_code"));
        let error = client
            .create_graphic(" ")
            .text("x")
            .send()
            .await
            .unwrap_err();
        assert!(invalid_input(error).contains("design_id"));
    }

    #[test]
    fn answers_are_decoded_and_their_format_detected() {
        let text = STANDARD.encode(PNG);
        let output = decode_image("op", &text).unwrap();
        assert_eq!(output.format(), Some(ImageFormat::Png));
        assert_eq!(output.as_bytes().unwrap().as_ref(), PNG);
        assert_eq!(
            output.info().map(|i| (i.width, i.height)),
            Some((4000, 2000))
        );
        let unpadded = text.trim_end_matches('=');
        assert_eq!(
            decode_image("op", unpadded)
                .unwrap()
                .as_bytes()
                .unwrap()
                .as_ref(),
            PNG
        );
        let data_url = format!("data:image/png;base64,{text}");
        assert_eq!(
            decode_image("op", &data_url)
                .unwrap()
                .as_bytes()
                .unwrap()
                .as_ref(),
            PNG
        );
        let wrapped = format!("{}\n{}", &text[..10], &text[10..]);
        assert_eq!(
            decode_image("op", &wrapped)
                .unwrap()
                .as_bytes()
                .unwrap()
                .as_ref(),
            PNG
        );
        assert_eq!(
            decode_image("op", &STANDARD.encode(b"plain"))
                .unwrap()
                .format(),
            None
        );
    }

    #[test]
    fn unreadable_answers_are_invalid_responses() {
        let error = decode_image("remove_background", "not base64!").unwrap_err();
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
                .contains("the picture is not valid base64"),
            "{error}"
        );
        assert!(matches!(
            decode_image("op", "  ").unwrap_err(),
            Error::InvalidResponse { .. }
        ));
    }

    #[test]
    fn colour_components_over_255_do_not_parse() {
        for body in [
            r#"{"paletteColorList": [[256, 0, 0]]}"#,
            r#"{"paletteColorList": [[-1, 0, 0]]}"#,
            r#"{"paletteColorList": [[1, 2]]}"#,
        ] {
            assert!(
                serde_json::from_str::<api::types::GenerateColorResponse>(body).is_err(),
                "{body}"
            );
        }
        let picture = r#"{"color0": [1,2,3], "color4": [300,2,3]}"#;
        assert!(serde_json::from_str::<api::types::ColorFromPictureResponse>(picture).is_err());
        let fewer = r#"{"color0": [1,2,3]}"#;
        assert!(serde_json::from_str::<api::types::ColorFromPictureResponse>(fewer).is_ok());
    }

    #[tokio::test]
    async fn outputs_save_atomically() {
        let output = decode_image("op", &STANDARD.encode(PNG)).unwrap();
        let dir = tempfile_dir();
        let path = dir.join("out.png");
        assert_eq!(output.save(&path).await.unwrap(), PNG.len() as u64);
        assert_eq!(tokio::fs::read(&path).await.unwrap(), PNG);
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
        let mut buffer = Vec::new();
        assert_eq!(
            output.write_to(&mut buffer).await.unwrap(),
            PNG.len() as u64
        );
        assert_eq!(buffer, PNG);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pixmill-hotpot-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn debug_never_shows_the_key() {
        let client = Client::new("very-secret-key").unwrap();
        assert!(!format!("{client:?}").contains("very-secret-key"));
        let builder = Client::builder().api_key("very-secret-key");
        assert!(!format!("{builder:?}").contains("very-secret-key"));
        let request = client.supersize(PNG.to_vec());
        assert!(!format!("{request:?}").contains("very-secret-key"));
    }
}
