//! Segmind: Hotshot-XL text-to-animation, one synchronous call answering with a GIF or MP4.
//!
//! ```no_run
//! # async fn demo() -> pixmill::Result<()> {
//! use pixmill::segmind::{AnimationFormat, Client, Dimension, Scheduler};
//!
//! let segmind = Client::from_env()?; // SEGMIND_API_KEY, and SEGMIND_BASE_URL when set
//! let animation = segmind
//!     .hotshot_xl("a dog running towards you with a smile, hd, high quality")
//!     .width(Dimension::Px672)
//!     .height(Dimension::Px384)
//!     .steps(30)
//!     .scheduler(Scheduler::EulerAncestralDiscreteScheduler)
//!     .format(AnimationFormat::Mp4)
//!     .send()
//!     .await?;
//! println!("credits left: {:?}", animation.remaining_credits());
//! animation.save("dog.mp4").await?;
//! # Ok(()) }
//! ```
//!
//! The answer is the file itself. [`Animation`] keeps it as a stream: [`Animation::save`]
//! and [`Animation::write_to`] copy it chunk by chunk without holding it in memory.
//!
//! # Retries
//!
//! Each generation spends credits, so it is retried only when Segmind certainly did not
//! process it (HTTP 429 or 503, or no connection). A failure after the request may have
//! reached Segmind is [`Error::OutcomeUnknown`] and is not re-sent.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pixmill_segmind_api as api;
use pixmill_spec::hooks::RequestHooks;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use secrecy::SecretString;
use tokio::io::AsyncWrite;

use crate::download::{atomically, copy_stream};
use crate::error::{Error, ErrorCode, Provider};
use crate::image::InputError;
use crate::retry::{Call, ErrorBody, Safety};
use crate::settings::{CommonBuilder, Settings, api_key_client, env, secret_header};

/// The diffusion sampler Hotshot-XL denoises with (default
/// `EulerAncestralDiscreteScheduler`).
pub use api::types::HotshotXlRequestScheduler as Scheduler;

/// Segmind's production server.
pub const DEFAULT_BASE_URL: &str = "https://api.segmind.com/v1";

/// Fewest denoising steps Hotshot-XL takes.
pub const MIN_STEPS: u32 = 1;

/// Most denoising steps Hotshot-XL takes.
pub const MAX_STEPS: u32 = 500;

const PROVIDER: Provider = Provider::Segmind;

const OPERATION: &str = "hotshot_xl";

api_key_client! {
    name: "Segmind",
    module: "segmind",
    key_var: "SEGMIND_API_KEY",
    base_url_var: "SEGMIND_BASE_URL",
    header: "x-api-key",
    header_doc: "x-api-key",
}

impl Client {
    /// Starts a Hotshot-XL generation from `prompt`. Configure it, then `send()`.
    ///
    /// Unset options take Segmind's documented defaults: 672×384, 30 steps,
    /// `EulerAncestralDiscreteScheduler`, negative prompt `blurry`, seed 6226, GIF.
    ///
    /// ```no_run
    /// # async fn demo(segmind: pixmill::segmind::Client) -> pixmill::Result<()> {
    /// let gif = segmind.hotshot_xl("a paper boat on a stormy sea").seed(42).send().await?;
    /// gif.save("boat.gif").await?;
    /// # Ok(()) }
    /// ```
    pub fn hotshot_xl(&self, prompt: impl Into<String>) -> HotshotXlRequest {
        HotshotXlRequest {
            client: self.clone(),
            prompt: prompt.into(),
            negative_prompt: None,
            width: None,
            height: None,
            steps: None,
            seed: None,
            scheduler: None,
            format: None,
        }
    }
}

impl ErrorBody for api::types::ErrorResponse {
    fn code_and_message(&self) -> (Option<ErrorCode>, String) {
        (None, self.error.clone())
    }
}

macro_rules! dimensions {
    ($($variant:ident = $px:literal),* $(,)?) => {
        /// A width or height Hotshot-XL accepts, in pixels.
        ///
        /// ```
        /// use pixmill::segmind::Dimension;
        ///
        /// assert_eq!(Dimension::Px672.pixels(), 672);
        /// assert_eq!(Dimension::try_from(704).unwrap(), Dimension::Px704);
        /// assert!(Dimension::try_from(700).is_err());
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Dimension {
            $(
                #[doc = concat!(stringify!($px), " pixels.")]
                $variant,
            )*
        }

        impl Dimension {
            /// Every accepted size, smallest first.
            pub const ALL: &'static [Dimension] = &[$(Dimension::$variant),*];

            /// The size in pixels.
            pub const fn pixels(self) -> u32 {
                match self {
                    $(Dimension::$variant => $px,)*
                }
            }
        }
    };
}

dimensions! {
    Px256 = 256,
    Px320 = 320,
    Px384 = 384,
    Px448 = 448,
    Px512 = 512,
    Px576 = 576,
    Px640 = 640,
    Px672 = 672,
    Px704 = 704,
    Px768 = 768,
    Px832 = 832,
    Px896 = 896,
    Px960 = 960,
    Px1024 = 1024,
}

impl Dimension {
    /// The documented default width.
    pub const DEFAULT_WIDTH: Dimension = Dimension::Px672;

    /// The documented default height.
    pub const DEFAULT_HEIGHT: Dimension = Dimension::Px384;

    fn nearest(pixels: u32) -> Dimension {
        Dimension::ALL
            .iter()
            .copied()
            .min_by_key(|d| d.pixels().abs_diff(pixels))
            .unwrap_or(Dimension::DEFAULT_WIDTH)
    }
}

impl TryFrom<u32> for Dimension {
    type Error = InputError;

    /// One of the accepted sizes; anything else is [`InputError::OutOfRange`], naming the
    /// nearest accepted size.
    fn try_from(pixels: u32) -> Result<Self, InputError> {
        Dimension::ALL
            .iter()
            .copied()
            .find(|d| d.pixels() == pixels)
            .ok_or_else(|| {
                let nearest = Dimension::nearest(pixels);
                InputError::OutOfRange {
                    field: "width/height",
                    expected: format!(
                        "one of {}",
                        Dimension::ALL
                            .iter()
                            .map(|d| d.pixels().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    actual: format!(
                        "{pixels} (off by {} from the nearest allowed size, {})",
                        nearest.pixels().abs_diff(pixels),
                        nearest.pixels()
                    ),
                }
            })
    }
}

impl From<Dimension> for u32 {
    fn from(dimension: Dimension) -> u32 {
        dimension.pixels()
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.pixels())
    }
}

/// The kind of file Hotshot-XL returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AnimationFormat {
    /// An animated GIF (`image/gif`, the default).
    #[default]
    Gif,
    /// An MP4 video (`video/mp4`).
    Mp4,
}

impl AnimationFormat {
    /// The MIME type.
    pub const fn mime(self) -> &'static str {
        match self {
            AnimationFormat::Gif => "image/gif",
            AnimationFormat::Mp4 => "video/mp4",
        }
    }

    /// The usual file extension.
    pub const fn extension(self) -> &'static str {
        match self {
            AnimationFormat::Gif => "gif",
            AnimationFormat::Mp4 => "mp4",
        }
    }

    /// The format a `Content-Type` value names (parameters and case are ignored).
    ///
    /// ```
    /// use pixmill::segmind::AnimationFormat;
    ///
    /// assert_eq!(AnimationFormat::from_mime("video/MP4; codecs=avc1"), Some(AnimationFormat::Mp4));
    /// assert_eq!(AnimationFormat::from_mime("image/jpeg"), None);
    /// ```
    pub fn from_mime(content_type: &str) -> Option<AnimationFormat> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        [AnimationFormat::Gif, AnimationFormat::Mp4]
            .into_iter()
            .find(|f| f.mime().eq_ignore_ascii_case(essence))
    }
}

impl fmt::Display for AnimationFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// A Hotshot-XL generation to configure and send. From [`Client::hotshot_xl`].
#[derive(Debug)]
#[must_use = "nothing is sent until `send()`"]
pub struct HotshotXlRequest {
    client: Client,
    prompt: String,
    negative_prompt: Option<String>,
    width: Option<Dimension>,
    height: Option<Dimension>,
    steps: Option<u32>,
    seed: Option<i64>,
    scheduler: Option<Scheduler>,
    format: Option<AnimationFormat>,
}

impl HotshotXlRequest {
    /// What the animation should avoid (default `blurry`; an empty string avoids nothing).
    pub fn negative_prompt(mut self, negative_prompt: impl Into<String>) -> Self {
        self.negative_prompt = Some(negative_prompt.into());
        self
    }

    /// Width in pixels (default [`Dimension::Px672`]).
    pub fn width(mut self, width: Dimension) -> Self {
        self.width = Some(width);
        self
    }

    /// Height in pixels (default [`Dimension::Px384`]).
    pub fn height(mut self, height: Dimension) -> Self {
        self.height = Some(height);
        self
    }

    /// Denoising steps, [`MIN_STEPS`] to [`MAX_STEPS`] (default 30); checked by `send()`.
    pub fn steps(mut self, steps: u32) -> Self {
        self.steps = Some(steps);
        self
    }

    /// The random seed; the same seed and settings reproduce the same animation. Without
    /// one, the documented default 6226 is sent, so repeated calls give the same result.
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The diffusion sampler (default [`Scheduler::EulerAncestralDiscreteScheduler`]).
    pub fn scheduler(mut self, scheduler: Scheduler) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// `true` for an MP4 video, `false` for a GIF (the default). Same as [`Self::format`].
    pub fn mp4(self, mp4: bool) -> Self {
        self.format(if mp4 {
            AnimationFormat::Mp4
        } else {
            AnimationFormat::Gif
        })
    }

    /// The file to generate (default [`AnimationFormat::Gif`]).
    pub fn format(mut self, format: AnimationFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// The JSON body, after checking every documented limit.
    fn body(&self) -> Result<api::types::HotshotXlRequest, InputError> {
        if self.prompt.trim().is_empty() {
            return Err(InputError::OutOfRange {
                field: "prompt",
                expected: "a non-empty text".into(),
                actual: if self.prompt.is_empty() {
                    "an empty string".into()
                } else {
                    "only whitespace".into()
                },
            });
        }
        let mut builder = api::types::HotshotXlRequest::builder().prompt(self.prompt.clone());
        if let Some(steps) = self.steps {
            if !(MIN_STEPS..=MAX_STEPS).contains(&steps) {
                let by = if steps < MIN_STEPS {
                    format!("{} below the minimum", MIN_STEPS - steps)
                } else {
                    format!("{} above the maximum", steps - MAX_STEPS)
                };
                return Err(InputError::OutOfRange {
                    field: "steps",
                    expected: format!("from {MIN_STEPS} to {MAX_STEPS}"),
                    actual: format!("{steps} ({by})"),
                });
            }
            builder = builder.steps(u64::from(steps));
        }
        if let Some(width) = self.width {
            builder = builder.width(i64::from(width.pixels()));
        }
        if let Some(height) = self.height {
            builder = builder.height(i64::from(height.pixels()));
        }
        if let Some(seed) = self.seed {
            builder = builder.seed(seed);
        }
        if let Some(scheduler) = self.scheduler {
            builder = builder.scheduler(scheduler);
        }
        if let Some(negative_prompt) = &self.negative_prompt {
            builder = builder.negative_prompt(negative_prompt.clone());
        }
        if let Some(format) = self.format {
            builder = builder.mp4(format == AnimationFormat::Mp4);
        }
        api::types::HotshotXlRequest::try_from(builder).map_err(|e| InputError::OutOfRange {
            field: "request",
            expected: "values Hotshot-XL accepts".into(),
            actual: e.to_string(),
        })
    }

    /// Checks the prompt and every option, then generates the animation. The call blocks
    /// until rendering is done; long renders may need a longer
    /// [`ClientBuilder::timeout`] than the default 120 s.
    ///
    /// Spends credits: retried only when Segmind certainly did not process it (429, 503, no
    /// connection). A 406 means the account is out of credits.
    pub async fn send(self) -> Result<Animation, Error> {
        let body = self.body()?;
        let client = &self.client;
        let response = Call {
            provider: PROVIDER,
            operation: OPERATION,
            safety: Safety::Charged,
        }
        .run(&client.inner.settings.retry, || {
            client.inner.api.hotshot_xl().body(body.clone()).send()
        })
        .await?;
        Ok(Animation::from_response(response))
    }
}

/// A generated animation, still streaming from Segmind.
///
/// The body is not buffered: consume it once with [`Animation::save`],
/// [`Animation::write_to`] or [`Animation::bytes`]. The generation was charged when the
/// answer arrived, so a failure while reading the body is [`Error::OutcomeUnknown`] (not
/// worth retrying blindly), never a retryable transport error.
pub struct Animation {
    headers: HeaderMap,
    format: Option<AnimationFormat>,
    body: api::ByteStream,
}

impl fmt::Debug for Animation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Animation")
            .field("format", &self.format)
            .field("content_length", &self.content_length())
            .field("remaining_credits", &self.remaining_credits())
            .field("request_id", &self.request_id())
            .finish_non_exhaustive()
    }
}

impl Animation {
    fn from_response(response: api::ResponseValue<api::ByteStream>) -> Animation {
        let headers = response.headers().clone();
        let format = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(AnimationFormat::from_mime);
        Animation {
            headers,
            format,
            body: response.into_inner(),
        }
    }

    /// The file's format, from the `Content-Type` of the answer (`image/gif` or
    /// `video/mp4`); `None` when that header is missing or names neither.
    pub fn format(&self) -> Option<AnimationFormat> {
        self.format
    }

    /// The `Content-Type` of the answer, as sent.
    pub fn content_type(&self) -> Option<&str> {
        self.header(CONTENT_TYPE.as_str())
    }

    /// The file size, when Segmind announced it.
    pub fn content_length(&self) -> Option<u64> {
        self.header(CONTENT_LENGTH.as_str())?.parse().ok()
    }

    /// Credits left on the account after this call (`x-remaining-credits`).
    pub fn remaining_credits(&self) -> Option<f64> {
        self.number("x-remaining-credits")
    }

    /// Credits this call consumed (`x-cost`).
    pub fn cost(&self) -> Option<f64> {
        self.number("x-cost")
    }

    /// Time the model spent generating (`x-generation-time`, in seconds).
    pub fn generation_time(&self) -> Option<Duration> {
        Duration::try_from_secs_f64(self.number("x-generation-time")?).ok()
    }

    /// The seed the generation used (`x-seed-value`); send it back to reproduce the result.
    pub fn seed(&self) -> Option<i64> {
        self.header("x-seed-value")?.parse().ok()
    }

    /// Segmind's id for this request (`x-request-id`), useful when contacting support.
    pub fn request_id(&self) -> Option<&str> {
        self.header("x-request-id")
    }

    /// Every response header.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Streams the file to `path` (through a temporary file renamed into place, so it is
    /// written in full or not at all); returns its size.
    pub async fn save(self, path: impl AsRef<Path>) -> Result<u64, Error> {
        let stream = self.body.into_inner();
        atomically(path.as_ref(), |mut file| async move {
            copy_stream(PROVIDER, stream, &mut file).await
        })
        .await
        .map_err(after_charge)
    }

    /// Streams the file into `writer`; returns its size.
    pub async fn write_to<W: AsyncWrite + Unpin + ?Sized>(
        self,
        writer: &mut W,
    ) -> Result<u64, Error> {
        copy_stream(PROVIDER, self.body.into_inner(), writer)
            .await
            .map_err(after_charge)
    }

    /// Reads the whole file into memory.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        // Pre-size from the announced length, within reason.
        let capacity = self.content_length().unwrap_or(0).min(64 << 20);
        let mut buffer = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        copy_stream(PROVIDER, self.body.into_inner(), &mut buffer)
            .await
            .map_err(after_charge)?;
        Ok(Bytes::from(buffer))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)?
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    fn number(&self, name: &str) -> Option<f64> {
        self.header(name)?
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
    }
}

/// A body that fails after a successful answer: the generation was charged.
fn after_charge(error: Error) -> Error {
    match error {
        Error::Transport { source, .. } => Error::OutcomeUnknown {
            provider: PROVIDER,
            operation: OPERATION,
            source,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client whose server does not exist: validation must fail before any request.
    fn offline() -> Client {
        Client::builder()
            .api_key("k")
            .base_url("http://127.0.0.1:9")
            .retry_policy(crate::RetryPolicy::none())
            .build()
            .unwrap()
    }

    fn animation(headers: &[(&'static str, &str)], chunks: Vec<&'static [u8]>) -> Animation {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        let stream =
            futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c))));
        let body = api::ByteStream::new(Box::pin(stream));
        Animation::from_response(api::ResponseValue::new(body, reqwest::StatusCode::OK, map))
    }

    #[test]
    fn dimensions_map_to_the_generated_type() {
        assert_eq!(Dimension::ALL.len(), 14);
        for dimension in Dimension::ALL {
            let px = i64::from(dimension.pixels());
            assert_eq!(
                *api::types::HotshotXlRequestWidth::try_from(px).unwrap(),
                px
            );
            assert_eq!(
                *api::types::HotshotXlRequestHeight::try_from(px).unwrap(),
                px
            );
            assert_eq!(Dimension::try_from(dimension.pixels()).unwrap(), *dimension);
        }
        assert_eq!(
            i64::from(api::types::HotshotXlRequestWidth::default()),
            i64::from(Dimension::DEFAULT_WIDTH.pixels())
        );
        assert_eq!(
            i64::from(api::types::HotshotXlRequestHeight::default()),
            i64::from(Dimension::DEFAULT_HEIGHT.pixels())
        );
        let message = Dimension::try_from(700).unwrap_err().to_string();
        assert_eq!(
            message,
            "width/height must be one of 256, 320, 384, 448, 512, 576, 640, 672, 704, 768, 832, \
             896, 960, 1024, got 700 (off by 4 from the nearest allowed size, 704)"
        );
        assert!(
            Dimension::try_from(5000)
                .unwrap_err()
                .to_string()
                .contains("nearest allowed size, 1024")
        );
    }

    #[test]
    fn options_reach_the_wire() {
        let request = offline()
            .hotshot_xl("a dog")
            .width(Dimension::Px512)
            .height(Dimension::Px1024)
            .steps(500)
            .seed(-7)
            .scheduler(Scheduler::KarrasDpm)
            .negative_prompt("")
            .mp4(true);
        let wire = serde_json::to_value(request.body().unwrap()).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({
                "height": 1024, "mp4": true, "negative_prompt": "", "prompt": "a dog",
                "scheduler": "KarrasDPM", "seed": -7, "steps": 500, "width": 512,
            })
        );
        let defaults = serde_json::to_value(offline().hotshot_xl("a dog").body().unwrap()).unwrap();
        assert_eq!(
            defaults,
            serde_json::json!({
                "height": 384, "mp4": false, "negative_prompt": "blurry", "prompt": "a dog",
                "scheduler": "EulerAncestralDiscreteScheduler", "seed": 6226, "steps": 30,
                "width": 672,
            })
        );
        let gif = offline()
            .hotshot_xl("a")
            .mp4(true)
            .format(AnimationFormat::Gif);
        assert!(!gif.body().unwrap().mp4);
    }

    #[test]
    fn steps_outside_the_range_are_refused() {
        let client = offline();
        assert_eq!(
            client
                .hotshot_xl("a")
                .steps(0)
                .body()
                .unwrap_err()
                .to_string(),
            "steps must be from 1 to 500, got 0 (1 below the minimum)"
        );
        assert_eq!(
            client
                .hotshot_xl("a")
                .steps(620)
                .body()
                .unwrap_err()
                .to_string(),
            "steps must be from 1 to 500, got 620 (120 above the maximum)"
        );
        assert!(client.hotshot_xl("a").steps(1).body().is_ok());
    }

    #[tokio::test]
    async fn empty_prompts_are_refused_before_sending() {
        let error = offline().hotshot_xl("").send().await.unwrap_err();
        assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            "prompt must be a non-empty text, got an empty string"
        );
        let error = offline().hotshot_xl("  \n").send().await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "prompt must be a non-empty text, got only whitespace"
        );
        let error = offline()
            .hotshot_xl("a")
            .steps(501)
            .send()
            .await
            .unwrap_err();
        assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    }

    #[test]
    fn formats_come_from_the_content_type() {
        assert_eq!(
            AnimationFormat::from_mime("image/gif"),
            Some(AnimationFormat::Gif)
        );
        assert_eq!(
            AnimationFormat::from_mime(" Video/Mp4 ;x=y"),
            Some(AnimationFormat::Mp4)
        );
        assert_eq!(AnimationFormat::from_mime("application/json"), None);
        assert_eq!(AnimationFormat::Mp4.to_string(), "mp4");
        assert_eq!(AnimationFormat::Gif.mime(), "image/gif");
        assert_eq!(animation(&[], vec![]).format(), None);
        assert_eq!(
            animation(&[("content-type", "video/mp4")], vec![]).format(),
            Some(AnimationFormat::Mp4)
        );
    }

    #[test]
    fn headers_are_read_without_trusting_them() {
        let good = animation(
            &[
                ("content-type", "image/gif"),
                ("x-remaining-credits", "97.5"),
                ("x-cost", "0.5"),
                ("x-generation-time", "12.250"),
                ("x-seed-value", "6226"),
                ("x-request-id", "req-1"),
            ],
            vec![],
        );
        assert_eq!(good.format(), Some(AnimationFormat::Gif));
        assert_eq!(good.remaining_credits(), Some(97.5));
        assert_eq!(good.cost(), Some(0.5));
        assert_eq!(good.generation_time(), Some(Duration::from_millis(12_250)));
        assert_eq!(good.seed(), Some(6226));
        assert_eq!(good.request_id(), Some("req-1"));
        assert_eq!(good.headers().len(), 6);

        let bad = animation(
            &[
                ("x-remaining-credits", "lots"),
                ("x-cost", "NaN"),
                ("x-generation-time", "-3"),
                ("x-seed-value", "1.5"),
                ("x-request-id", " "),
            ],
            vec![],
        );
        assert_eq!(bad.remaining_credits(), None);
        assert_eq!(bad.cost(), None);
        assert_eq!(bad.generation_time(), None);
        assert_eq!(bad.seed(), None);
        assert_eq!(bad.request_id(), None);
    }

    #[tokio::test]
    async fn bodies_stream_to_files_writers_and_bytes() {
        let chunks: Vec<&'static [u8]> = vec![b"GIF89a", b"frames", b";"];
        let bytes = animation(&[], chunks.clone()).bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), b"GIF89aframes;");

        let mut buffer = Vec::new();
        assert_eq!(
            animation(&[], chunks.clone())
                .write_to(&mut buffer)
                .await
                .unwrap(),
            13
        );
        assert_eq!(buffer, b"GIF89aframes;");

        let dir = std::env::temp_dir().join(format!("pixmill-segmind-{}", std::process::id()));
        tokio::fs::create_dir_all(&dir).await.unwrap();
        let path = dir.join("out.gif");
        assert_eq!(animation(&[], chunks).save(&path).await.unwrap(), 13);
        assert_eq!(tokio::fs::read(&path).await.unwrap(), b"GIF89aframes;");
        assert!(!dir.join(".out.gif.part").exists());
        tokio::fs::remove_dir_all(&dir).await.unwrap();
    }

    #[tokio::test]
    async fn a_body_failing_after_the_charge_is_outcome_unknown() {
        // A real `reqwest::Error`, from a port nothing listens on.
        let failure = reqwest::Client::new()
            .get("http://127.0.0.1:9/")
            .send()
            .await
            .unwrap_err();
        let stream = futures_util::stream::iter([Ok(Bytes::from_static(b"GIF89a")), Err(failure)]);
        let broken = Animation::from_response(api::ResponseValue::new(
            api::ByteStream::new(Box::pin(stream)),
            reqwest::StatusCode::OK,
            HeaderMap::new(),
        ));
        let dir =
            std::env::temp_dir().join(format!("pixmill-segmind-broken-{}", std::process::id()));
        tokio::fs::create_dir_all(&dir).await.unwrap();
        let path = dir.join("out.gif");
        let error = broken.save(&path).await.unwrap_err();
        assert!(
            matches!(
                &error,
                Error::OutcomeUnknown {
                    provider: Provider::Segmind,
                    operation: "hotshot_xl",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(!error.is_retryable());
        assert!(!path.exists());
        assert!(!dir.join(".out.gif.part").exists());
        tokio::fs::remove_dir_all(&dir).await.unwrap();
    }

    #[test]
    fn error_bodies_give_the_message() {
        let body = api::types::ErrorResponse {
            error: "Not enough credits".into(),
        };
        assert_eq!(
            body.code_and_message(),
            (None, "Not enough credits".to_string())
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let client = Client::new("very-secret-key");
        assert!(!format!("{client:?}").contains("very-secret-key"));
        let builder = Client::builder().api_key("very-secret-key");
        assert!(!format!("{builder:?}").contains("very-secret-key"));
        let request = client.hotshot_xl("a dog");
        assert!(!format!("{request:?}").contains("very-secret-key"));
        let animation = animation(&[("x-request-id", "r")], vec![]);
        assert!(format!("{animation:?}").contains("request_id"));
    }
}
