//! HitPaw: photo enhancement and image segmentation as async jobs.
//!
//! ```no_run
//! # async fn demo() -> pixmill::Result<()> {
//! use pixmill::hitpaw::{Client, Model};
//!
//! let client = Client::from_env()?; // HITPAW_API_KEY, and HITPAW_BASE_URL when set
//! let job = client.enhance("portrait.jpg").model(Model::General2x).send().await?;
//! let output = job.wait().await?;
//! output.result().save("portrait-2x.jpg").await?;
//!
//! let cutout = client.segment("product.png").send().await?.wait().await?;
//! cutout.result().save("cutout.png").await?;
//! cutout.mask()?.save("mask.png").await?;
//! # Ok(()) }
//! ```
//!
//! Local files and bytes are uploaded through HitPaw's presigned upload first, so a path is
//! all a caller needs; URLs are passed to HitPaw as they are.
//!
//! # Polling
//!
//! [`Job::wait`] keeps to the cadence HitPaw documents (the spec's `x-polling`): every 5 to
//! 10 seconds for enhancement jobs, every 2 to 5 seconds for segmentation jobs, starting at
//! the shorter interval and growing towards the longer one, with jitter so jobs submitted
//! together do not poll in step. A status HitPaw does not document keeps the job polling until
//! a known final status or the deadline (10 minutes unless the client's [`PollPolicy`] says
//! otherwise).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use pixmill_hitpaw_api as api;
use pixmill_spec::{InputLimits, Polling};
use reqwest::header::CONTENT_TYPE;

use crate::client::{Core, KeyConfig, KeyedService, sealed};
use crate::error::{Error, ErrorCode as AnyCode, Provider};
use crate::image::{ImageFormat, ImageInput, InputError, Loaded};
use crate::output::Output;
use crate::poll::{Poll, PollPolicy, Poller};
use crate::retry::{ErrorBody, Safety};

pub use api::error_codes::ErrorResponseCode as ErrorCode;
pub use api::types::JobStatus;
pub use api::types::PhotoEnhancerRequestModelName as Model;

const PROVIDER: Provider = Provider::Hitpaw;

/// HitPaw as a [`KeyedService`]: its spec's server and auth header, its variables.
#[derive(Debug)]
pub struct Service;

impl sealed::Sealed for Service {}

impl KeyedService for Service {
    const PROVIDER: Provider = PROVIDER;
    const KEY_VAR: &'static str = "HITPAW_API_KEY";
    const BASE_URL_VAR: &'static str = "HITPAW_BASE_URL";
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

/// Builds a HitPaw [`Client`] (see [`crate::ClientBuilder`]).
pub type ClientBuilder = crate::ClientBuilder<KeyConfig<Service>>;

/// A HitPaw client. Cheap to clone; clones share one connection pool.
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
        self.inner.core.debug(f, "hitpaw::Client")
    }
}

impl Client {
    /// A client for the production API with default settings.
    pub fn new(api_key: impl Into<String>) -> Result<Client, Error> {
        Client::builder().api_key(api_key).build()
    }

    /// A client configured from `HITPAW_API_KEY` and, when set, `HITPAW_BASE_URL`.
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

    /// Starts an enhancement of `input` (a path, bytes or URL). Configure it, then `send()`.
    pub fn enhance(&self, input: impl Into<ImageInput>) -> EnhanceRequest {
        EnhanceRequest {
            client: self.clone(),
            input: input.into(),
            model: Model::General2x,
            dpi: None,
            exif: false,
            extension: None,
        }
    }

    /// Starts a segmentation (subject cut-out) of `input`. Call `send()` to submit it.
    pub fn segment(&self, input: impl Into<ImageInput>) -> SegmentRequest {
        SegmentRequest {
            client: self.clone(),
            input: input.into(),
        }
    }

    /// A handle for a job submitted earlier (for example by another process).
    pub fn job(&self, job_id: impl Into<String>) -> Job {
        Job {
            client: self.clone(),
            id: job_id.into(),
            coins: None,
            started_by: None,
        }
    }

    /// Uploads `input` through the presigned upload and returns the URL HitPaw can read it
    /// from. URLs are returned unchanged.
    ///
    /// Retried like a status query (429, 5xx, connection failures): presigning is free and the
    /// upload overwrites itself.
    pub async fn upload(&self, input: &ImageInput) -> Result<String, Error> {
        if let Some(url) = input.url() {
            return Ok(url.to_string());
        }
        let loaded = input.load().await?;
        self.upload_loaded(&loaded).await
    }

    async fn upload_loaded(&self, loaded: &Loaded) -> Result<String, Error> {
        crate::activity::report(crate::activity::Activity::Uploading);
        let body = api::types::PresignPutRequest::builder()
            .content_type(presign_type(loaded.info.format)?)
            .expire_seconds(api::constants::presign_put_request::EXPIRE_SECONDS_DEFAULT)
            .filename(loaded.file_name.clone());
        let body = api::types::PresignPutRequest::try_from(body)
            .map_err(|e| InputError::Request(format!("presign_put: {e}")))?;
        let core = &self.inner.core;
        let presigned = core
            .call("presign_put", Safety::Idempotent, || {
                self.inner.api.presign_put().body(body.clone()).send()
            })
            .await?
            .into_inner();
        envelope_ok(
            "presign_put",
            presigned.code,
            presigned.message.or(presigned.msg),
        )?;
        let upload = presigned.data;
        // The upload overwrites the same object, so repeating it is safe.
        core.send("upload", Safety::Idempotent, || {
            core.http()
                .put(&upload.upload_url)
                .header(CONTENT_TYPE, &upload.content_type)
                .body(loaded.bytes.clone())
        })
        .await?;
        Ok(upload.access_url)
    }
}

/// The upload type HitPaw's presigned upload accepts for a format.
fn presign_type(format: ImageFormat) -> Result<api::types::PresignPutRequestContentType, Error> {
    use api::constants::presign_put_request::CONTENT_TYPE_VALUES;
    CONTENT_TYPE_VALUES
        .iter()
        .find(|mime| format.matches_mime(mime))
        .and_then(|mime| mime.parse().ok())
        .ok_or_else(|| {
            InputError::Unsupported(format!(
                "HitPaw's upload takes {}; pass a URL for a {format} file",
                CONTENT_TYPE_VALUES.join(", ")
            ))
            .into()
        })
}

/// HitPaw answers some failures with HTTP 200 and a failure code in the envelope.
fn envelope_ok(operation: &'static str, code: i64, message: Option<String>) -> Result<(), Error> {
    if code == 200 || code == 0 {
        return Ok(());
    }
    Err(Error::Api {
        provider: PROVIDER,
        operation,
        status: 200,
        code: Some(AnyCode::Hitpaw(ErrorCode::from(code))),
        message: crate::error::clip(&message.unwrap_or_default()),
        retry_after: None,
    })
}

impl ErrorBody for api::types::ErrorResponse {
    fn code_and_message(&self) -> (Option<AnyCode>, String) {
        (
            Some(AnyCode::Hitpaw(ErrorCode::from(self.error_code))),
            self.message.clone(),
        )
    }
}

/// The scale a model's name promises (`general_2x` → 2).
pub fn model_scale(model: Model) -> u32 {
    let name = model.to_string();
    name.rsplit('_')
        .next()
        .and_then(|suffix| suffix.strip_suffix('x'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// The documented input limits that apply to `model`.
pub fn model_limits(model: Model) -> Option<&'static InputLimits> {
    InputLimits::select(
        api::limits::PHOTO_ENHANCER,
        "model_name",
        &model.to_string(),
    )
}

/// An enhancement to configure and submit. From [`Client::enhance`].
#[derive(Debug)]
#[must_use = "nothing is sent until `send()`"]
pub struct EnhanceRequest {
    client: Client,
    input: ImageInput,
    model: Model,
    dpi: Option<i64>,
    exif: bool,
    extension: Option<String>,
}

impl EnhanceRequest {
    /// The model (default [`Model::General2x`]); its suffix sets the output scale.
    pub fn model(mut self, model: Model) -> Self {
        self.model = model;
        self
    }

    /// DPI metadata of the output (pixels are not resampled; generative models ignore it).
    pub fn dpi(mut self, dpi: u32) -> Self {
        self.dpi = Some(i64::from(dpi));
        self
    }

    /// Keep the EXIF data of the input (default false).
    pub fn exif(mut self, keep: bool) -> Self {
        self.exif = keep;
        self
    }

    /// The `extension` to declare (default: the input's format, or the URL's extension).
    pub fn extension(mut self, extension: impl Into<String>) -> Self {
        let extension = extension.into();
        self.extension = Some(if extension.starts_with('.') {
            extension
        } else {
            format!(".{extension}")
        });
        self
    }

    /// Checks the input against the model's documented limits, uploads it if it is local, and
    /// submits the job. The submission spends coins, so it is retried only when HitPaw
    /// certainly did not receive it (429, 503, no connection).
    pub async fn send(self) -> Result<Job, Error> {
        self.prepare().await?.submit().await
    }

    /// Everything before the submission: checks and the upload. Nothing spends coins yet.
    pub(crate) async fn prepare(self) -> Result<Prepared<api::types::PhotoEnhancerRequest>, Error> {
        let EnhanceRequest {
            client,
            input,
            model,
            dpi,
            exif,
            extension,
        } = self;
        if dpi == Some(0) {
            return Err(InputError::OutOfRange {
                field: "dpi",
                expected: "a positive number".into(),
                actual: "0".into(),
            }
            .into());
        }
        let limits = model_limits(model).copied().unwrap_or(InputLimits::NONE);
        let (img_url, detected) = match input.url() {
            Some(url) => (url.to_string(), None),
            None => {
                let loaded = input.load().await?;
                loaded
                    .info
                    .check("photo_enhancer", &limits, model_scale(model))?;
                let format = loaded.info.format;
                (client.upload_loaded(&loaded).await?, Some(format))
            }
        };
        let extension = extension
            .or_else(|| detected.map(|f| format!(".{}", f.extension())))
            .or_else(|| url_extension(&img_url))
            .unwrap_or_else(|| ".jpg".into());
        if !limits.accepts_format(&extension) {
            return Err(InputError::OutOfRange {
                field: "extension",
                expected: format!("one of {}", limits.formats.join(", ")),
                actual: extension,
            }
            .into());
        }
        let body = api::types::PhotoEnhancerRequest {
            dpi,
            exif,
            extension,
            img_url,
            model_name: model,
        };
        Ok(Prepared { client, body })
    }
}

/// A segmentation to submit. From [`Client::segment`].
#[derive(Debug)]
#[must_use = "nothing is sent until `send()`"]
pub struct SegmentRequest {
    client: Client,
    input: ImageInput,
}

impl SegmentRequest {
    /// Checks the input format, uploads it if it is local, and submits the job (retried like
    /// [`EnhanceRequest::send`]).
    pub async fn send(self) -> Result<Job, Error> {
        self.prepare().await?.submit().await
    }

    /// Everything before the submission: checks and the upload. Nothing spends coins yet.
    pub(crate) async fn prepare(
        self,
    ) -> Result<Prepared<api::types::ImageSegmentationRequest>, Error> {
        let SegmentRequest { client, input } = self;
        let limits = api::limits::IMAGE_SEGMENTATION
            .first()
            .copied()
            .unwrap_or(InputLimits::NONE);
        let file_url = match input.url() {
            Some(url) => url.to_string(),
            None => {
                let loaded = input.load().await?;
                loaded.info.check("image_segmentation", &limits, 1)?;
                client.upload_loaded(&loaded).await?
            }
        };
        Ok(Prepared {
            client,
            body: api::types::ImageSegmentationRequest { file_url },
        })
    }
}

/// A request whose input passed every check and is uploaded: what is left is the submission,
/// which spends coins. Splitting the two lets a caller tell a failure that cost nothing from
/// one that may have cost coins.
pub(crate) struct Prepared<B> {
    client: Client,
    body: B,
}

impl Prepared<api::types::PhotoEnhancerRequest> {
    /// Submits the enhancement (retried as [`EnhanceRequest::send`] says).
    pub(crate) async fn submit(self) -> Result<Job, Error> {
        let Prepared { client, body } = self;
        submit(&client, "photo_enhancer", || {
            client.inner.api.photo_enhancer().body(body.clone()).send()
        })
        .await
    }
}

impl Prepared<api::types::ImageSegmentationRequest> {
    /// Submits the segmentation (retried as [`EnhanceRequest::send`] says).
    pub(crate) async fn submit(self) -> Result<Job, Error> {
        let Prepared { client, body } = self;
        submit(&client, "image_segmentation", || {
            client
                .inner
                .api
                .image_segmentation()
                .body(body.clone())
                .send()
        })
        .await
    }
}

fn url_extension(url: &str) -> Option<String> {
    let path = reqwest::Url::parse(url).ok()?.path().to_string();
    let extension = std::path::Path::new(&path)
        .extension()?
        .to_str()?
        .to_ascii_lowercase();
    Some(format!(".{extension}"))
}

async fn submit<F, Fut>(client: &Client, operation: &'static str, send: F) -> Result<Job, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<
            Output = Result<
                progenitor_client::ResponseValue<api::types::SubmitTaskResponse>,
                progenitor_client::Error<api::types::ErrorResponse>,
            >,
        >,
{
    let answer = client
        .inner
        .core
        .call(operation, Safety::Charged, send)
        .await?
        .into_inner();
    envelope_ok(operation, answer.code, answer.message.or(answer.msg))?;
    tracing::info!(provider = %PROVIDER, operation, job_id = %answer.data.job_id, coins = answer.data.consume_coins, "job submitted");
    Ok(Job {
        client: client.clone(),
        id: answer.data.job_id,
        coins: Some(answer.data.consume_coins),
        started_by: Some(operation),
    })
}

/// A submitted job. Poll it with [`Job::status`] or wait for it with [`Job::wait`].
#[derive(Clone, Debug)]
pub struct Job {
    client: Client,
    id: String,
    coins: Option<i64>,
    /// The operation that submitted it, when known: it selects the documented cadence.
    started_by: Option<&'static str>,
}

impl Job {
    /// HitPaw's job id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Coins the submission consumed, as HitPaw reported them (unknown for [`Client::job`]).
    pub fn coins_consumed(&self) -> Option<i64> {
        self.coins
    }

    /// Queries the job once. Retried on 429, 5xx and connection failures (it is a read).
    pub async fn status(&self) -> Result<JobSnapshot, Error> {
        let client = &self.client;
        let answer = client
            .inner
            .core
            .call("task_status", Safety::Idempotent, || {
                client
                    .inner
                    .api
                    .task_status()
                    .body(api::types::TaskStatusRequest {
                        job_id: self.id.clone(),
                    })
                    .send()
            })
            .await?
            .into_inner();
        envelope_ok("task_status", answer.code, answer.message.or(answer.msg))?;
        Ok(JobSnapshot(answer.data))
    }

    /// The poll policy `wait()` uses: the client's, or the documented cadence for this kind of
    /// job (the slowest documented one when the kind is unknown).
    pub fn poll_policy(&self) -> PollPolicy {
        if let Some(policy) = self.client.inner.core.poll() {
            return policy.clone();
        }
        let rules = api::service::task_status::POLLING;
        let rule = match self.started_by {
            Some(operation) => Polling::select(rules, operation),
            None => rules.iter().max_by_key(|rule| rule.min_interval),
        };
        rule.and_then(PollPolicy::documented)
            .unwrap_or_else(|| PollPolicy::new(Duration::from_secs(5)))
    }

    /// Polls until the job completes, at HitPaw's documented cadence (or the client's
    /// [`PollPolicy`]), and returns its output. A job that ends in `ERROR` is
    /// [`Error::JobFailed`]; past the policy's deadline it is [`Error::Timeout`].
    pub async fn wait(&self) -> Result<JobOutput, Error> {
        self.wait_with(self.poll_policy()).await
    }

    /// [`Job::wait`] with an explicit policy.
    pub async fn wait_with(&self, policy: PollPolicy) -> Result<JobOutput, Error> {
        let poller = Poller {
            provider: PROVIDER,
            job_id: &self.id,
            policy,
            max_gap: None,
        };
        poller
            .run(|| async {
                let snapshot = self.status().await?;
                match snapshot.status() {
                    JobStatus::Completed => Ok(Poll::Ready(snapshot.into_output(&self.client)?)),
                    JobStatus::Error => Err(Error::JobFailed {
                        provider: PROVIDER,
                        job_id: self.id.clone(),
                        code: None,
                        message: "HitPaw reported the job as ERROR".into(),
                    }),
                    JobStatus::Converting => Ok(Poll::Pending { hint: None }),
                    other => {
                        tracing::warn!(status = %other, "undocumented job status; polling on");
                        Ok(Poll::Pending { hint: None })
                    }
                }
            })
            .await
    }
}

/// One answer of `task_status`.
#[derive(Clone, Debug)]
pub struct JobSnapshot(api::types::TaskInfo);

impl JobSnapshot {
    /// The job's state.
    pub fn status(&self) -> &JobStatus {
        &self.0.status
    }

    /// Everything HitPaw reported.
    pub fn info(&self) -> &api::types::TaskInfo {
        &self.0
    }

    fn into_output(self, client: &Client) -> Result<JobOutput, Error> {
        let info = self.0;
        let result_url = info.res_url.ok_or_else(|| Error::MissingResult {
            provider: PROVIDER,
            job_id: info.job_id.clone(),
            what: "the job COMPLETED without `res_url`".into(),
        })?;
        let core = &client.inner.core;
        Ok(JobOutput {
            job_id: info.job_id,
            result: Output::url(core, result_url),
            mask: info.mask_url.map(|url| Output::url(core, url)),
            original_url: info.original_url,
        })
    }
}

/// The files of a completed job. Results stay available for 8 days.
#[derive(Clone, Debug)]
pub struct JobOutput {
    job_id: String,
    result: Output,
    mask: Option<Output>,
    original_url: Option<String>,
}

impl JobOutput {
    /// The job id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The enhanced image or the transparent cut-out.
    pub fn result(&self) -> &Output {
        &self.result
    }

    /// The segmentation mask; [`Error::MissingResult`] for jobs without one (only
    /// segmentation jobs have a mask).
    pub fn mask(&self) -> Result<&Output, Error> {
        self.mask.as_ref().ok_or_else(|| Error::MissingResult {
            provider: PROVIDER,
            job_id: self.job_id.clone(),
            what: "this job has no mask (only segmentation jobs do)".into(),
        })
    }

    /// URL of the input as HitPaw stored it.
    pub fn original_url(&self) -> Option<&str> {
        self.original_url.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_codes_carry_the_documented_table() {
        for row in api::error_codes::ERROR_RESPONSE {
            let code = ErrorCode::from(row.code);
            assert!(
                !matches!(code, ErrorCode::Other(_)),
                "{} has no variant",
                row.code
            );
            assert_eq!(code.code(), row.code);
        }
        assert_eq!(ErrorCode::from(7), ErrorCode::Other(7));
        assert_eq!(
            ErrorCode::CoinsNotEnough.to_string(),
            "110402000: The coins are not enough"
        );
    }

    #[test]
    fn model_suffixes_give_scales_and_limits() {
        assert_eq!(model_scale(Model::General4x), 4);
        assert_eq!(model_scale(Model::SharpenDenoise1x), 1);
        assert_eq!(
            model_limits(Model::Generative2x).unwrap().name,
            "generative"
        );
        assert_eq!(model_limits(Model::Face2x).unwrap().name, "enhancement");
    }

    #[test]
    fn upload_types_come_from_the_spec() {
        assert_eq!(
            presign_type(ImageFormat::Png).unwrap().to_string(),
            "image/png"
        );
        assert_eq!(
            presign_type(ImageFormat::Jpeg).unwrap().to_string(),
            "image/jpeg"
        );
        let heif = presign_type(ImageFormat::Heif).unwrap_err().to_string();
        assert!(
            heif.contains("image/webp") && heif.contains("pass a URL"),
            "{heif}"
        );
    }

    #[test]
    fn each_kind_of_job_polls_at_its_documented_cadence() {
        let client = Client::builder().api_key("k").build().unwrap();
        let mut job = client.job("j");
        job.started_by = Some("image_segmentation");
        assert_eq!(job.poll_policy().interval(), Duration::from_secs(2));
        assert_eq!(job.poll_policy().max_interval(), Duration::from_secs(5));
        job.started_by = Some("photo_enhancer");
        assert_eq!(job.poll_policy().interval(), Duration::from_secs(5));
        assert_eq!(job.poll_policy().max_interval(), Duration::from_secs(10));
        // Unknown kind: the slower cadence suits both.
        assert_eq!(
            client.job("j").poll_policy().interval(),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let client = Client::new("very-secret-key").unwrap();
        assert!(!format!("{client:?}").contains("very-secret-key"));
        let builder = Client::builder().api_key("very-secret-key");
        assert!(!format!("{builder:?}").contains("very-secret-key"));
    }
}
