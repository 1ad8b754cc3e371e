//! Perfect Corp's current API, V2 ("YouCam AI API V2"): an API key as bearer token, one file
//! API with presigned uploads or public URLs as inputs, async tasks and template catalogues.
//!
//! ```no_run
//! # async fn demo() -> pixmill::Result<()> {
//! use futures_util::TryStreamExt as _;
//! use pixmill::perfect::v2::{Client, Feature, Scale};
//!
//! let client = Client::from_env()?; // PERFECT_API_KEY[, PERFECT_BASE_URL]
//! let output = client.enhance("portrait.jpg", Scale::X2).send().await?.wait().await?;
//! output.result().save("portrait-2x.jpg").await?;
//!
//! // A result's URL feeds the next task, without downloading or uploading it again.
//! let cutout = client.background_removal(output.first()).send().await?.wait().await?;
//! cutout.result().save("cutout.png").await?;
//!
//! let templates: Vec<_> = client.templates(Feature::HairStyle).try_collect().await?;
//! if let Some(template) = templates.first() {
//!     let styled = client.hair_style("portrait.jpg", &template.id).send().await?.wait().await?;
//!     styled.result().save("styled.jpg").await?;
//! }
//! # Ok(()) }
//! ```
//!
//! The older API (a client id and an RSA secret) is [`crate::perfect::Client`]; both share
//! `PERFECT_BASE_URL`, since both live on the same server.
//!
//! # What the client takes care of
//!
//! - **Auth.** The key from the provider's console is sent as it is, as the spec's bearer
//!   scheme says; there is no token to exchange or refresh. A bad, deactivated or expired key
//!   is an [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) error with its
//!   [`ErrorCode`].
//! - **Inputs.** A path or bytes is checked against the feature's documented limits (the spec's
//!   `x-limits`), then registered with the file API and uploaded to the presigned URL it returns,
//!   with exactly the returned headers. A URL ([`Input::Url`], or an [`ImageInput`] made with
//!   [`ImageInput::from_url`]) is passed to Perfect as it is, without uploading anything; so is
//!   a file id from an earlier upload ([`Input::File`]) and a result of an earlier task
//!   ([`ResultFile`], by its URL).
//! - **Polling.** [`Task::wait`] polls until the task succeeds or fails (see [`poll_gap`]).
//! - **Errors.** An engine failure is [`Error::JobFailed`] with an
//!   [`ErrorCode::PerfectV2Engine`](crate::ErrorCode::PerfectV2Engine) code; codes the spec
//!   does not list are kept as [`EngineErrorCode::Unknown`].
//!
//! # Retries and charges
//!
//! A run task spends units, and V2 offers no idempotency key (the older API's `request_id` is
//! gone): a run task is retried only when it certainly did not reach Perfect (a refused
//! connection, 429, 503). A connection that breaks after sending, or another 5xx answer, is
//! [`Error::OutcomeUnknown`]; check the account before starting the task again. Uploads,
//! status polls, template pages and task deletion spend nothing and are retried on 429, 5xx and
//! connection failures.
//!
//! # Rate limits, retention and prices
//!
//! The V2 documents give no rate limit numbers, only a 429 answer to run tasks that come too
//! often; this client keeps no budget of its own and honours the 429's `Retry-After`. A task
//! can be queried for 24 hours after it started, and result URLs work for 2 hours: save the
//! results (or feed them to the next task) soon. [`Task::delete`] removes a finished task with
//! its input and output files. The documented price of each feature, in units per result, is
//! in [`Feature::facts`] (`costs`); a task that ends in error costs nothing.
//!
//! # Features
//!
//! What each feature takes (file slots, settings) and offers (a template catalogue) is the
//! spec's feature table ([`Feature::facts`]); one method per feature starts a task, and the
//! optional settings of [`TaskRequest`] are checked against that table.

mod task;

use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use pixmill_perfect_v2_api as api;
use pixmill_spec::features::{Catalogue, FeatureFacts, FileSlot};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

use crate::client::{Core, KeyConfig, KeyedService, sealed};
use crate::error::{Error, ErrorCode as AnyCode, Provider};
use crate::image::{ImageInput, InputError, Loaded};
use crate::retry::{ErrorBody, Safety};

pub use api::features::Feature;
pub use api::types::{
    EngineErrorCode, EnhanceScale as Scale, ErrorCode, HairColor, Template,
    YoucamTextToImageSize as ImageSize,
};
pub use task::{AgingInfo, ResultFile, ResultRecord, Task, TaskOutput, TaskSnapshot, TaskStatus};

const PROVIDER: Provider = Provider::PerfectV2;

/// The first poll of [`Task::wait`] when the spec states no cadence (V2's documents state
/// none). A choice of this client, not a documented number.
const FIRST_POLL: Duration = Duration::from_secs(1);

/// The longest time between two polls when the spec states no polling window. The V2
/// documents warn that an unpolled task expires but give no length; this stays well inside the
/// older API's documented 10 seconds. A choice of this client, not a documented number.
const DEFAULT_POLL_GAP: Duration = Duration::from_secs(5);

/// The shortest wait a `polling_interval` in an answer can ask for, so a zero or a value in
/// another unit than milliseconds cannot turn polling into a flood.
const SHORTEST_HINT: Duration = Duration::from_millis(100);

/// How long Perfect keeps a task nobody polls, when the spec states it: the shortest
/// `lost_after` of any feature's `x-polling`. The V2 documents state none, so this is `None`
/// until the spec learns one.
pub fn task_loss_window() -> Option<Duration> {
    Feature::ALL
        .iter()
        .flat_map(|feature| feature.facts().polling)
        .filter_map(|rule| rule.lost_after)
        .min()
}

/// The longest time [`Task::wait`] leaves between two polls sent, even while an answer is slow
/// or a poll failed: 70% of [`task_loss_window`] when the spec states one, otherwise 5 seconds
/// (the documents say an unpolled task expires without saying when). A client's
/// [`PollPolicy`](crate::PollPolicy) is capped by it.
pub fn poll_gap() -> Duration {
    task_loss_window().map_or(DEFAULT_POLL_GAP, |window| window.mul_f64(0.7))
}

/// Perfect V2 as a [`KeyedService`]: its spec's server and bearer scheme, `PERFECT_API_KEY`
/// and `PERFECT_BASE_URL`.
#[derive(Debug)]
pub struct Service;

impl sealed::Sealed for Service {}

impl KeyedService for Service {
    const PROVIDER: Provider = PROVIDER;
    const KEY_VAR: &'static str = "PERFECT_API_KEY";
    const BASE_URL_VAR: &'static str = "PERFECT_BASE_URL";
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

/// Builds a Perfect V2 [`Client`] (see [`crate::ClientBuilder`]).
///
/// ```
/// use std::time::Duration;
/// use pixmill::PollPolicy;
///
/// let client = pixmill::perfect::v2::Client::builder()
///     .api_key("my-api-key")
///     .base_url("http://127.0.0.1:8080/perfect")
///     .poll_policy(PollPolicy::new(Duration::from_millis(500)))
///     .build()?;
/// # let _ = client;
/// # Ok::<(), pixmill::Error>(())
/// ```
pub type ClientBuilder = crate::ClientBuilder<KeyConfig<Service>>;

/// A Perfect V2 client. Cheap to clone; clones share one connection pool.
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
        self.inner.core.debug(f, "perfect::v2::Client")
    }
}

/// A task input: an image to upload, a file Perfect already has, or a public URL.
#[derive(Clone, Debug)]
pub enum Input {
    /// Checked against the feature's limits and uploaded before the task starts. An
    /// [`ImageInput`] made with [`ImageInput::from_url`] is passed as a URL instead.
    Image(ImageInput),
    /// A `file_id` from an earlier upload, used as it is.
    File(String),
    /// A publicly reachable URL Perfect fetches itself (`src_file_url` and its siblings);
    /// nothing is uploaded, and its size and format cannot be checked in advance.
    Url(String),
}

impl Input {
    /// A `file_id` from an earlier upload ([`Client::upload`]).
    pub fn file(id: impl Into<String>) -> Input {
        Input::File(id.into())
    }

    /// A public URL.
    pub fn url(url: impl Into<String>) -> Input {
        Input::Url(url.into())
    }
}

impl From<ImageInput> for Input {
    fn from(input: ImageInput) -> Self {
        match input.url() {
            Some(url) => Input::Url(url.to_string()),
            None => Input::Image(input),
        }
    }
}

impl From<&ResultFile> for Input {
    /// A result of an earlier task, by its URL (valid for 2 hours after the task ended).
    fn from(file: &ResultFile) -> Self {
        Input::Url(file.url.clone())
    }
}

impl From<&str> for Input {
    /// A path, or a URL when it starts with `http://` or `https://`.
    fn from(text: &str) -> Self {
        Input::from(ImageInput::from(text))
    }
}

impl From<&Path> for Input {
    fn from(path: &Path) -> Self {
        Input::Image(ImageInput::from_path(path))
    }
}

impl From<PathBuf> for Input {
    fn from(path: PathBuf) -> Self {
        Input::Image(ImageInput::from_path(path))
    }
}

impl From<Vec<u8>> for Input {
    fn from(bytes: Vec<u8>) -> Self {
        Input::Image(ImageInput::from_bytes(bytes))
    }
}

impl From<bytes::Bytes> for Input {
    fn from(bytes: bytes::Bytes) -> Self {
        Input::Image(ImageInput::from_bytes(bytes))
    }
}

/// The hairstyle of a [`Client::hair_restyle`] task: a template from its catalogue, or a photo
/// whose hairstyle is copied.
#[derive(Clone, Debug)]
pub enum Hairstyle {
    /// A template id from [`Client::templates`] of [`Feature::HairRestyle`].
    Template(String),
    /// A reference photo.
    Reference(Input),
}

impl From<&Template> for Hairstyle {
    fn from(template: &Template) -> Self {
        Hairstyle::Template(template.id.clone())
    }
}

impl Client {
    /// A client for the production API with default settings.
    pub fn new(api_key: impl Into<String>) -> Result<Client, Error> {
        Client::builder().api_key(api_key).build()
    }

    /// A client from `PERFECT_API_KEY` and, when set, `PERFECT_BASE_URL`.
    pub fn from_env() -> Result<Client, Error> {
        ClientBuilder::from_env()?.build()
    }

    /// A builder for every setting.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The generated client underneath, for raw access to every operation (requests carry the
    /// key and go through the bounded transport).
    pub fn api(&self) -> &api::Client {
        &self.inner.api
    }

    /// Restyles the hair of a portrait with a template of [`Feature::HairStyle`]'s catalogue.
    pub fn hair_style(
        &self,
        input: impl Into<Input>,
        template_id: impl Into<String>,
    ) -> TaskRequest {
        self.request(Feature::HairStyle, vec![("src", input.into())])
            .param("template_id", template_id.into())
    }

    /// Copies the hairstyle of `reference` onto a portrait.
    pub fn hair_transfer(
        &self,
        input: impl Into<Input>,
        reference: impl Into<Input>,
    ) -> TaskRequest {
        self.request(
            Feature::HairTransfer,
            vec![("src", input.into()), ("ref", reference.into())],
        )
    }

    /// Restyles the hair of a portrait with the newer engine, from a template of its catalogue
    /// or a reference photo; with a template, [`TaskRequest::hair_color`] can keep the
    /// portrait's own colour.
    pub fn hair_restyle(&self, input: impl Into<Input>, hairstyle: Hairstyle) -> TaskRequest {
        let request = self.request(Feature::HairRestyle, vec![("src", input.into())]);
        match hairstyle {
            Hairstyle::Template(id) => request.param("template_id", id),
            Hairstyle::Reference(reference) => request.input("ref", reference),
        }
    }

    /// Adds a hair extension from [`Feature::HairExtension`]'s catalogue.
    pub fn hair_extension(
        &self,
        input: impl Into<Input>,
        template_id: impl Into<String>,
    ) -> TaskRequest {
        self.request(Feature::HairExtension, vec![("src", input.into())])
            .param("template_id", template_id.into())
    }

    /// Adds bangs from [`Feature::HairBang`]'s catalogue.
    pub fn hair_bang(
        &self,
        input: impl Into<Input>,
        template_id: impl Into<String>,
    ) -> TaskRequest {
        self.request(Feature::HairBang, vec![("src", input.into())])
            .param("template_id", template_id.into())
    }

    /// Gives the hair more volume with a style from [`Feature::HairVolume`]'s catalogue.
    pub fn hair_volume(
        &self,
        input: impl Into<Input>,
        template_id: impl Into<String>,
    ) -> TaskRequest {
        self.request(Feature::HairVolume, vec![("src", input.into())])
            .param("template_id", template_id.into())
    }

    /// A series of the same face at different ages ([`TaskOutput::files`] with `res_age`, and
    /// [`TaskOutput::aging`]).
    pub fn aging(&self, input: impl Into<Input>) -> TaskRequest {
        self.request(Feature::Aging, vec![("src", input.into())])
    }

    /// Applies the makeup of `reference` to a selfie.
    pub fn makeup_transfer(
        &self,
        input: impl Into<Input>,
        reference: impl Into<Input>,
    ) -> TaskRequest {
        self.request(
            Feature::MakeupTransfer,
            vec![("src", input.into()), ("ref", reference.into())],
        )
    }

    /// Erases what the white part of `mask` covers and fills it in; the mask must have exactly
    /// the photo's size (checked for local files).
    pub fn object_removal(&self, input: impl Into<Input>, mask: impl Into<Input>) -> TaskRequest {
        self.request(
            Feature::ObjectRemoval,
            vec![("src", input.into()), ("msk", mask.into())],
        )
    }

    /// Colourizes a black-and-white or faded photo, in several variants
    /// ([`TaskOutput::files`]).
    pub fn colorize(&self, input: impl Into<Input>) -> TaskRequest {
        self.request(Feature::Colorize, vec![("src", input.into())])
    }

    /// Cuts the main subject out of a photo (a PNG with a transparent background).
    pub fn background_removal(&self, input: impl Into<Input>) -> TaskRequest {
        self.request(Feature::BackgroundRemoval, vec![("src", input.into())])
    }

    /// Sharpens and deblurs a photo, upscaling it by `scale`.
    pub fn enhance(&self, input: impl Into<Input>, scale: Scale) -> TaskRequest {
        self.request(Feature::Enhance, vec![("src", input.into())])
            .param("scale", scale)
    }

    /// Generates an image from `prompt` in a style of [`Feature::TextToImage`]'s catalogue;
    /// see [`TaskRequest::negative_prompt`], [`TaskRequest::steps`],
    /// [`TaskRequest::cfg_scale`], [`TaskRequest::seed`] and [`TaskRequest::aspect_ratio`].
    pub fn text_to_image(
        &self,
        prompt: impl Into<String>,
        template_id: impl Into<String>,
    ) -> TaskRequest {
        self.request(Feature::TextToImage, Vec::new())
            .param("prompt", prompt.into())
            .param("template_id", template_id.into())
    }

    /// Generates an image from a free `prompt` with the `youcam-image-v2` model; see
    /// [`TaskRequest::negative_prompt`], [`TaskRequest::size`] and
    /// [`TaskRequest::prompt_extend`].
    pub fn youcam_text_to_image(&self, prompt: impl Into<String>) -> TaskRequest {
        self.request(Feature::YoucamTextToImage, Vec::new())
            .param("model", api::types::YoucamImageModel::YoucamImageV2)
            .param("prompt", prompt.into())
    }

    /// Edits or combines `images` (as many as the spec allows, in the order `prompt` refers to
    /// them) with the `youcam-image-v2` model; see [`TaskRequest::negative_prompt`],
    /// [`TaskRequest::output_size`] and [`TaskRequest::prompt_extend`]. The images must all be
    /// files (paths, bytes, file ids) or all URLs.
    pub fn youcam_image_to_image<I>(&self, images: I, prompt: impl Into<String>) -> TaskRequest
    where
        I: IntoIterator,
        I::Item: Into<Input>,
    {
        let inputs = images
            .into_iter()
            .map(|image| ("src", image.into()))
            .collect();
        self.request(Feature::YoucamImageToImage, inputs)
            .param("model", api::types::YoucamImageModel::YoucamImageV2)
            .param("prompt", prompt.into())
    }

    /// A handle for a task started earlier (by this or another process), to poll it.
    pub fn task(&self, feature: Feature, task_id: impl Into<String>) -> Task {
        Task {
            client: self.clone(),
            feature,
            id: task_id.into(),
        }
    }

    fn request(&self, feature: Feature, inputs: Vec<(&'static str, Input)>) -> TaskRequest {
        TaskRequest {
            client: self.clone(),
            feature,
            inputs,
            params: Map::new(),
        }
    }

    /// Uploads an image after checking `feature`'s documented limits, and returns its
    /// `file_id`, which any feature's task then takes as [`Input::File`]. Registering the file
    /// is free and the upload overwrites itself, so both are retried on 429, 5xx and
    /// connection failures. A URL input is refused: pass it to the task instead.
    pub async fn upload(&self, feature: Feature, input: &ImageInput) -> Result<String, Error> {
        let loaded = input.load().await?;
        check_limits(feature, &loaded)?;
        self.upload_loaded(&loaded).await
    }

    async fn upload_loaded(&self, loaded: &Loaded) -> Result<String, Error> {
        crate::activity::report(crate::activity::Activity::Uploading);
        use api::constants::file_request::FILE_SIZE_MAXIMUM;
        let size = loaded.info.bytes;
        if i64::try_from(size).map_or(true, |size| size > FILE_SIZE_MAXIMUM) {
            return Err(InputError::TooLarge {
                operation: "create_file",
                bytes: size,
                limit: u64::try_from(FILE_SIZE_MAXIMUM).unwrap_or_default(),
            }
            .into());
        }
        let request = |e: String| Error::from(InputError::Request(format!("create_file: {e}")));
        let file = api::types::FileRequest {
            content_type: loaded
                .info
                .format
                .mime()
                .parse()
                .map_err(|e| request(format!("{e}")))?,
            file_name: loaded
                .file_name
                .parse()
                .map_err(|e| request(format!("{e}")))?,
            file_size: i64::try_from(size).unwrap_or(i64::MAX),
        };
        let body = api::types::CreateFileRequest { files: vec![file] };
        let core = &self.inner.core;
        let answer = core
            .call("create_file", Safety::Idempotent, || {
                self.inner.api.create_file().body(body.clone()).send()
            })
            .await?
            .into_inner();
        let invalid = |reason: String| {
            core.call_for("create_file", Safety::Idempotent)
                .invalid(Some(200), reason, &[])
        };
        let file = answer
            .data
            .files
            .into_iter()
            .next()
            .ok_or_else(|| invalid("no file in the answer".into()))?;
        let upload = file
            .requests
            .first()
            .ok_or_else(|| invalid("no upload request in the answer".into()))?;
        let method = reqwest::Method::from_bytes(upload.method.as_bytes())
            .map_err(|_| invalid(format!("`{}` is not an HTTP method", upload.method)))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &upload.headers {
            // Numbers (a `Content-Length`) are sent as their digits; a null is no header.
            let text = match value {
                Value::Null => continue,
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("`{name}` is not a header name")))?;
            let value = HeaderValue::from_str(&text)
                .map_err(|_| invalid(format!("the `{name}` upload header is not header text")))?;
            headers.append(name, value);
        }
        // Exactly the returned headers: the upload URL is signed for them. Repeating the upload
        // overwrites the same file, so it is retried like a read.
        core.send("upload", Safety::Idempotent, || {
            core.http()
                .request(method.clone(), &upload.url)
                .headers(headers.clone())
                .body(loaded.bytes.clone())
        })
        .await?;
        Ok(file.file_id)
    }

    pub(crate) async fn check_status(
        &self,
        feature: Feature,
        task_id: &str,
    ) -> Result<TaskSnapshot, Error> {
        let id: api::types::TaskIdText = task_id
            .parse()
            .map_err(|e| InputError::Request(format!("task id `{task_id}`: {e}")))?;
        let api = &self.inner.api;
        let answer = self
            .inner
            .core
            .call("check_status", Safety::Idempotent, || {
                feature.check_status(api, id.clone())
            })
            .await?;
        Ok(TaskSnapshot::from(answer.into_inner()))
    }

    pub(crate) async fn delete_task(&self, task_id: &str) -> Result<(), Error> {
        let body = api::types::DeleteTaskRequest {
            task_id: task_id
                .parse()
                .map_err(|e| InputError::Request(format!("task id `{task_id}`: {e}")))?,
        };
        self.inner
            .core
            .call("delete_task", Safety::Idempotent, || {
                self.inner.api.delete_task().body(body.clone()).send()
            })
            .await?;
        Ok(())
    }

    /// Every template of `feature`'s catalogue, page by page (the documented largest page), as
    /// a stream; a template's `id` is what the feature's method takes. Each page is a read:
    /// retried on 429, 5xx and connection failures. A feature without a template catalogue
    /// yields one [`Error::Unsupported`].
    pub fn templates(&self, feature: Feature) -> BoxStream<'static, Result<Template, Error>> {
        enum Cursor {
            Start,
            Next(String),
            Done,
        }
        let client = self.clone();
        let pages = futures_util::stream::try_unfold(Cursor::Start, move |cursor| {
            let client = client.clone();
            async move {
                if feature.facts().catalogue != Some(Catalogue::Templates) {
                    return Err(Error::Unsupported {
                        provider: PROVIDER,
                        option: format!("list templates of {feature}"),
                        reason: "the feature has no template catalogue".into(),
                    });
                }
                let token = match cursor {
                    Cursor::Done => return Ok(None),
                    Cursor::Start => None,
                    Cursor::Next(token) => Some(token),
                };
                let api = &client.inner.api;
                let answer = client
                    .inner
                    .core
                    .call("list_templates", Safety::Idempotent, || {
                        feature.list_templates(api, page_size(), token.clone())
                    })
                    .await?
                    .into_inner();
                let next = match answer.data.next_token.filter(|t| !t.is_empty()) {
                    // A token that does not move on would loop forever.
                    Some(next) if Some(&next) != token.as_ref() => Cursor::Next(next),
                    _ => Cursor::Done,
                };
                Ok(Some((answer.data.templates, next)))
            }
        });
        pages
            .map_ok(|items| futures_util::stream::iter(items.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }
}

/// Catalogue pages as large as the spec allows.
fn page_size() -> Option<NonZeroU32> {
    u32::try_from(api::constants::parameters::PAGE_SIZE_MAXIMUM)
        .ok()
        .and_then(NonZeroU32::new)
}

/// Checks a local image against the feature's documented limits.
fn check_limits(feature: Feature, loaded: &Loaded) -> Result<(), Error> {
    let facts = feature.facts();
    if let Some(limits) = facts.limits.first() {
        let operation = facts
            .operation("run_task")
            .map_or("run_task", |op| op.operation_id);
        loaded.info.check(operation, limits, 1)?;
    }
    Ok(())
}

impl ErrorBody for api::types::Error {
    fn code_and_message(&self) -> (Option<AnyCode>, String) {
        (
            self.error_code.clone().map(AnyCode::PerfectV2),
            self.error.clone().unwrap_or_default(),
        )
    }
}

/// A task to configure and submit. From the feature methods of [`Client`].
///
/// The optional settings apply to some features only; `send()` refuses a setting the spec does
/// not give the feature, before anything is sent.
#[derive(Debug)]
#[must_use = "nothing is sent until `send()`"]
pub struct TaskRequest {
    client: Client,
    feature: Feature,
    inputs: Vec<(&'static str, Input)>,
    params: Map<String, Value>,
}

/// Where an input went: a file id, or a URL passed as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    File(String),
    Url(String),
}

impl TaskRequest {
    /// The feature.
    pub fn feature(&self) -> Feature {
        self.feature
    }

    fn param(mut self, name: &str, value: impl serde::Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.params.insert(name.to_string(), value);
        self
    }

    fn input(mut self, slot: &'static str, input: Input) -> Self {
        self.inputs.push((slot, input));
        self
    }

    /// Hair restyle with a template: `src` keeps the portrait's own colour (where the template
    /// allows it, see [`Template::keep_users_color`]), `ref` takes the template's.
    pub fn hair_color(self, color: HairColor) -> Self {
        self.param("hair_color", color)
    }

    /// Image generation: what the image should not show.
    pub fn negative_prompt(self, prompt: impl Into<String>) -> Self {
        self.param("negative_prompt", prompt.into())
    }

    /// Template text to image: the number of generation steps.
    pub fn steps(self, steps: u32) -> Self {
        self.param("steps", steps)
    }

    /// Template text to image: how strictly the image follows the prompt.
    pub fn cfg_scale(self, scale: f64) -> Self {
        self.param("cfg_scale", scale)
    }

    /// Template text to image: the seed, to reproduce an image.
    pub fn seed(self, seed: i64) -> Self {
        self.param("seed", [seed])
    }

    /// Template text to image: the aspect ratio, as width and height parts (3, 4 for 3:4).
    pub fn aspect_ratio(self, width: u32, height: u32) -> Self {
        self.param("width_ratio", width)
            .param("height_ratio", height)
    }

    /// `youcam-image-v2` text to image: one of the documented resolutions.
    pub fn size(self, size: ImageSize) -> Self {
        self.param("size", size)
    }

    /// `youcam-image-v2` image to image: the resolution of the result, in pixels.
    pub fn output_size(self, width: u32, height: u32) -> Self {
        self.param("size", format!("{width}*{height}"))
    }

    /// `youcam-image-v2`: whether the model may rewrite the prompt.
    pub fn prompt_extend(self, extend: bool) -> Self {
        self.param("prompt_extend", extend)
    }

    /// Checks the inputs and settings against the spec (the feature's slots and settings, its
    /// documented limits, its generated body type), uploads the local images, and starts the
    /// task. Bad input costs nothing: every check runs before the first upload.
    ///
    /// A run task spends units and V2 has no idempotency key, so it is retried only when it
    /// certainly did not reach Perfect (a refused connection, 429, 503): a connection that
    /// breaks after sending, or another 5xx, is [`Error::OutcomeUnknown`] and is not sent
    /// again, since that could start and charge a second task. Uploads before it are retried
    /// like reads.
    pub async fn send(self) -> Result<Task, Error> {
        self.prepare().await?.submit().await
    }

    /// Everything before the run-task call: checks and uploads. Nothing is charged yet.
    pub(crate) async fn prepare(self) -> Result<PreparedTask, Error> {
        let TaskRequest {
            client,
            feature,
            inputs,
            params,
        } = self;
        let facts = feature.facts();
        check_params(feature, &params)?;
        check_slots(feature, &inputs)?;
        // Check every local input before uploading any, so bad input costs nothing.
        let mut loaded = Vec::with_capacity(inputs.len());
        for (_, input) in &inputs {
            loaded.push(match input {
                Input::Image(image) if image.url().is_none() => {
                    let file = image.load().await?;
                    check_limits(feature, &file)?;
                    Some(file)
                }
                _ => None,
            });
        }
        check_mask_size(&inputs, &loaded)?;
        // The body with stand-ins for the uploads must already pass the generated type.
        let planned: Vec<(&'static str, Source)> = inputs
            .iter()
            .map(|(slot, input)| (*slot, source(input, String::new())))
            .collect();
        let draft = run_body(facts, &planned, &params)?;
        feature
            .check_run_task_body(&draft)
            .map_err(|e| InputError::Request(format!("{feature}: {e}")))?;
        let mut sources = Vec::with_capacity(inputs.len());
        for ((slot, input), file) in inputs.iter().zip(&loaded) {
            let source = match file {
                Some(file) => Source::File(client.upload_loaded(file).await?),
                None => source(input, String::new()),
            };
            sources.push((*slot, source));
        }
        let body = run_body(facts, &sources, &params)?;
        Ok(PreparedTask {
            client,
            feature,
            body,
        })
    }
}

/// A task whose inputs passed every check and are uploaded: what is left is the run-task
/// call, the one request that can charge. A caller that moves on to another provider needs to
/// tell a failure before it from one of it.
pub(crate) struct PreparedTask {
    client: Client,
    feature: Feature,
    body: Value,
}

impl PreparedTask {
    /// Starts the task (retried only as [`TaskRequest::send`] says).
    pub(crate) async fn submit(self) -> Result<Task, Error> {
        let PreparedTask {
            client,
            feature,
            body,
        } = self;
        let api = &client.inner.api;
        let answer = client
            .inner
            .core
            .call("run_task", Safety::Charged, || {
                feature.run_task(api, body.clone())
            })
            .await?
            .into_inner();
        let task_id = answer.data.task_id;
        if task_id.is_empty() {
            return Err(client
                .inner
                .core
                .call_for("run_task", Safety::Charged)
                .invalid(Some(200), "an empty task_id".into(), &[]));
        }
        tracing::info!(provider = %PROVIDER, feature = feature.name(), job_id = %task_id, "task submitted");
        Ok(Task {
            client,
            feature,
            id: task_id,
        })
    }
}

/// Where an input goes without an upload; a local image gets `uploaded`.
fn source(input: &Input, uploaded: String) -> Source {
    match input {
        Input::File(id) => Source::File(id.clone()),
        Input::Url(url) => Source::Url(url.clone()),
        Input::Image(image) => match image.url() {
            Some(url) => Source::Url(url.to_string()),
            None => Source::File(uploaded),
        },
    }
}

/// Every setting must be one the spec gives the feature, and a prompt must say something.
fn check_params(feature: Feature, params: &Map<String, Value>) -> Result<(), Error> {
    let expected = feature.facts().params;
    for (name, value) in params {
        let Some(known) = expected.iter().copied().find(|known| known == name) else {
            return Err(Error::Unsupported {
                provider: PROVIDER,
                option: format!("run {feature} with `{name}`"),
                reason: format!("the spec gives it {expected:?}"),
            });
        };
        if value.as_str().is_some_and(|text| text.trim().is_empty()) {
            return Err(InputError::Empty { field: known }.into());
        }
    }
    Ok(())
}

/// Whether a slot may stay empty: the spec cannot mark "this field or its URL field" as
/// required, so every slot needs a file, except one after the first of a feature that takes a
/// template, which the template replaces (the V2.1 hairstyle's reference photo).
fn slot_is_optional(facts: &FeatureFacts, slot: &FileSlot) -> bool {
    facts.params.contains(&"template_id")
        && facts
            .inputs
            .first()
            .is_some_and(|first| first.name != slot.name)
}

/// Every input names a slot of the feature, within the slot's documented count.
fn check_slots(feature: Feature, inputs: &[(&'static str, Input)]) -> Result<(), Error> {
    let facts = feature.facts();
    for (slot, _) in inputs {
        if !facts.inputs.iter().any(|s| s.name == *slot) {
            return Err(Error::Unsupported {
                provider: PROVIDER,
                option: format!("give {feature} a `{slot}` file"),
                reason: "the spec gives the feature no such input".into(),
            });
        }
    }
    for slot in facts.inputs {
        let given = inputs.iter().filter(|(name, _)| *name == slot.name).count();
        let fewest = if slot_is_optional(facts, slot) {
            slot.min
        } else {
            slot.min.max(1)
        };
        if given < fewest || slot.max.is_some_and(|max| given > max) {
            return Err(InputError::OutOfRange {
                field: "files",
                expected: format!(
                    "{} to {} `{}` files",
                    fewest,
                    slot.max.map_or("any".into(), |m| m.to_string()),
                    slot.name
                ),
                actual: given.to_string(),
            }
            .into());
        }
    }
    Ok(())
}

/// A mask must have exactly its image's size (when both are local files).
fn check_mask_size(
    inputs: &[(&'static str, Input)],
    loaded: &[Option<Loaded>],
) -> Result<(), Error> {
    let size = |name: &str| {
        inputs
            .iter()
            .zip(loaded)
            .find(|((slot, _), file)| *slot == name && file.is_some())
            .and_then(|(_, file)| file.as_ref())
            .map(|file| (file.info.width, file.info.height))
    };
    if let (Some(image), Some(mask)) = (size("src"), size("msk"))
        && image != mask
    {
        return Err(InputError::OutOfRange {
            field: "mask",
            expected: format!("the image's size, {}x{}", image.0, image.1),
            actual: format!("{}x{}", mask.0, mask.1),
        }
        .into());
    }
    Ok(())
}

/// The run-task request: the settings, plus each slot's files under its id field or its URLs
/// under its URL field (one value for a one-file slot, a list otherwise). The dispatch checks
/// it against the feature's generated body type before sending.
fn run_body(
    facts: &FeatureFacts,
    sources: &[(&'static str, Source)],
    params: &Map<String, Value>,
) -> Result<Value, Error> {
    let mut body = params.clone();
    for slot in facts.inputs {
        let given: Vec<&Source> = sources
            .iter()
            .filter(|(name, _)| *name == slot.name)
            .map(|(_, source)| source)
            .collect();
        if given.is_empty() {
            continue;
        }
        let ids: Vec<&str> = given
            .iter()
            .filter_map(|s| match s {
                Source::File(id) => Some(id.as_str()),
                Source::Url(_) => None,
            })
            .collect();
        let urls: Vec<&str> = given
            .iter()
            .filter_map(|s| match s {
                Source::Url(url) => Some(url.as_str()),
                Source::File(_) => None,
            })
            .collect();
        let (field, values) = match (ids.is_empty(), urls.is_empty(), slot.url_field) {
            (false, true, _) => (slot.id_field, ids),
            (true, false, Some(url_field)) => (url_field, urls),
            (true, false, None) => {
                return Err(Error::Unsupported {
                    provider: PROVIDER,
                    option: format!("take a URL as `{}`", slot.name),
                    reason: "the spec gives the input no URL field".into(),
                });
            }
            _ => {
                return Err(InputError::Unsupported(format!(
                    "give every `{}` image as a file (path, bytes, file id) or every one as a \
                     URL, not both",
                    slot.name
                ))
                .into());
            }
        };
        let value = match values.as_slice() {
            [one] if slot.max == Some(1) => json!(one),
            _ => json!(values),
        };
        body.insert(field.to_string(), value);
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::builder()
            .api_key("key-visible-nowhere")
            .base_url("http://127.0.0.1:9")
            .build()
            .unwrap()
    }

    /// The request each feature method makes, with file ids for every input.
    fn every_request(client: &Client) -> Vec<TaskRequest> {
        let file = || Input::file("file-id");
        vec![
            client.hair_style(file(), "t1"),
            client.hair_transfer(file(), file()),
            client.hair_restyle(file(), Hairstyle::Template("t1".into())),
            client.hair_extension(file(), "t1"),
            client.hair_bang(file(), "t1"),
            client.hair_volume(file(), "t1"),
            client.aging(file()),
            client.makeup_transfer(file(), file()),
            client.object_removal(file(), file()),
            client.colorize(file()),
            client.background_removal(file()),
            client.enhance(file(), Scale::X2),
            client.text_to_image("a fox", "t1"),
            client.youcam_text_to_image("a fox"),
            client.youcam_image_to_image([file(), file()], "a fox"),
        ]
    }

    #[test]
    fn every_feature_has_a_method_whose_body_its_generated_type_accepts() {
        let client = client();
        let requests = every_request(&client);
        let covered: Vec<Feature> = requests.iter().map(TaskRequest::feature).collect();
        assert_eq!(
            covered,
            Feature::ALL,
            "one method per feature, in the spec's order"
        );
        for request in requests {
            let feature = request.feature;
            check_params(feature, &request.params).unwrap();
            check_slots(feature, &request.inputs).unwrap();
            let sources: Vec<_> = request
                .inputs
                .iter()
                .map(|(slot, input)| (*slot, source(input, String::new())))
                .collect();
            let body = run_body(feature.facts(), &sources, &request.params).unwrap();
            feature
                .check_run_task_body(&body)
                .unwrap_or_else(|e| panic!("{feature}: {e} for {body}"));
        }
    }

    #[test]
    fn one_file_slots_take_a_value_and_list_slots_a_list() {
        let client = client();
        let enhance = client.enhance(Input::url("https://example.test/a.jpg"), Scale::X4);
        let sources = vec![("src", Source::Url("https://example.test/a.jpg".into()))];
        let body = run_body(Feature::Enhance.facts(), &sources, &enhance.params).unwrap();
        assert_eq!(
            body,
            json!({"scale": 4, "src_file_url": "https://example.test/a.jpg"})
        );
        let sources = vec![
            ("src", Source::File("a".into())),
            ("src", Source::File("b".into())),
        ];
        let body = run_body(Feature::YoucamImageToImage.facts(), &sources, &Map::new()).unwrap();
        assert_eq!(body, json!({"src_file_ids": ["a", "b"]}));
        let mixed = vec![
            ("src", Source::File("a".into())),
            ("src", Source::Url("u".into())),
        ];
        let error = run_body(Feature::YoucamImageToImage.facts(), &mixed, &Map::new()).unwrap_err();
        assert!(error.to_string().contains("not both"), "{error}");
    }

    #[test]
    fn settings_and_slots_must_match_the_spec() {
        let client = client();
        let error = check_params(
            Feature::Enhance,
            &client.enhance(Input::file("x"), Scale::X1).steps(3).params,
        )
        .unwrap_err();
        assert!(matches!(error, Error::Unsupported { .. }), "{error:?}");
        let blank = client.youcam_text_to_image("  ");
        let error = check_params(Feature::YoucamTextToImage, &blank.params).unwrap_err();
        assert!(error.to_string().contains("prompt"), "{error}");
        let error = check_slots(Feature::Colorize, &[("msk", Input::file("x"))]).unwrap_err();
        assert!(matches!(error, Error::Unsupported { .. }), "{error:?}");
        let four: Vec<_> = (0..4).map(|_| ("src", Input::file("x"))).collect();
        let error = check_slots(Feature::YoucamImageToImage, &four).unwrap_err();
        assert!(error.to_string().contains("1 to 3 `src` files"), "{error}");
        let none = client.youcam_image_to_image(Vec::<Input>::new(), "combine");
        let error = check_slots(Feature::YoucamImageToImage, &none.inputs).unwrap_err();
        assert!(error.to_string().contains("got 0"), "{error}");
        // The V2.1 hairstyle takes a template or a reference photo.
        let restyle = client.hair_restyle(Input::file("x"), Hairstyle::Template("t".into()));
        check_slots(Feature::HairRestyle, &restyle.inputs).unwrap();
        let error = check_slots(Feature::MakeupTransfer, &[("src", Input::file("x"))]).unwrap_err();
        assert!(error.to_string().contains("`ref` files"), "{error}");
    }

    #[test]
    fn url_inputs_stay_urls() {
        let from_text = Input::from("https://example.test/photo.jpg");
        assert!(
            matches!(from_text, Input::Url(ref url) if url == "https://example.test/photo.jpg")
        );
        let from_image = Input::from(ImageInput::from_url("http://example.test/b.png"));
        assert!(matches!(from_image, Input::Url(_)));
        assert!(matches!(Input::from("photo.jpg"), Input::Image(_)));
    }

    #[test]
    fn the_poll_gap_follows_the_spec_or_the_default() {
        match task_loss_window() {
            Some(window) => assert_eq!(poll_gap(), window.mul_f64(0.7)),
            None => assert_eq!(poll_gap(), DEFAULT_POLL_GAP),
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let builder = Client::builder().api_key("key-visible-nowhere");
        assert!(!format!("{builder:?}").contains("key-visible-nowhere"));
        assert!(!format!("{:?}", client()).contains("key-visible-nowhere"));
    }

    #[test]
    fn a_refused_run_for_lack_of_units_is_a_credit_error() {
        let refusal = |code| Error::Api {
            provider: PROVIDER,
            operation: "run_task",
            status: 400,
            code: Some(AnyCode::PerfectV2(code)),
            message: String::new(),
            retry_after: None,
        };
        assert_eq!(
            refusal(ErrorCode::CreditInsufficiency).kind(),
            crate::ErrorKind::InsufficientCredits
        );
        assert_eq!(
            refusal(ErrorCode::InvalidParameters).kind(),
            crate::ErrorKind::Rejected
        );
    }
}
