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
//! reached Segmind, or a 5xx answer, is [`Error::OutcomeUnknown`] and is not re-sent.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pixmill_segmind_api as api;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use tokio::io::AsyncWrite;

use crate::client::{Core, KeyConfig, KeyedService, sealed};
use crate::error::{Error, ErrorCode, Provider};
use crate::image::{InputError, check_range};
use crate::output::Output;
use crate::retry::{ErrorBody, Safety};

/// A width or height Hotshot-XL renders.
pub use api::types::Dimension;
/// The diffusion sampler Hotshot-XL denoises with.
pub use api::types::HotshotXlRequestScheduler as Scheduler;

/// The documented ranges and defaults of a generation (`STEPS_MINIMUM`, `WIDTH_DEFAULT`, ...).
pub use api::constants::hotshot_xl_request as facts;

const PROVIDER: Provider = Provider::Segmind;

const OPERATION: &str = "hotshot_xl";

/// Segmind as a [`KeyedService`]: its spec's server and auth header, its variables.
#[derive(Debug)]
pub struct Service;

impl sealed::Sealed for Service {}

impl KeyedService for Service {
    const PROVIDER: Provider = PROVIDER;
    const KEY_VAR: &'static str = "SEGMIND_API_KEY";
    const BASE_URL_VAR: &'static str = "SEGMIND_BASE_URL";
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

/// Builds a Segmind [`Client`] (see [`crate::ClientBuilder`]).
pub type ClientBuilder = crate::ClientBuilder<KeyConfig<Service>>;

/// A Segmind client. Cheap to clone; clones share one connection pool.
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
        self.inner.core.debug(f, "segmind::Client")
    }
}

impl Client {
    /// A client for the production API with default settings.
    pub fn new(api_key: impl Into<String>) -> Result<Client, Error> {
        Client::builder().api_key(api_key).build()
    }

    /// A client configured from `SEGMIND_API_KEY` and, when set, `SEGMIND_BASE_URL`.
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

    /// Starts a Hotshot-XL generation from `prompt`. Configure it, then `send()`.
    ///
    /// Unset options are left out of the request, so Segmind applies its documented defaults
    /// ([`facts`]); without [`HotshotXlRequest::seed`] the seed is random.
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

/// The kind of file Hotshot-XL returns: the spec's `mp4` flag, named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AnimationFormat {
    /// An animated GIF (the default).
    #[default]
    Gif,
    /// An MP4 video.
    Mp4,
}

impl AnimationFormat {
    /// The MIME type, one of the operation's documented answer types.
    pub fn mime(self) -> &'static str {
        let subtype = self.extension();
        api::service::hotshot_xl::RESPONSE_MEDIA_TYPES
            .iter()
            .copied()
            .find(|media| media.ends_with(subtype))
            .unwrap_or(subtype)
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
    /// What the animation should avoid (default [`facts::NEGATIVE_PROMPT_DEFAULT`]; an empty
    /// string avoids nothing).
    pub fn negative_prompt(mut self, negative_prompt: impl Into<String>) -> Self {
        self.negative_prompt = Some(negative_prompt.into());
        self
    }

    /// Width (default [`facts::WIDTH_DEFAULT`]).
    pub fn width(mut self, width: Dimension) -> Self {
        self.width = Some(width);
        self
    }

    /// Height (default [`facts::HEIGHT_DEFAULT`]).
    pub fn height(mut self, height: Dimension) -> Self {
        self.height = Some(height);
        self
    }

    /// Denoising steps, [`facts::STEPS_MINIMUM`] to [`facts::STEPS_MAXIMUM`] (default
    /// [`facts::STEPS_DEFAULT`]); checked by `send()`.
    pub fn steps(mut self, steps: u32) -> Self {
        self.steps = Some(steps);
        self
    }

    /// The random seed; the same seed and settings reproduce the same animation. Without
    /// one, the request carries no seed and Segmind picks a random one (reported by
    /// [`Animation::seed`]).
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The diffusion sampler (default [`facts::SCHEDULER_DEFAULT`]).
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

    /// The body, after checking every documented limit. Unset options take the spec's
    /// defaults, except the seed, which is sent only when one was set.
    pub(crate) fn body(&self) -> Result<api::types::HotshotXlRequest, InputError> {
        if self.prompt.trim().is_empty() {
            return Err(InputError::Empty { field: "prompt" });
        }
        let mut builder = api::types::HotshotXlRequest::builder().prompt(self.prompt.clone());
        if let Some(steps) = self.steps {
            check_range(
                "steps",
                facts::STEPS_MINIMUM,
                facts::STEPS_MAXIMUM,
                i64::from(steps),
            )?;
            builder = builder.steps(u64::from(steps));
        }
        if let Some(width) = self.width {
            builder = builder.width(width);
        }
        if let Some(height) = self.height {
            builder = builder.height(height);
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
        api::types::HotshotXlRequest::try_from(builder)
            .map_err(|e| InputError::Request(format!("{OPERATION}: {e}")))
    }

    /// Checks the prompt and every option, then generates the animation. The call blocks
    /// until rendering is done; long renders may need a longer
    /// [`crate::ClientBuilder::timeout`] than the default 120 s.
    ///
    /// Spends credits: retried only when Segmind certainly did not process it (429, 503, no
    /// connection). A 406 means the account is out of credits.
    pub async fn send(self) -> Result<Animation, Error> {
        let body = self.body()?;
        let client = &self.client;
        let response = client
            .inner
            .core
            .call(OPERATION, Safety::Charged, || {
                client.inner.api.hotshot_xl().body(body.clone()).send()
            })
            .await?;
        Ok(Animation::from_response(response))
    }
}

/// A generated animation, still streaming from Segmind, with what the answer's headers say.
///
/// The body is not buffered: read it once with [`Animation::save`], [`Animation::write_to`] or
/// [`Animation::bytes`] (the same verbs as every [`Output`]). The generation was charged when
/// the answer arrived, so a failure while reading the body is [`Error::OutcomeUnknown`].
pub struct Animation {
    headers: HeaderMap,
    format: Option<AnimationFormat>,
    output: Output,
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
        let size = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let output = Output::stream(PROVIDER, response.into_inner().into_inner(), size);
        Animation {
            headers,
            format,
            output,
        }
    }

    /// The file's format, from the `Content-Type` of the answer; `None` when that header is
    /// missing or names neither documented type.
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

    /// The file as an [`Output`] (readable once).
    pub fn into_output(self) -> Output {
        self.output
    }

    /// Streams the file to `path`, written in full or not at all; returns its size.
    pub async fn save(&self, path: impl AsRef<Path>) -> Result<u64, Error> {
        self.output.save(path).await
    }

    /// Streams the file into `writer`; returns its size.
    pub async fn write_to<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        writer: &mut W,
    ) -> Result<u64, Error> {
        self.output.write_to(writer).await
    }

    /// Reads the whole file into memory.
    pub async fn bytes(&self) -> Result<Bytes, Error> {
        self.output.bytes().await
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
    fn only_chosen_options_reach_the_wire() {
        let client = offline();
        let bare = serde_json::to_value(client.hotshot_xl("a cat").body().unwrap()).unwrap();
        assert!(
            bare.get("seed").is_none(),
            "no seed unless one is set: {bare}"
        );
        assert_eq!(bare["width"], facts::WIDTH_DEFAULT.value());
        let largest = *Dimension::ALL.last().unwrap();
        let full = client
            .hotshot_xl("a cat")
            .width(largest)
            .height(Dimension::ALL[0])
            .steps(facts::STEPS_MAXIMUM as u32)
            .seed(-3)
            .scheduler(Scheduler::KarrasDpm)
            .negative_prompt("")
            .format(AnimationFormat::Mp4)
            .body()
            .map(|b| serde_json::to_value(b).unwrap())
            .unwrap();
        assert_eq!(full["width"], largest.value());
        assert_eq!(full["height"], Dimension::ALL[0].value());
        assert_eq!(full["steps"], facts::STEPS_MAXIMUM);
        assert_eq!(full["seed"], -3);
        assert_eq!(full["scheduler"], "KarrasDPM");
        assert_eq!(full["negative_prompt"], "");
        assert_eq!(full["mp4"], true);
    }

    #[test]
    fn steps_outside_the_range_are_refused() {
        let above = (facts::STEPS_MAXIMUM + 1) as u32;
        let error = offline().hotshot_xl("x").steps(above).body().unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "steps must be from {} to {}, got {above} (1 above the maximum)",
                facts::STEPS_MINIMUM,
                facts::STEPS_MAXIMUM
            )
        );
        let below = (facts::STEPS_MINIMUM - 1) as u32;
        assert!(offline().hotshot_xl("x").steps(below).body().is_err());
    }

    #[tokio::test]
    async fn empty_prompts_are_refused_before_sending() {
        for prompt in ["", "   "] {
            let error = offline().hotshot_xl(prompt).send().await.unwrap_err();
            assert!(
                matches!(
                    error,
                    Error::InvalidInput(InputError::Empty { field: "prompt" })
                ),
                "{error:?}"
            );
        }
    }

    #[test]
    fn formats_are_documented_answer_types() {
        for format in [AnimationFormat::Gif, AnimationFormat::Mp4] {
            assert!(api::service::hotshot_xl::RESPONSE_MEDIA_TYPES.contains(&format.mime()));
            assert_eq!(AnimationFormat::from_mime(format.mime()), Some(format));
        }
    }

    #[test]
    fn headers_are_read_without_trusting_them() {
        let good = animation(
            &[
                ("content-type", "video/mp4"),
                ("x-remaining-credits", "12.5"),
                ("x-cost", "0.25"),
                ("x-generation-time", "3.5"),
                ("x-seed-value", "42"),
                ("x-request-id", "req-1"),
            ],
            vec![],
        );
        assert_eq!(good.format(), Some(AnimationFormat::Mp4));
        assert_eq!(good.remaining_credits(), Some(12.5));
        assert_eq!(good.cost(), Some(0.25));
        assert_eq!(good.generation_time(), Some(Duration::from_millis(3500)));
        assert_eq!(good.seed(), Some(42));
        assert_eq!(good.request_id(), Some("req-1"));
        let bad = animation(
            &[
                ("x-remaining-credits", "NaN"),
                ("x-generation-time", "-1"),
                ("x-seed-value", "x"),
            ],
            vec![],
        );
        assert_eq!(bad.remaining_credits(), None);
        assert_eq!(bad.generation_time(), None);
        assert_eq!(bad.seed(), None);
    }

    #[tokio::test]
    async fn bodies_stream_once_to_files_writers_or_bytes() {
        let gif = animation(&[("content-type", "image/gif")], vec![b"GIF8", b"9a"]);
        assert_eq!(gif.bytes().await.unwrap().as_ref(), b"GIF89a");
        let again = gif.bytes().await.unwrap_err();
        assert!(matches!(again, Error::MissingResult { .. }), "{again:?}");
        let mut buffer = Vec::new();
        let written = animation(&[], vec![b"abc"])
            .write_to(&mut buffer)
            .await
            .unwrap();
        assert_eq!((written, buffer.as_slice()), (3, b"abc".as_slice()));
    }

    #[tokio::test]
    async fn a_body_failing_after_the_charge_is_outcome_unknown() {
        let failing = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"GIF8")),
            Err(offline_error().await),
        ]);
        let body = api::ByteStream::new(Box::pin(failing));
        let animation = Animation::from_response(api::ResponseValue::new(
            body,
            reqwest::StatusCode::OK,
            HeaderMap::new(),
        ));
        let error = animation.bytes().await.unwrap_err();
        assert!(matches!(error, Error::OutcomeUnknown { .. }), "{error:?}");
        assert!(!error.is_retryable());
    }

    async fn offline_error() -> reqwest::Error {
        reqwest::get("http://127.0.0.1:9/").await.unwrap_err()
    }

    #[test]
    fn debug_never_shows_the_key() {
        let client = Client::new("very-secret-key").unwrap();
        assert!(!format!("{client:?}").contains("very-secret-key"));
        let request = client.hotshot_xl("x");
        assert!(!format!("{request:?}").contains("very-secret-key"));
    }
}
