//! Perfect Corp ("Perfect AI API 2.0"): token auth, presigned uploads, async tasks, style
//! catalogues, and a client-side rate budget.
//!
//! ```no_run
//! # async fn demo() -> pixmill::Result<()> {
//! use pixmill::perfect::{Client, Feature, Scale};
//! use futures_util::TryStreamExt as _;
//!
//! let client = Client::from_env()?; // PERFECT_CLIENT_ID, PERFECT_CLIENT_SECRET[, PERFECT_BASE_URL]
//! let output = client.enhance("portrait.jpg", Scale::X2).send().await?.wait().await?;
//! output.download_to("portrait-2x.jpg").await?;
//!
//! // A result feeds the next task without another upload.
//! let cutout = client.background_removal(output.first().unwrap()).send().await?.wait().await?;
//! cutout.download_to("cutout.png").await?;
//!
//! let groups: Vec<_> = client.style_groups(Feature::HairStyle).try_collect().await?;
//! # let _ = groups; Ok(()) }
//! ```
//!
//! What the client takes care of:
//!
//! - **Auth.** The `id_token` is built from the client id and secret (RSA PKCS#1 v1.5), the
//!   access token is cached, refreshed before its 2 hours run out and once on a 401;
//!   concurrent callers share one refresh.
//! - **No double charge.** Every task gets a `request_id` unique within the client; a retried
//!   run-task reuses it, and Perfect does not run (or charge) the same request twice.
//! - **The 10-second rule.** [`Task::wait`] polls at Perfect's `polling_interval` and never lets
//!   more than 7 s pass between polls (configurable with the loss window).
//! - **Rate budget.** Every request of a client and its clones passes one limiter for both
//!   documented limits (100 a minute per token, 100 per 5 minutes per IP), and tasks wait for a
//!   slot before submission when the budget could not keep more of them polled in time.

mod auth;
mod budget;
mod task;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt as _};
use pixmill_perfect_api as api;
use pixmill_spec::InputLimits;
use pixmill_spec::hooks::RequestHooks;
use progenitor_client::ResponseValue;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};

use crate::error::{Error, ErrorCode, Provider};
use crate::image::{ImageFormat, ImageInfo, ImageInput, InputError, Loaded};
use crate::retry::{Call, ErrorBody, Safety};
use crate::settings::{CommonBuilder, Settings, common_builder_methods, env};

pub use api::types::{Style, StyleGroup};
pub use budget::{RateLimit, RateLimits};
pub use task::{
    AgingInfo, EngineErrorCode, OutputFormat, ResultFile, Task, TaskOutput, TaskSnapshot,
    TaskStatus,
};

/// Perfect's production server.
pub const DEFAULT_BASE_URL: &str = "https://yce-api-01.perfectcorp.com";

/// How long Perfect keeps an unpolled task, per its document.
pub const TASK_LOSS_WINDOW: Duration = Duration::from_secs(10);

const PROVIDER: Provider = Provider::Perfect;

/// The features of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// AI Hairstyle Generator.
    HairStyle,
    /// AI Wig Generator.
    Wig,
    /// AI Hair Extension.
    HairExtension,
    /// AI Hair Bang Generator.
    HairBang,
    /// AI Hair Volume Generator.
    HairVolume,
    /// AI Aging Generator.
    Aging,
    /// AI Makeup Transfer.
    MakeupTransfer,
    /// AI Object Removal.
    ObjectRemoval,
    /// AI Photo Colorize.
    Colorize,
    /// AI Photo Background Removal.
    BackgroundRemoval,
    /// AI Photo Enhance.
    Enhance,
    /// AI Image Generator (text to image).
    TextToImage,
}

impl Feature {
    /// The name used in operation ids (`hair_style`, `background_removal`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Feature::HairStyle => "hair_style",
            Feature::Wig => "wig",
            Feature::HairExtension => "hair_extension",
            Feature::HairBang => "hair_bang",
            Feature::HairVolume => "hair_volume",
            Feature::Aging => "aging",
            Feature::MakeupTransfer => "makeup_transfer",
            Feature::ObjectRemoval => "object_removal",
            Feature::Colorize => "colorize",
            Feature::BackgroundRemoval => "background_removal",
            Feature::Enhance => "enhance",
            Feature::TextToImage => "text_to_image",
        }
    }

    /// The documented limits on this feature's input files (none for text to image).
    pub fn limits(self) -> Option<&'static InputLimits> {
        use api::limits::*;
        let sets = match self {
            Feature::HairStyle => HAIR_STYLE_CREATE_FILE,
            Feature::Wig => WIG_CREATE_FILE,
            Feature::HairExtension => HAIR_EXTENSION_CREATE_FILE,
            Feature::HairBang => HAIR_BANG_CREATE_FILE,
            Feature::HairVolume => HAIR_VOLUME_CREATE_FILE,
            Feature::Aging => AGING_CREATE_FILE,
            Feature::MakeupTransfer => MAKEUP_TRANSFER_CREATE_FILE,
            Feature::ObjectRemoval => OBJECT_REMOVAL_CREATE_FILE,
            Feature::Colorize => COLORIZE_CREATE_FILE,
            Feature::BackgroundRemoval => BACKGROUND_REMOVAL_CREATE_FILE,
            Feature::Enhance => ENHANCE_CREATE_FILE,
            Feature::TextToImage => &[],
        };
        sets.first()
    }

    /// Whether the feature has style groups and styles.
    pub fn has_styles(self) -> bool {
        matches!(
            self,
            Feature::HairStyle
                | Feature::Wig
                | Feature::HairExtension
                | Feature::HairBang
                | Feature::HairVolume
                | Feature::TextToImage
        )
    }

    fn outputs(self) -> &'static [OutputFormat] {
        match self {
            Feature::ObjectRemoval | Feature::Colorize | Feature::Enhance => {
                &[OutputFormat::Jpg, OutputFormat::Webp]
            }
            Feature::BackgroundRemoval => &[OutputFormat::Png, OutputFormat::Webp],
            _ => &[OutputFormat::Jpg],
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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

/// Enhancement scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scale {
    /// Same size, enhanced.
    X1,
    /// Twice the width and height.
    X2,
    /// Four times the width and height.
    X4,
}

impl Scale {
    fn factor(self) -> i32 {
        match self {
            Scale::X1 => 1,
            Scale::X2 => 2,
            Scale::X4 => 4,
        }
    }
}

/// A Perfect client. Cheap to clone; clones share the connection pool, the token, the rate
/// budget and the `request_id` sequence.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    api: api::Client,
    settings: Settings,
    tokens: Arc<auth::Tokens>,
    budget: Arc<budget::Budget>,
    next_request_id: AtomicI64,
    poll_gap: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("perfect::Client")
            .field("base_url", &self.inner.settings.base_url)
            .field("client_secret", &"[redacted]")
            .field("task_capacity", &self.inner.budget.capacity())
            .finish()
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
        let id = env("PERFECT_CLIENT_ID")
            .ok_or_else(|| Error::Config("PERFECT_CLIENT_ID is not set".into()))?;
        let secret = env("PERFECT_CLIENT_SECRET")
            .ok_or_else(|| Error::Config("PERFECT_CLIENT_SECRET is not set".into()))?;
        let mut builder = Client::builder().client_id(id).client_secret(secret);
        if let Some(url) = env("PERFECT_BASE_URL") {
            builder = builder.base_url(url);
        }
        builder.build()
    }

    /// A builder for every setting.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// How many tasks this client runs at once: as many as its rate budget can keep polled
    /// within the loss window. Further tasks wait in `send()` for a slot.
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
        self.request(Feature::HairStyle, vec![input.into()], Params::Style(style))
    }

    /// Wig try-on.
    pub fn wig(&self, input: impl Into<Input>, style: StyleChoice) -> TaskRequest {
        self.request(Feature::Wig, vec![input.into()], Params::Style(style))
    }

    /// Hair extension.
    pub fn hair_extension(&self, input: impl Into<Input>, style: StyleChoice) -> TaskRequest {
        self.request(
            Feature::HairExtension,
            vec![input.into()],
            Params::Style(style),
        )
    }

    /// Bangs.
    pub fn hair_bang(&self, input: impl Into<Input>, style: StyleChoice) -> TaskRequest {
        self.request(Feature::HairBang, vec![input.into()], Params::Style(style))
    }

    /// Hair volume.
    pub fn hair_volume(&self, input: impl Into<Input>, style: StyleChoice) -> TaskRequest {
        self.request(
            Feature::HairVolume,
            vec![input.into()],
            Params::Style(style),
        )
    }

    /// A series of the same face at different ages ([`TaskOutput::files`] with `res_age`,
    /// and [`TaskOutput::aging`]).
    pub fn aging(&self, input: impl Into<Input>) -> TaskRequest {
        self.request(Feature::Aging, vec![input.into()], Params::None)
    }

    /// Applies the makeup of `reference` to `input`.
    pub fn makeup_transfer(
        &self,
        input: impl Into<Input>,
        reference: impl Into<Input>,
    ) -> TaskRequest {
        self.request(
            Feature::MakeupTransfer,
            vec![input.into(), reference.into()],
            Params::None,
        )
    }

    /// Removes what the white part of `mask` covers; the mask must be exactly the image's size.
    pub fn object_removal(&self, input: impl Into<Input>, mask: impl Into<Input>) -> TaskRequest {
        self.request(
            Feature::ObjectRemoval,
            vec![input.into(), mask.into()],
            Params::None,
        )
    }

    /// Colourizes a black-and-white photo.
    pub fn colorize(&self, input: impl Into<Input>) -> TaskRequest {
        self.request(Feature::Colorize, vec![input.into()], Params::None)
    }

    /// Removes the background (PNG with transparency by default, or WebP).
    pub fn background_removal(&self, input: impl Into<Input>) -> TaskRequest {
        self.request(Feature::BackgroundRemoval, vec![input.into()], Params::None)
    }

    /// Enhances and upscales.
    pub fn enhance(&self, input: impl Into<Input>, scale: Scale) -> TaskRequest {
        self.request(Feature::Enhance, vec![input.into()], Params::Scale(scale))
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
            request_id: -1,
            slot: std::sync::Mutex::new(None),
        }
    }

    fn request(&self, feature: Feature, inputs: Vec<Input>, params: Params) -> TaskRequest {
        TaskRequest {
            client: self.clone(),
            feature,
            inputs,
            params,
            output: None,
        }
    }

    /// Runs an authenticated call: the token is fetched (and refreshed) first; a 401 drops it
    /// and the call is repeated once with a new one.
    async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        safety: Safety,
        mut send: F,
    ) -> Result<ResponseValue<T>, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<
                Output = Result<ResponseValue<T>, progenitor_client::Error<api::types::Error>>,
            >,
    {
        let call = Call {
            provider: PROVIDER,
            operation,
            safety,
        };
        let generation = self.inner.tokens.get().await?;
        match call.run(&self.inner.settings.retry, &mut send).await {
            Err(Error::Api { status: 401, .. }) => {
                self.inner.tokens.invalidate(generation).await;
                self.inner.tokens.get().await?;
                call.run(&self.inner.settings.retry, &mut send).await
            }
            other => other,
        }
    }

    /// Uploads an image for `feature` after checking its documented limits; returns the
    /// `file_id`. Creating the file is free and the upload overwrites itself, so both are
    /// retried on 429, 5xx and connection failures.
    pub async fn upload(&self, feature: Feature, input: &ImageInput) -> Result<String, Error> {
        let loaded = input.load().await?;
        self.check_limits(feature, &loaded.info)?;
        self.upload_loaded(feature, &loaded).await
    }

    fn check_limits(&self, feature: Feature, info: &ImageInfo) -> Result<(), Error> {
        let operation = "create_file";
        if let Some(limits) = feature.limits() {
            info.check(operation, limits, 1)?;
        }
        Ok(())
    }

    async fn upload_loaded(&self, feature: Feature, loaded: &Loaded) -> Result<String, Error> {
        let mime = match (feature, loaded.info.format) {
            (_, ImageFormat::Jpeg) => "image/jpeg",
            (_, ImageFormat::Png) => "image/png",
            (Feature::MakeupTransfer, ImageFormat::Tiff) => "image/tiff",
            (Feature::MakeupTransfer, ImageFormat::Gif) => "image/gif",
            (_, other) => {
                return Err(InputError::Unsupported(format!(
                    "Perfect's {feature} upload does not take {other} files"
                ))
                .into());
            }
        };
        let name = loaded.file_name.clone();
        let api = &self.inner.api;
        let answer = self
            .call("create_file", Safety::Idempotent, || {
                let name = name.clone();
                async move {
                    if feature == Feature::MakeupTransfer {
                        let content_type = serde_json::from_value(serde_json::Value::from(mime))
                            .map_err(|e| progenitor_client::Error::InvalidRequest(e.to_string()))?;
                        let body = api::types::MakeupTransferCreateFileRequest {
                            files: vec![api::types::MakeupTransferFileRequest {
                                content_type,
                                file_name: name,
                            }],
                        };
                        return api.makeup_transfer_create_file().body(body).send().await;
                    }
                    let content_type = serde_json::from_value(serde_json::Value::from(mime))
                        .map_err(|e| progenitor_client::Error::InvalidRequest(e.to_string()))?;
                    let body = api::types::CreateFileRequest {
                        files: vec![api::types::FileRequest {
                            content_type,
                            file_name: name,
                        }],
                    };
                    match feature {
                        Feature::HairStyle => api.hair_style_create_file().body(body).send().await,
                        Feature::Wig => api.wig_create_file().body(body).send().await,
                        Feature::HairExtension => {
                            api.hair_extension_create_file().body(body).send().await
                        }
                        Feature::HairBang => api.hair_bang_create_file().body(body).send().await,
                        Feature::HairVolume => {
                            api.hair_volume_create_file().body(body).send().await
                        }
                        Feature::Aging => api.aging_create_file().body(body).send().await,
                        Feature::ObjectRemoval => {
                            api.object_removal_create_file().body(body).send().await
                        }
                        Feature::Colorize => api.colorize_create_file().body(body).send().await,
                        Feature::BackgroundRemoval => {
                            api.background_removal_create_file().body(body).send().await
                        }
                        Feature::Enhance => api.enhance_create_file().body(body).send().await,
                        Feature::MakeupTransfer | Feature::TextToImage => {
                            Err(progenitor_client::Error::InvalidRequest(format!(
                                "{feature} takes no uploaded file"
                            )))
                        }
                    }
                }
            })
            .await?
            .into_inner();
        let file =
            answer
                .result
                .files
                .into_iter()
                .next()
                .ok_or_else(|| Error::InvalidResponse {
                    provider: PROVIDER,
                    operation: "create_file",
                    status: Some(200),
                    reason: "no file in the answer".into(),
                    excerpt: String::new(),
                })?;
        let request = file
            .requests
            .first()
            .ok_or_else(|| Error::InvalidResponse {
                provider: PROVIDER,
                operation: "create_file",
                status: Some(200),
                reason: "no upload request in the answer".into(),
                excerpt: String::new(),
            })?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            Error::InvalidResponse {
                provider: PROVIDER,
                operation: "create_file",
                status: Some(200),
                reason: format!("`{}` is not an HTTP method", request.method),
                excerpt: String::new(),
            }
        })?;
        let http = &self.inner.settings.http;
        // Exactly the returned headers: the upload URL is signed for them. Repeating the upload
        // overwrites the same file, so it is retried like a read.
        Call {
            provider: PROVIDER,
            operation: "upload",
            safety: Safety::Idempotent,
        }
        .run_plain(&self.inner.settings.retry, || {
            let mut upload = http
                .request(method.clone(), &request.url)
                .body(loaded.bytes.clone());
            for (name, value) in &request.headers {
                upload = upload.header(name.as_str(), value.as_str());
            }
            upload.send()
        })
        .await?;
        Ok(file.file_id)
    }

    pub(crate) async fn check_status(
        &self,
        feature: Feature,
        task_id: &str,
    ) -> Result<TaskSnapshot, Error> {
        // The error type is the generated client's; it is converted right after.
        #[allow(clippy::result_large_err)]
        fn snapshot<T: Into<TaskSnapshot>>(
            answer: Result<ResponseValue<T>, progenitor_client::Error<api::types::Error>>,
        ) -> Result<ResponseValue<TaskSnapshot>, progenitor_client::Error<api::types::Error>>
        {
            answer.map(|value| {
                let status = value.status();
                let headers = value.headers().clone();
                ResponseValue::new(value.into_inner().into(), status, headers)
            })
        }
        let api = &self.inner.api;
        let answer = self
            .call("check_status", Safety::Idempotent, || async move {
                match feature {
                    Feature::HairStyle => snapshot(
                        api.hair_style_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                    Feature::Wig => snapshot(
                        api.wig_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                    Feature::HairExtension => snapshot(
                        api.hair_extension_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                    Feature::HairBang => snapshot(
                        api.hair_bang_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                    Feature::HairVolume => snapshot(
                        api.hair_volume_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                    Feature::Aging => snapshot(
                        api.aging_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                    Feature::MakeupTransfer => snapshot(
                        api.makeup_transfer_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                    Feature::ObjectRemoval => snapshot(
                        api.object_removal_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                    Feature::Colorize => snapshot(
                        api.colorize_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                    Feature::BackgroundRemoval => snapshot(
                        api.background_removal_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                    Feature::Enhance => snapshot(
                        api.enhance_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                    Feature::TextToImage => snapshot(
                        api.text_to_image_check_status()
                            .task_id(task_id)
                            .send()
                            .await
                            .map(|v| map(v, |r| r.result)),
                    ),
                }
            })
            .await?;
        Ok(answer.into_inner())
    }

    /// Every style group of `feature`, page by page (20 per page), as a stream. Each page is a
    /// read: retried on 429, 5xx and connection failures.
    pub fn style_groups(&self, feature: Feature) -> BoxStream<'_, Result<StyleGroup, Error>> {
        self.pages(feature, move |client, token| async move {
            let api = &client.inner.api;
            let answer = client
                .call("list_style_groups", Safety::Idempotent, || {
                    let token = token.clone();
                    async move {
                        macro_rules! list {
                            ($method:ident) => {{
                                let mut request = api.$method().page_size(PAGE_SIZE);
                                if let Some(token) = &token {
                                    request = request.starting_token(token);
                                }
                                request.send().await
                            }};
                        }
                        match feature {
                            Feature::HairStyle => list!(hair_style_list_style_groups),
                            Feature::Wig => list!(wig_list_style_groups),
                            Feature::HairExtension => list!(hair_extension_list_style_groups),
                            Feature::HairBang => list!(hair_bang_list_style_groups),
                            Feature::HairVolume => list!(hair_volume_list_style_groups),
                            Feature::TextToImage => list!(text_to_image_list_style_groups),
                            other => Err(progenitor_client::Error::InvalidRequest(format!(
                                "{other} has no style catalogue"
                            ))),
                        }
                    }
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
                .call("list_styles", Safety::Idempotent, || {
                    let token = token.clone();
                    async move {
                        macro_rules! list {
                            ($method:ident) => {{
                                let mut request = api.$method().page_size(PAGE_SIZE);
                                if let Some(token) = &token {
                                    request = request.starting_token(token);
                                }
                                if let Some(group) = group_id {
                                    request = request.style_group_id(group);
                                }
                                request.send().await
                            }};
                        }
                        match feature {
                            Feature::HairStyle => list!(hair_style_list_styles),
                            Feature::Wig => list!(wig_list_styles),
                            Feature::HairExtension => list!(hair_extension_list_styles),
                            Feature::HairBang => list!(hair_bang_list_styles),
                            Feature::HairVolume => list!(hair_volume_list_styles),
                            Feature::TextToImage => list!(text_to_image_list_styles),
                            other => Err(progenitor_client::Error::InvalidRequest(format!(
                                "{other} has no style catalogue"
                            ))),
                        }
                    }
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
                if !feature.has_styles() {
                    return Err(Error::Config(format!("{feature} has no style catalogue")));
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
        futures_util::TryStreamExt::map_ok(pages, |items| {
            futures_util::stream::iter(items.into_iter().map(Ok))
        })
        .try_flatten_items()
        .boxed()
    }
}

/// Page size for catalogue listings: the documented maximum.
const PAGE_SIZE: u32 = 20;

fn map<T, U>(value: ResponseValue<T>, f: impl FnOnce(T) -> U) -> ResponseValue<U> {
    let status = value.status();
    let headers = value.headers().clone();
    ResponseValue::new(f(value.into_inner()), status, headers)
}

trait TryFlattenItems<T>: Sized {
    fn try_flatten_items(self) -> impl Stream<Item = Result<T, Error>>;
}

impl<S, I, T> TryFlattenItems<T> for S
where
    S: Stream<Item = Result<I, Error>>,
    I: Stream<Item = Result<T, Error>>,
{
    fn try_flatten_items(self) -> impl Stream<Item = Result<T, Error>> {
        futures_util::TryStreamExt::try_flatten(self)
    }
}

impl ErrorBody for api::types::Error {
    fn code_and_message(&self) -> (Option<ErrorCode>, String) {
        (
            self.error_code.clone().map(ErrorCode::Perfect),
            self.error.clone().unwrap_or_default(),
        )
    }
}

/// What a feature needs besides its files.
#[derive(Clone, Debug)]
enum Params {
    None,
    Style(StyleChoice),
    Scale(Scale),
    Prompt(String, StyleChoice),
}

/// A task to configure and submit. From the feature methods of [`Client`].
#[derive(Debug)]
#[must_use = "nothing is sent until `send()`"]
pub struct TaskRequest {
    client: Client,
    feature: Feature,
    inputs: Vec<Input>,
    params: Params,
    output: Option<OutputFormat>,
}

impl TaskRequest {
    /// The output format, among those the feature offers (checked in `send()`).
    pub fn output(mut self, format: OutputFormat) -> Self {
        self.output = Some(format);
        self
    }

    /// Checks the inputs against the feature's documented limits, uploads the local ones,
    /// waits for a task slot and submits. The submission is retried safely: it carries a
    /// `request_id` Perfect deduplicates, so a retry after a dropped connection never charges
    /// twice.
    pub async fn send(self) -> Result<Task, Error> {
        let TaskRequest {
            client,
            feature,
            inputs,
            params,
            output,
        } = self;
        if let Some(format) = output
            && !feature.outputs().contains(&format)
        {
            return Err(InputError::OutOfRange {
                field: "output",
                expected: format!(
                    "one of {}",
                    feature
                        .outputs()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                actual: format.to_string(),
            }
            .into());
        }
        if let Params::Prompt(prompt, _) = &params
            && prompt.trim().is_empty()
        {
            return Err(InputError::OutOfRange {
                field: "prompt",
                expected: "a non-empty text".into(),
                actual: "an empty text".into(),
            }
            .into());
        }
        // Check every local input before uploading any, so bad input costs nothing.
        let mut loaded = Vec::with_capacity(inputs.len());
        for input in &inputs {
            loaded.push(match input {
                Input::Image(image) => {
                    let file = image.load().await?;
                    client.check_limits(feature, &file.info)?;
                    Some(file)
                }
                Input::File(_) => None,
            });
        }
        if feature == Feature::ObjectRemoval
            && let [Some(image), Some(mask)] = loaded.as_slice()
            && (image.info.width, image.info.height) != (mask.info.width, mask.info.height)
        {
            return Err(InputError::OutOfRange {
                field: "mask",
                expected: format!(
                    "the image's size, {}x{}",
                    image.info.width, image.info.height
                ),
                actual: format!("{}x{}", mask.info.width, mask.info.height),
            }
            .into());
        }
        let mut ids = Vec::with_capacity(inputs.len());
        for (input, file) in inputs.iter().zip(&loaded) {
            ids.push(match (input, file) {
                (_, Some(file)) => client.upload_loaded(feature, file).await?,
                (Input::File(id), None) => id.clone(),
                (Input::Image(_), None) => unreachable!("every image input was loaded above"),
            });
        }
        let slot = client.inner.budget.task_slot().await;
        let request_id = client.inner.next_request_id.fetch_add(1, Ordering::Relaxed);
        let body = RunBody::new(feature, request_id, &ids, &params, output)?;
        let api = &client.inner.api;
        let answer = client
            .call("run_task", Safety::Idempotent, || body.send(api))
            .await?
            .into_inner();
        let task_id = answer.result.task_id;
        tracing::info!(provider = %PROVIDER, feature = feature.name(), job_id = %task_id, request_id, "task submitted");
        Ok(Task {
            client: client.clone(),
            feature,
            id: task_id,
            request_id,
            slot: std::sync::Mutex::new(Some(slot)),
        })
    }
}

/// A run-task body, one variant per request type.
#[derive(Clone, Debug)]
enum RunBody {
    HairStyle(api::types::StyleRunTaskRequest),
    Wig(api::types::StyleRunTaskRequest),
    HairExtension(api::types::HairEditRunTaskRequest),
    HairBang(api::types::HairEditRunTaskRequest),
    HairVolume(api::types::HairEditRunTaskRequest),
    Aging(api::types::AgingRunTaskRequest),
    MakeupTransfer(api::types::MakeupTransferRunTaskRequest),
    ObjectRemoval(api::types::ObjectRemovalRunTaskRequest),
    Colorize(api::types::ColorizeRunTaskRequest),
    BackgroundRemoval(api::types::BackgroundRemovalRunTaskRequest),
    Enhance(api::types::EnhanceRunTaskRequest),
    TextToImage(api::types::TextToImageRunTaskRequest),
}

/// The one action of a task; its id is echoed in the results.
const ACTION_ID: i32 = 0;

impl RunBody {
    fn new(
        feature: Feature,
        request_id: i64,
        ids: &[String],
        params: &Params,
        output: Option<OutputFormat>,
    ) -> Result<RunBody, Error> {
        use api::types as t;
        let first = || ids.first().cloned().unwrap_or_default();
        let second = || ids.get(1).cloned().unwrap_or_default();
        let style = |choice: &StyleChoice| t::StyleAction {
            id: ACTION_ID,
            params: t::StyleParams {
                style_group_id: choice.group_id,
                style_ids: [choice.style_id],
            },
        };
        let plain = [t::Action { id: ACTION_ID }];
        let jpg_webp = match output {
            Some(OutputFormat::Webp) => Some(t::JpgWebpOutputExt::Webp),
            Some(_) => Some(t::JpgWebpOutputExt::Jpg),
            None => None,
        };
        Ok(match (feature, params) {
            (Feature::HairStyle | Feature::Wig, Params::Style(choice)) => {
                let body = t::StyleRunTaskRequest {
                    request_id,
                    payload: t::StyleTaskPayload {
                        actions: [style(choice)],
                        file_sets: t::SingleSourceFileSet { src_ids: [first()] },
                        output_ext: None,
                    },
                };
                if feature == Feature::Wig {
                    RunBody::Wig(body)
                } else {
                    RunBody::HairStyle(body)
                }
            }
            (
                Feature::HairExtension | Feature::HairBang | Feature::HairVolume,
                Params::Style(choice),
            ) => {
                let body = t::HairEditRunTaskRequest {
                    request_id,
                    payload: t::HairEditTaskPayload {
                        actions: [style(choice)],
                        file_sets: t::SourceFileSet {
                            src_ids: vec![first()],
                        },
                        output_ext: None,
                    },
                };
                match feature {
                    Feature::HairExtension => RunBody::HairExtension(body),
                    Feature::HairBang => RunBody::HairBang(body),
                    _ => RunBody::HairVolume(body),
                }
            }
            (Feature::Aging, _) => RunBody::Aging(t::AgingRunTaskRequest {
                request_id,
                payload: t::AgingTaskPayload {
                    actions: plain.clone(),
                    file_sets: t::SingleSourceFileSet { src_ids: [first()] },
                    output_ext: None,
                },
            }),
            (Feature::MakeupTransfer, _) => {
                RunBody::MakeupTransfer(t::MakeupTransferRunTaskRequest {
                    request_id,
                    payload: t::MakeupTransferTaskPayload {
                        actions: plain.clone(),
                        file_sets: t::MakeupTransferFileSet {
                            src_ids: [first()],
                            ref_ids: [second()],
                        },
                        output_ext: None,
                    },
                })
            }
            (Feature::ObjectRemoval, _) => RunBody::ObjectRemoval(t::ObjectRemovalRunTaskRequest {
                request_id,
                payload: t::ObjectRemovalTaskPayload {
                    actions: plain.clone(),
                    file_sets: t::ObjectRemovalFileSet {
                        src_ids: vec![first()],
                        mask_ids: vec![second()],
                    },
                    output_ext: jpg_webp,
                },
            }),
            (Feature::Colorize, _) => RunBody::Colorize(t::ColorizeRunTaskRequest {
                request_id,
                payload: t::ColorizeTaskPayload {
                    actions: plain.clone(),
                    file_sets: t::SourceFileSet {
                        src_ids: vec![first()],
                    },
                    output_ext: jpg_webp,
                },
            }),
            (Feature::BackgroundRemoval, _) => {
                RunBody::BackgroundRemoval(t::BackgroundRemovalRunTaskRequest {
                    request_id,
                    payload: t::BackgroundRemovalTaskPayload {
                        actions: plain.clone(),
                        file_sets: t::SourceFileSet {
                            src_ids: vec![first()],
                        },
                        output_ext: Some(match output {
                            Some(OutputFormat::Webp) => t::PngWebpOutputExt::Webp,
                            _ => t::PngWebpOutputExt::Png,
                        }),
                    },
                })
            }
            (Feature::Enhance, Params::Scale(scale)) => {
                RunBody::Enhance(t::EnhanceRunTaskRequest {
                    request_id,
                    payload: t::EnhanceTaskPayload {
                        actions: [t::EnhanceAction {
                            id: ACTION_ID,
                            params: t::EnhanceParams {
                                scale: scale
                                    .factor()
                                    .try_into()
                                    .map_err(|e| Error::Config(format!("enhance scale: {e}")))?,
                            },
                        }],
                        file_sets: t::SourceFileSet {
                            src_ids: vec![first()],
                        },
                        output_ext: jpg_webp,
                    },
                })
            }
            (Feature::TextToImage, Params::Prompt(prompt, choice)) => {
                RunBody::TextToImage(t::TextToImageRunTaskRequest {
                    request_id,
                    payload: t::TextToImageTaskPayload {
                        actions: [t::TextToImageAction {
                            id: ACTION_ID,
                            params: t::TextToImageParams {
                                prompt: prompt.clone(),
                                style_group_id: choice.group_id,
                                style_ids: [choice.style_id],
                            },
                        }],
                        output_ext: None,
                    },
                })
            }
            (feature, params) => {
                return Err(Error::Config(format!(
                    "{feature} cannot run with {params:?}"
                )));
            }
        })
    }

    async fn send(
        &self,
        api: &api::Client,
    ) -> Result<
        ResponseValue<api::types::TaskIdResponse>,
        progenitor_client::Error<api::types::Error>,
    > {
        match self.clone() {
            RunBody::HairStyle(b) => api.hair_style_run_task().body(b).send().await,
            RunBody::Wig(b) => api.wig_run_task().body(b).send().await,
            RunBody::HairExtension(b) => api.hair_extension_run_task().body(b).send().await,
            RunBody::HairBang(b) => api.hair_bang_run_task().body(b).send().await,
            RunBody::HairVolume(b) => api.hair_volume_run_task().body(b).send().await,
            RunBody::Aging(b) => api.aging_run_task().body(b).send().await,
            RunBody::MakeupTransfer(b) => api.makeup_transfer_run_task().body(b).send().await,
            RunBody::ObjectRemoval(b) => api.object_removal_run_task().body(b).send().await,
            RunBody::Colorize(b) => api.colorize_run_task().body(b).send().await,
            RunBody::BackgroundRemoval(b) => api.background_removal_run_task().body(b).send().await,
            RunBody::Enhance(b) => api.enhance_run_task().body(b).send().await,
            RunBody::TextToImage(b) => api.text_to_image_run_task().body(b).send().await,
        }
    }
}

/// Builds a [`Client`].
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
///         per_token: Some(RateLimit::new(100, Duration::from_secs(60))),
///         per_ip: None, // behind a pool of egress addresses
///     });
/// # let _ = builder;
/// ```
#[derive(Clone, Default)]
pub struct ClientBuilder {
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    token_lifetime: Option<Duration>,
    rate_limits: Option<RateLimits>,
    loss_window: Option<Duration>,
    common: CommonBuilder,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("perfect::ClientBuilder")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("rate_limits", &self.rate_limits)
            .field("common", &self.common)
            .finish()
    }
}

impl ClientBuilder {
    /// The client id (Perfect's "API key").
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// The client secret: a base64 DER SubjectPublicKeyInfo RSA public key.
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// How long an access token lasts (2 hours as documented); it is refreshed shortly before.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = Some(lifetime);
        self
    }

    /// The client-side rate budget (default: the documented limits).
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = Some(limits);
        self
    }

    /// How long Perfect keeps a task that is not polled ([`TASK_LOSS_WINDOW`]); polls are at
    /// most 70% of it apart.
    pub fn task_loss_window(mut self, window: Duration) -> Self {
        self.loss_window = Some(window);
        self
    }

    common_builder_methods!();

    /// Builds the client. Fails without a client id and secret, or with a secret that is not
    /// an RSA public key.
    pub fn build(self) -> Result<Client, Error> {
        let client_id = self
            .client_id
            .ok_or_else(|| Error::Config("a Perfect client id is required".into()))?;
        let secret = self
            .client_secret
            .ok_or_else(|| Error::Config("a Perfect client secret is required".into()))?;
        let key = auth::public_key(&secret)?;
        let settings = self.common.settings(DEFAULT_BASE_URL)?;
        let poll_gap = self.loss_window.unwrap_or(TASK_LOSS_WINDOW).mul_f64(0.7);
        let budget = Arc::new(budget::Budget::new(
            self.rate_limits.unwrap_or_default(),
            poll_gap,
        ));

        // The token exchange has no bearer, but counts against the per-IP budget.
        let auth_budget = budget.clone();
        let auth_hooks = RequestHooks::with_headers(move || {
            let budget = auth_budget.clone();
            Box::pin(async move {
                budget.request().await;
                Ok(HeaderMap::new())
            })
        });
        let auth_api =
            api::Client::new_with_client(&settings.base_url, settings.http.clone(), auth_hooks);
        let tokens = Arc::new(auth::Tokens::new(
            auth_api,
            client_id,
            key,
            self.token_lifetime
                .unwrap_or(Duration::from_secs(2 * 60 * 60)),
            settings.retry.clone(),
        ));

        let hook_tokens = tokens.clone();
        let hook_budget = budget.clone();
        let hooks = RequestHooks::with_headers(move || {
            let tokens = hook_tokens.clone();
            let budget = hook_budget.clone();
            Box::pin(async move {
                budget.request().await;
                let token = tokens
                    .current()
                    .ok_or_else(|| "no access token yet".to_string())?;
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                    .map_err(|_| "the access token is not a valid header value".to_string())?;
                value.set_sensitive(true);
                let mut headers = HeaderMap::new();
                headers.insert(AUTHORIZATION, value);
                Ok(headers)
            })
        });
        let api = api::Client::new_with_client(&settings.base_url, settings.http.clone(), hooks);
        // Starting from the clock keeps ids increasing across restarts of the same client id.
        let first_request_id = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Ok(Client {
            inner: Arc::new(Inner {
                api,
                settings,
                tokens,
                budget,
                next_request_id: AtomicI64::new(first_request_id),
                poll_gap,
            }),
        })
    }
}
