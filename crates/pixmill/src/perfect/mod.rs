//! Perfect Corp ("Perfect AI API 2.0"): token auth, presigned uploads, async tasks, style
//! catalogues, and a client-side rate budget.
//!
//! This is the older API, for accounts with a client id and secret. Accounts opened today get
//! an API key for the current API, V2: see [`v2`].
//!
//! ```no_run
//! # async fn demo() -> pixmill::Result<()> {
//! use pixmill::perfect::{Client, Feature, Scale};
//! use futures_util::TryStreamExt as _;
//!
//! let client = Client::from_env()?; // PERFECT_CLIENT_ID, PERFECT_CLIENT_SECRET[, PERFECT_BASE_URL]
//! let output = client.enhance("portrait.jpg", Scale::X2).send().await?.wait().await?;
//! output.result().save("portrait-2x.jpg").await?;
//!
//! // A result feeds the next task without another upload.
//! let cutout = client.background_removal(output.first()).send().await?.wait().await?;
//! cutout.result().save("cutout.png").await?;
//!
//! let groups: Vec<_> = client.style_groups(Feature::HairStyle).try_collect().await?;
//! # let _ = groups; Ok(()) }
//! ```
//!
//! What the client takes care of:
//!
//! - **Auth.** The `id_token` is built from the client id and secret (RSA PKCS#1 v1.5), the
//!   access token is cached, refreshed before its documented lifetime runs out and once on a
//!   401; concurrent callers share one refresh.
//! - **No double charge.** Every task gets a `request_id` unique within the client; a retried
//!   run-task reuses it, and Perfect does not run (or charge) the same request twice.
//! - **The loss window.** [`Task::wait`] never lets more than 85% of the documented window
//!   (the spec's `x-polling`) pass between polls, and never polls sooner than Perfect's
//!   `polling_interval` asks.
//! - **Rate budget.** Every request of a client and its clones passes one budget for both
//!   documented limits (the spec's `x-rate-limits`). Polls of running tasks go first, and the
//!   budget keeps a request in hand for each of them; tasks wait for a slot before submission
//!   when the budget could not keep more of them polled in time. Polls are spaced so that
//!   they take at most a third of the budget (with the documented limits: about one per task
//!   every 8.5 seconds), which leaves the rest for new tasks.
//!
//! # Features
//!
//! The twelve features, what each takes (files, settings), offers (output formats,
//! catalogues) and which operations serve it are the spec's feature table
//! ([`Feature::facts`]); one method per feature starts a task.

mod auth;
mod budget;
mod task;
pub mod v2;

use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use pixmill_perfect_api as api;
use pixmill_spec::features::FeatureFacts;
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crate::client::{ClientBuilder as Builder, Core, env};
use crate::error::{ConfigError, Error, ErrorCode, Provider};
use crate::image::{ImageInput, InputError, Loaded};
use crate::retry::{ErrorBody, Safety};

pub use api::features::{Feature, OutputFormat};
pub use api::types::{Scale, Style, StyleGroup};
pub use budget::{RateLimit, RateLimits};
pub use task::{
    AgingInfo, EngineErrorCode, FileRecord, ResultFile, Task, TaskOutput, TaskSnapshot, TaskStatus,
};

const PROVIDER: Provider = Provider::Perfect;

/// The variables `from_env` reads.
pub(crate) const CLIENT_ID_VAR: &str = "PERFECT_CLIENT_ID";
pub(crate) const CLIENT_SECRET_VAR: &str = "PERFECT_CLIENT_SECRET";
const BASE_URL_VAR: &str = "PERFECT_BASE_URL";

/// How long Perfect keeps a task nobody polls: the shortest `lost_after` the spec states for
/// any feature.
pub fn task_loss_window() -> Option<Duration> {
    Feature::ALL
        .iter()
        .flat_map(|feature| feature.facts().polling)
        .filter_map(|rule| rule.lost_after)
        .min()
}

/// A task input: an image to upload, or a file Perfect already has (a `file_id` from an
/// earlier upload or a result's `dst_id`).
#[derive(Clone, Debug)]
pub enum Input {
    /// Uploaded before the task runs, after checking the feature's limits.
    Image(ImageInput),
    /// Used as it is, without another upload.
    File(String),
}

impl Input {
    /// A file Perfect already has.
    pub fn file(id: impl Into<String>) -> Input {
        Input::File(id.into())
    }
}

impl From<ImageInput> for Input {
    fn from(input: ImageInput) -> Self {
        Input::Image(input)
    }
}

impl From<&ResultFile> for Input {
    fn from(file: &ResultFile) -> Self {
        Input::File(file.dst_id.clone())
    }
}

impl From<&str> for Input {
    /// A path to an image file.
    fn from(path: &str) -> Self {
        Input::Image(ImageInput::from_path(path))
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

/// A style from a catalogue: its group and its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StyleChoice {
    /// The style group's id.
    pub group_id: i64,
    /// The style's id.
    pub style_id: i64,
}

/// The credentials and options part of a Perfect [`ClientBuilder`].
#[derive(Clone, Default)]
pub struct Config {
    client_id: Option<SecretString>,
    client_secret: Option<SecretString>,
    token_lifetime: Option<Duration>,
    rate_limits: Option<RateLimits>,
    loss_window: Option<Duration>,
    max_running_tasks: Option<usize>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| set.then_some("[redacted]");
        f.debug_struct("perfect::Config")
            .field("client_id", &redacted(self.client_id.is_some()))
            .field("client_secret", &redacted(self.client_secret.is_some()))
            .field("token_lifetime", &self.token_lifetime)
            .field("rate_limits", &self.rate_limits)
            .field("loss_window", &self.loss_window)
            .field("max_running_tasks", &self.max_running_tasks)
            .finish()
    }
}

/// Builds a Perfect [`Client`] (see [`crate::ClientBuilder`] for the shared settings).
///
/// ```
/// use std::time::Duration;
/// use pixmill::perfect::{Client, RateLimit, RateLimits};
/// # fn secret() -> String { String::new() }
///
/// let builder = Client::builder()
///     .client_id("my-client-id")
///     .client_secret(secret())
///     .rate_limits(RateLimits {
///         per_token: Some(RateLimit::new(30, Duration::from_secs(10))), // a stricter budget
///         per_ip: None, // behind a pool of egress addresses
///     });
/// # let _ = builder;
/// ```
pub type ClientBuilder = Builder<Config>;

impl Builder<Config> {
    /// The client id (Perfect's "API key"); treated as a secret.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = Some(SecretString::from(id.into()));
        self
    }

    /// The client secret: a base64 DER SubjectPublicKeyInfo RSA public key.
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.config.client_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// How long an access token lasts (by default the spec's documented lifetime); it is
    /// refreshed shortly before.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.token_lifetime = Some(lifetime);
        self
    }

    /// The client-side rate budget (default: the documented limits).
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.config.rate_limits = Some(limits);
        self
    }

    /// How long Perfect keeps a task that is not polled (default [`task_loss_window`]);
    /// polls are at most 85% of it apart.
    pub fn task_loss_window(mut self, window: Duration) -> Self {
        self.config.loss_window = Some(window);
        self
    }

    /// Runs at most `max` tasks at once (at least 1). This can only lower the number the rate
    /// budget allows ([`Client::task_capacity`]): more would risk losing tasks.
    pub fn max_running_tasks(mut self, max: usize) -> Self {
        self.config.max_running_tasks = Some(max);
        self
    }

    /// A builder from `PERFECT_CLIENT_ID`, `PERFECT_CLIENT_SECRET` and, when set,
    /// `PERFECT_BASE_URL`.
    pub fn from_env() -> Result<Self, Error> {
        let id = env(CLIENT_ID_VAR).ok_or(ConfigError::MissingVariable(CLIENT_ID_VAR))?;
        let secret =
            env(CLIENT_SECRET_VAR).ok_or(ConfigError::MissingVariable(CLIENT_SECRET_VAR))?;
        let mut builder = Builder::<Config>::default()
            .client_id(id)
            .client_secret(secret);
        if let Some(url) = env(BASE_URL_VAR) {
            builder = builder.base_url(url);
        }
        Ok(builder)
    }

    /// Builds the client. Fails without a client id and secret, or with a secret that is not
    /// an RSA public key.
    pub fn build(self) -> Result<Client, Error> {
        let config = self.config;
        let client_id = config
            .client_id
            .ok_or(ConfigError::MissingSetting("a Perfect client id"))?;
        let secret = config
            .client_secret
            .ok_or(ConfigError::MissingSetting("a Perfect client secret"))?;
        let key = auth::public_key(&secret)?;
        let settings = self.common.settings(api::service::SERVER_URL)?;
        let loss_window = config
            .loss_window
            .or_else(task_loss_window)
            .ok_or_else(|| ConfigError::Invalid("the spec states no task loss window".into()))?;
        // The margin covers the network and a retried poll; polls never wait in the budget.
        let poll_gap = loss_window.mul_f64(0.85);
        let budget = Arc::new(budget::Budget::new(
            config.rate_limits.unwrap_or_default(),
            poll_gap,
            config.max_running_tasks,
        ));
        // The token exchange carries no token, but counts against the per-IP budget.
        let auth_core = Core::new(
            PROVIDER,
            settings.clone(),
            Arc::new(auth::BudgetOnly(budget.clone())),
        );
        let tokens = Arc::new(auth::Tokens::new(
            auth_core,
            client_id,
            key,
            config
                .token_lifetime
                .unwrap_or(api::service::auth::TOKEN_LIFETIME),
            budget.clone(),
        ));
        let core = Core::new(PROVIDER, settings, tokens);
        let api = api::Client::new_with_client(core.base_url(), core.http().clone(), core.hooks());
        // Starting from the clock keeps ids increasing across restarts of the same client id.
        let first_request_id = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Ok(Client {
            inner: Arc::new(Inner {
                core,
                api,
                budget,
                next_request_id: AtomicI64::new(first_request_id),
                poll_gap,
            }),
        })
    }
}

/// A Perfect client. Cheap to clone; clones share the connection pool, the token, the rate
/// budget and the `request_id` sequence.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    core: Core,
    api: api::Client,
    budget: Arc<budget::Budget>,
    next_request_id: AtomicI64,
    poll_gap: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.core.debug(f, "perfect::Client")
    }
}

impl Client {
    /// A client for the production API. Fails if the secret is not a base64 DER RSA public key.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Client, Error> {
        Client::builder()
            .client_id(client_id)
            .client_secret(client_secret)
            .build()
    }

    /// A client from `PERFECT_CLIENT_ID`, `PERFECT_CLIENT_SECRET` and, when set,
    /// `PERFECT_BASE_URL`.
    pub fn from_env() -> Result<Client, Error> {
        ClientBuilder::from_env()?.build()
    }

    /// A builder for every setting.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// How many tasks this client runs at once: as many as its rate budget can keep polled
    /// within the loss window (2 with the documented limits), or fewer if
    /// [`ClientBuilder::max_running_tasks`] says so. Further tasks wait in `send()` for a slot.
    pub fn task_capacity(&self) -> usize {
        self.inner.budget.capacity()
    }

    /// The generated client underneath, for raw access (requests still carry the token and
    /// pass the rate budget).
    pub fn api(&self) -> &api::Client {
        &self.inner.api
    }

    /// Hairstyle try-on with a style from the catalogue.
    pub fn hair_style(&self, input: impl Into<Input>, style: StyleChoice) -> TaskRequest {
        self.request(
            Feature::HairStyle,
            vec![("src", input.into())],
            Params::Style(style),
        )
    }

    /// Wig try-on with a style from the catalogue.
    pub fn wig(&self, input: impl Into<Input>, style: StyleChoice) -> TaskRequest {
        self.request(
            Feature::Wig,
            vec![("src", input.into())],
            Params::Style(style),
        )
    }

    /// Hair extension with a style from the catalogue.
    pub fn hair_extension(&self, input: impl Into<Input>, style: StyleChoice) -> TaskRequest {
        self.request(
            Feature::HairExtension,
            vec![("src", input.into())],
            Params::Style(style),
        )
    }

    /// Bangs with a style from the catalogue.
    pub fn hair_bang(&self, input: impl Into<Input>, style: StyleChoice) -> TaskRequest {
        self.request(
            Feature::HairBang,
            vec![("src", input.into())],
            Params::Style(style),
        )
    }

    /// Hair volume with a style from the catalogue.
    pub fn hair_volume(&self, input: impl Into<Input>, style: StyleChoice) -> TaskRequest {
        self.request(
            Feature::HairVolume,
            vec![("src", input.into())],
            Params::Style(style),
        )
    }

    /// A series of the same face at different ages ([`TaskOutput::files`] with `res_age`,
    /// and [`TaskOutput::aging`]).
    pub fn aging(&self, input: impl Into<Input>) -> TaskRequest {
        self.request(Feature::Aging, vec![("src", input.into())], Params::None)
    }

    /// Applies the makeup of `reference` to `input`.
    pub fn makeup_transfer(
        &self,
        input: impl Into<Input>,
        reference: impl Into<Input>,
    ) -> TaskRequest {
        self.request(
            Feature::MakeupTransfer,
            vec![("src", input.into()), ("ref", reference.into())],
            Params::None,
        )
    }

    /// Removes what the white part of `mask` covers; the mask must be exactly the image's size.
    pub fn object_removal(&self, input: impl Into<Input>, mask: impl Into<Input>) -> TaskRequest {
        self.request(
            Feature::ObjectRemoval,
            vec![("src", input.into()), ("mask", mask.into())],
            Params::None,
        )
    }

    /// Colourizes a black-and-white photo.
    pub fn colorize(&self, input: impl Into<Input>) -> TaskRequest {
        self.request(Feature::Colorize, vec![("src", input.into())], Params::None)
    }

    /// Removes the background (a format with transparency; see [`TaskRequest::output`]).
    pub fn background_removal(&self, input: impl Into<Input>) -> TaskRequest {
        self.request(
            Feature::BackgroundRemoval,
            vec![("src", input.into())],
            Params::None,
        )
    }

    /// Enhances and upscales.
    pub fn enhance(&self, input: impl Into<Input>, scale: Scale) -> TaskRequest {
        self.request(
            Feature::Enhance,
            vec![("src", input.into())],
            Params::Scale(scale),
        )
    }

    /// Generates an image from a prompt in a style of the text-to-image catalogue.
    pub fn text_to_image(&self, prompt: impl Into<String>, style: StyleChoice) -> TaskRequest {
        self.request(
            Feature::TextToImage,
            Vec::new(),
            Params::Prompt(prompt.into(), style),
        )
    }

    /// A handle for a task submitted earlier, to poll it. It holds no task slot.
    pub fn task(&self, feature: Feature, task_id: impl Into<String>) -> Task {
        Task {
            client: self.clone(),
            feature,
            id: task_id.into(),
            request_id: None,
            slot: std::sync::Mutex::new(None),
        }
    }

    fn request(
        &self,
        feature: Feature,
        inputs: Vec<(&'static str, Input)>,
        params: Params,
    ) -> TaskRequest {
        TaskRequest {
            client: self.clone(),
            feature,
            inputs,
            params,
            output: None,
        }
    }

    /// Uploads an image for `feature` after checking its documented limits; returns the
    /// `file_id`. Creating the file is free and the upload overwrites itself, so both are
    /// retried on 429, 5xx and connection failures.
    pub async fn upload(&self, feature: Feature, input: &ImageInput) -> Result<String, Error> {
        let loaded = input.load().await?;
        check_limits(feature, &loaded)?;
        self.upload_loaded(feature, &loaded).await
    }

    async fn upload_loaded(&self, feature: Feature, loaded: &Loaded) -> Result<String, Error> {
        crate::activity::report(crate::activity::Activity::Uploading);
        let facts = feature.facts();
        let format = loaded.info.format;
        // The format's own MIME type when the upload lists it, else an alias it lists.
        let content_type = facts
            .upload_types
            .iter()
            .find(|mime| mime.eq_ignore_ascii_case(format.mime()))
            .or_else(|| {
                facts
                    .upload_types
                    .iter()
                    .find(|mime| format.matches_mime(mime))
            })
            .ok_or_else(|| {
                InputError::Unsupported(format!(
                    "Perfect's {feature} upload takes {}, not {format} files",
                    if facts.upload_types.is_empty() {
                        "no file"
                    } else {
                        ""
                    }
                    .to_string()
                        + &facts.upload_types.join(", ")
                ))
            })?;
        let body =
            json!({"files": [{"content_type": content_type, "file_name": loaded.file_name}]});
        let api = &self.inner.api;
        let core = &self.inner.core;
        let answer = core
            .call("create_file", Safety::Idempotent, || {
                feature.create_file(api, body.clone())
            })
            .await?
            .into_inner();
        let invalid = |reason: String| {
            core.call_for("create_file", Safety::Idempotent)
                .invalid(Some(200), reason, &[])
        };
        let file = answer
            .result
            .files
            .into_iter()
            .next()
            .ok_or_else(|| invalid("no file in the answer".into()))?;
        let request = file
            .requests
            .first()
            .ok_or_else(|| invalid("no upload request in the answer".into()))?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| invalid(format!("`{}` is not an HTTP method", request.method)))?;
        // Exactly the returned headers: the upload URL is signed for them. Repeating the upload
        // overwrites the same file, so it is retried like a read.
        core.send("upload", Safety::Idempotent, || {
            let mut upload = core
                .http()
                .request(method.clone(), &request.url)
                .body(loaded.bytes.clone());
            for (name, value) in &request.headers {
                upload = upload.header(name.as_str(), value.as_str());
            }
            upload
        })
        .await?;
        Ok(file.file_id)
    }

    pub(crate) async fn check_status(
        &self,
        feature: Feature,
        task_id: &str,
    ) -> Result<TaskSnapshot, Error> {
        let api = &self.inner.api;
        let answer = self
            .inner
            .core
            .call("check_status", Safety::Idempotent, || {
                feature.check_status(api, task_id.to_string())
            })
            .await?;
        Ok(TaskSnapshot::from(answer.into_inner()))
    }

    /// Every style group of `feature`, page by page (the documented largest page), as a
    /// stream. Each page is a read: retried on 429, 5xx and connection failures. A feature
    /// without a style catalogue yields one [`Error::Unsupported`].
    pub fn style_groups(&self, feature: Feature) -> BoxStream<'_, Result<StyleGroup, Error>> {
        self.pages(feature, move |client, token| async move {
            let api = &client.inner.api;
            let answer = client
                .inner
                .core
                .call("list_style_groups", Safety::Idempotent, || {
                    feature.list_style_groups(api, page_size(), token.clone())
                })
                .await?
                .into_inner();
            Ok((answer.result.groups, answer.result.next_token))
        })
    }

    /// Every style of `feature` (of one group, or all groups), page by page, as a stream.
    /// Retried like [`Client::style_groups`].
    pub fn styles(
        &self,
        feature: Feature,
        group_id: Option<i64>,
    ) -> BoxStream<'_, Result<Style, Error>> {
        self.pages(feature, move |client, token| async move {
            let api = &client.inner.api;
            let answer = client
                .inner
                .core
                .call("list_styles", Safety::Idempotent, || {
                    feature.list_styles(api, page_size(), token.clone(), group_id)
                })
                .await?
                .into_inner();
            Ok((answer.result.styles, answer.result.next_token))
        })
    }

    /// Turns a page fetcher into a stream that follows `next_token` until it is absent.
    fn pages<'a, T, F, Fut>(&'a self, feature: Feature, fetch: F) -> BoxStream<'a, Result<T, Error>>
    where
        T: Send + 'a,
        F: Fn(&'a Client, Option<String>) -> Fut + Send + Sync + 'a,
        Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), Error>> + Send + 'a,
    {
        enum Cursor {
            Start,
            Next(String),
            Done,
        }
        let fetch = Arc::new(fetch);
        let pages = futures_util::stream::try_unfold(Cursor::Start, move |cursor| {
            let fetch = fetch.clone();
            async move {
                if feature.facts().catalogue.is_none() {
                    return Err(Error::Unsupported {
                        provider: PROVIDER,
                        option: format!("list styles of {feature}"),
                        reason: "the feature has no style catalogue".into(),
                    });
                }
                let token = match cursor {
                    Cursor::Done => return Ok(None),
                    Cursor::Start => None,
                    Cursor::Next(token) => Some(token),
                };
                let (items, next) = fetch(self, token.clone()).await?;
                let next = match next.filter(|t| !t.is_empty()) {
                    // A token that does not move on would loop forever.
                    Some(next) if Some(&next) != token.as_ref() => Cursor::Next(next),
                    _ => Cursor::Done,
                };
                Ok(Some((items, next)))
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

fn check_limits(feature: Feature, loaded: &Loaded) -> Result<(), Error> {
    if let Some(limits) = feature.facts().limits.first() {
        loaded.info.check("create_file", limits, 1)?;
    }
    Ok(())
}

impl ErrorBody for api::types::Error {
    fn code_and_message(&self) -> (Option<ErrorCode>, String) {
        (
            self.error_code.clone().map(ErrorCode::Perfect),
            self.error.clone().unwrap_or_default(),
        )
    }
}

/// What a feature needs besides its files, as the spec's parameter types.
#[derive(Clone, Debug)]
enum Params {
    None,
    Style(StyleChoice),
    Scale(Scale),
    Prompt(String, StyleChoice),
}

impl Params {
    /// The action's `params` object, built through the generated types.
    fn to_json(&self) -> Result<Option<Value>, Error> {
        let invalid = |e: String| Error::from(InputError::Request(e));
        let value = match self {
            Params::None => return Ok(None),
            Params::Style(choice) => serde_json::to_value(api::types::StyleParams {
                style_group_id: choice.group_id,
                style_ids: [choice.style_id],
            }),
            Params::Scale(scale) => {
                serde_json::to_value(api::types::EnhanceParams { scale: *scale })
            }
            Params::Prompt(prompt, _) if prompt.trim().is_empty() => {
                return Err(InputError::Empty { field: "prompt" }.into());
            }
            Params::Prompt(prompt, choice) => {
                let params = api::types::TextToImageParams::try_from(
                    api::types::TextToImageParams::builder()
                        .prompt(prompt.clone())
                        .style_group_id(choice.group_id)
                        .style_ids([choice.style_id]),
                )
                .map_err(|e| invalid(format!("text_to_image: {e}")))?;
                serde_json::to_value(params)
            }
        };
        value.map(Some).map_err(|e| invalid(e.to_string()))
    }
}

/// A task to configure and submit. From the feature methods of [`Client`].
#[derive(Debug)]
#[must_use = "nothing is sent until `send()`"]
pub struct TaskRequest {
    client: Client,
    feature: Feature,
    inputs: Vec<(&'static str, Input)>,
    params: Params,
    output: Option<OutputFormat>,
}

/// The one action of a task; its id is echoed in the results.
const ACTION_ID: i64 = 0;

impl TaskRequest {
    /// The output format, among those the feature offers ([`Feature::outputs`]; checked in
    /// `send()`).
    pub fn output(mut self, format: OutputFormat) -> Self {
        self.output = Some(format);
        self
    }

    /// Checks the inputs against the feature's documented limits, uploads the local ones,
    /// waits for a task slot and submits. The submission is retried safely: it carries a
    /// `request_id` Perfect deduplicates, so a retry after a dropped connection never charges
    /// twice.
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
            output,
        } = self;
        let facts = feature.facts();
        if let Some(format) = output
            && !feature.outputs().contains(&format)
        {
            return Err(InputError::OutOfRange {
                field: "output",
                expected: format!("one of {}", facts.outputs.join(", ")),
                actual: format.to_string(),
            }
            .into());
        }
        let params = params.to_json()?;
        check_params(feature, params.as_ref())?;
        check_slots(feature, &inputs)?;
        // Check every local input before uploading any, so bad input costs nothing.
        let mut loaded = Vec::with_capacity(inputs.len());
        for (slot, input) in &inputs {
            loaded.push(match input {
                Input::Image(image) => {
                    let file = image.load().await?;
                    check_limits(feature, &file)?;
                    Some((*slot, file))
                }
                Input::File(_) => None,
            });
        }
        check_mask_size(&loaded)?;
        let mut ids: Vec<(&'static str, String)> = Vec::with_capacity(inputs.len());
        for ((slot, input), file) in inputs.iter().zip(&loaded) {
            let id = match (input, file) {
                (_, Some((_, file))) => client.upload_loaded(feature, file).await?,
                (Input::File(id), None) => id.clone(),
                (Input::Image(_), None) => unreachable!("every image input was loaded above"),
            };
            ids.push((slot, id));
        }
        Ok(PreparedTask {
            client,
            feature,
            ids,
            params,
            output,
        })
    }
}

/// A task whose inputs passed every check and are uploaded: what is left is the run-task
/// call. Perfect charges a task only when it succeeds, but a caller still needs to tell a
/// failure before the run (nothing can be charged) from one after it (the task may run on).
pub(crate) struct PreparedTask {
    client: Client,
    feature: Feature,
    ids: Vec<(&'static str, String)>,
    params: Option<Value>,
    output: Option<OutputFormat>,
}

impl PreparedTask {
    /// Waits for a task slot and submits (retried as [`TaskRequest::send`] says).
    pub(crate) async fn submit(self) -> Result<Task, Error> {
        let PreparedTask {
            client,
            feature,
            ids,
            params,
            output,
        } = self;
        let facts = feature.facts();
        crate::activity::report(crate::activity::Activity::Queued);
        let slot = client.inner.budget.task_slot().await;
        crate::activity::report(crate::activity::Activity::Processing);
        let request_id = client.inner.next_request_id.fetch_add(1, Ordering::Relaxed);
        let body = run_body(facts, request_id, &ids, params, output);
        let api = &client.inner.api;
        let answer = client
            .inner
            .core
            .call("run_task", Safety::Idempotent, || {
                feature.run_task(api, body.clone())
            })
            .await?
            .into_inner();
        let task_id = answer.result.task_id;
        tracing::info!(provider = %PROVIDER, feature = feature.name(), job_id = %task_id, request_id, "task submitted");
        Ok(Task {
            client,
            feature,
            id: task_id,
            request_id: Some(request_id),
            slot: std::sync::Mutex::new(Some(slot)),
        })
    }
}

/// The settings must be exactly those the spec gives the feature's action.
fn check_params(feature: Feature, params: Option<&Value>) -> Result<(), Error> {
    let mut given: Vec<&str> = params
        .and_then(Value::as_object)
        .map(|map| map.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut expected: Vec<&str> = feature.facts().params.to_vec();
    given.sort_unstable();
    expected.sort_unstable();
    if given == expected {
        return Ok(());
    }
    Err(Error::Unsupported {
        provider: PROVIDER,
        option: format!("run {feature} with settings {given:?}"),
        reason: format!("the spec gives it {expected:?}"),
    })
}

/// Every input names a slot of the feature, and every slot that needs a file has one.
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
        if given < slot.min || slot.max.is_some_and(|max| given > max) {
            return Err(InputError::OutOfRange {
                field: "files",
                expected: format!(
                    "{} to {} `{}` files",
                    slot.min,
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

/// A mask must have exactly its image's size.
fn check_mask_size(loaded: &[Option<(&'static str, Loaded)>]) -> Result<(), Error> {
    let size = |name: &str| {
        loaded
            .iter()
            .flatten()
            .find(|(slot, _)| *slot == name)
            .map(|(_, file)| (file.info.width, file.info.height))
    };
    if let (Some(image), Some(mask)) = (size("src"), size("mask"))
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

/// The run-task request: the envelope every feature of this API shares, filled with the
/// feature's slots, settings and output format. The dispatch checks it against the feature's
/// generated body type before sending.
fn run_body(
    facts: &FeatureFacts,
    request_id: i64,
    ids: &[(&'static str, String)],
    params: Option<Value>,
    output: Option<OutputFormat>,
) -> Value {
    let mut file_sets = Map::new();
    for slot in facts.inputs {
        let slot_ids: Vec<&String> = ids
            .iter()
            .filter(|(name, _)| *name == slot.name)
            .map(|(_, id)| id)
            .collect();
        if !slot_ids.is_empty() {
            file_sets.insert(slot.id_field.to_string(), json!(slot_ids));
        }
    }
    let mut action = json!({ "id": ACTION_ID });
    if let Some(params) = params {
        action["params"] = params;
    }
    let mut payload = json!({ "actions": [action] });
    if !facts.inputs.is_empty() {
        payload["file_sets"] = Value::Object(file_sets);
    }
    let output = output
        .map(OutputFormat::as_str)
        .or(facts.default_output)
        .or_else(|| (facts.outputs.len() == 1).then(|| facts.outputs[0]));
    if let Some(output) = output {
        payload["output_ext"] = json!(output);
    }
    json!({ "request_id": request_id, "payload": payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_gets_a_body_its_generated_type_accepts() {
        for feature in Feature::ALL {
            let facts = feature.facts();
            let ids: Vec<(&'static str, String)> = facts
                .inputs
                .iter()
                .flat_map(|slot| {
                    std::iter::repeat_n((slot.name, format!("{}-id", slot.name)), slot.min.max(1))
                })
                .collect();
            let params = match facts.params {
                [] => Params::None,
                ["scale"] => Params::Scale(Scale::X2),
                names if names.contains(&"prompt") => Params::Prompt(
                    "a fox".into(),
                    StyleChoice {
                        group_id: 1,
                        style_id: 2,
                    },
                ),
                _ => Params::Style(StyleChoice {
                    group_id: 1,
                    style_id: 2,
                }),
            };
            let params = params.to_json().unwrap();
            check_params(*feature, params.as_ref()).unwrap();
            let body = run_body(facts, 7, &ids, params, feature.outputs().last().copied());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            // An unreachable server: the body must pass the generated type and fail only on
            // the connection.
            let client = api::Client::new_with_client(
                "http://127.0.0.1:9",
                reqwest::Client::new(),
                pixmill_spec::hooks::RequestHooks::default(),
            );
            let error = runtime
                .block_on(feature.run_task(&client, body.clone()))
                .unwrap_err();
            assert!(
                matches!(error, progenitor_client::Error::CommunicationError(_)),
                "{feature}: {error:?} for {body}"
            );
        }
    }

    #[test]
    fn settings_and_slots_must_match_the_spec() {
        let style = Params::Style(StyleChoice {
            group_id: 1,
            style_id: 2,
        })
        .to_json()
        .unwrap();
        assert!(check_params(Feature::Enhance, style.as_ref()).is_err());
        assert!(check_params(Feature::Colorize, None).is_ok());
        let error = check_slots(Feature::Colorize, &[("mask", Input::file("x"))]).unwrap_err();
        assert!(matches!(error, Error::Unsupported { .. }), "{error:?}");
        let error = check_slots(Feature::MakeupTransfer, &[("src", Input::file("x"))]).unwrap_err();
        assert!(error.to_string().contains("`ref` files"), "{error}");
    }

    #[test]
    fn the_loss_window_is_the_documented_one() {
        let documented = Feature::HairStyle.facts().polling[0].lost_after;
        assert_eq!(task_loss_window(), documented);
    }

    #[test]
    fn debug_never_shows_the_credentials() {
        let builder = Client::builder()
            .client_id("id-visible-nowhere")
            .client_secret("secret-nowhere");
        let text = format!("{builder:?}");
        assert!(
            !text.contains("id-visible-nowhere") && !text.contains("secret-nowhere"),
            "{text}"
        );
    }
}
