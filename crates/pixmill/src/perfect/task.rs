//! Tasks: polling within Perfect's 10-second window, typed results and downloads.

use std::path::Path;
use std::time::{Duration, Instant};

use pixmill_perfect_api as api;
use tokio::io::AsyncWrite;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument as _;

use super::{Client, Feature, PROVIDER};
use crate::error::{Error, ErrorCode};
use crate::poll::PollPolicy;

pub use api::types::{AgingCustomInfo as AgingInfo, EngineErrorCode, TaskStatus};

/// One answer of a check-status call, whatever the feature.
#[derive(Clone, Debug)]
pub struct TaskSnapshot {
    /// `running`, `success` or `error`.
    pub status: TaskStatus,
    /// The engine's error code when `status` is `error`.
    pub error: Option<EngineErrorCode>,
    /// How long Perfect asks to wait before the next poll.
    pub polling_interval: Option<Duration>,
    /// The result files (on success).
    pub files: Vec<ResultFile>,
    /// Aging's estimate of the input's age and the range of the series.
    pub aging: Option<AgingInfo>,
    /// Makeup transfer's product recommendations, as Perfect sends them.
    pub recommendations: Option<serde_json::Map<String, serde_json::Value>>,
}

fn interval(ms: Option<i32>) -> Option<Duration> {
    ms.and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
}

fn files(results: Vec<api::types::TaskActionResult>) -> Vec<ResultFile> {
    results
        .into_iter()
        .flat_map(|action| action.data)
        .filter_map(|file| {
            Some(ResultFile {
                dst_id: file.dst_id?,
                url: file.url?,
                res_age: None,
            })
        })
        .collect()
}

impl From<api::types::TaskStatusResult> for TaskSnapshot {
    fn from(result: api::types::TaskStatusResult) -> Self {
        TaskSnapshot {
            status: result.status,
            error: result.error,
            polling_interval: interval(result.polling_interval),
            files: files(result.results),
            aging: None,
            recommendations: None,
        }
    }
}

impl From<api::types::AgingTaskStatusResult> for TaskSnapshot {
    fn from(result: api::types::AgingTaskStatusResult) -> Self {
        let files = result
            .results
            .into_iter()
            .flat_map(|action| action.data)
            .filter_map(|file| {
                Some(ResultFile {
                    dst_id: file.dst_id?,
                    url: file.url?,
                    res_age: file.res_age,
                })
            })
            .collect();
        TaskSnapshot {
            status: result.status,
            error: result.error,
            polling_interval: interval(result.polling_interval),
            files,
            aging: result.custom_info,
            recommendations: None,
        }
    }
}

impl From<api::types::MakeupTransferTaskStatusResult> for TaskSnapshot {
    fn from(result: api::types::MakeupTransferTaskStatusResult) -> Self {
        TaskSnapshot {
            status: result.status,
            error: result.error,
            polling_interval: interval(result.polling_interval),
            files: files(result.results),
            aging: None,
            recommendations: (!result.custom_info.is_empty()).then_some(result.custom_info),
        }
    }
}

/// A result file: its URL (valid 2 hours) and its `dst_id`, which later tasks accept as input
/// without uploading it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultFile {
    /// File id for later tasks.
    pub dst_id: String,
    /// Download URL, valid for 2 hours.
    pub url: String,
    /// For aging: the age this image shows.
    pub res_age: Option<i32>,
}

/// The outcome of a successful task.
#[derive(Clone, Debug)]
pub struct TaskOutput {
    task_id: String,
    http: reqwest::Client,
    snapshot: TaskSnapshot,
}

impl TaskOutput {
    /// The task id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// Every result file (aging returns a series, in ascending age).
    pub fn files(&self) -> &[ResultFile] {
        &self.snapshot.files
    }

    /// Aging's `custom_info`.
    pub fn aging(&self) -> Option<&AgingInfo> {
        self.snapshot.aging.as_ref()
    }

    /// Makeup transfer's recommendations, if Perfect sent any.
    pub fn recommendations(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.snapshot.recommendations.as_ref()
    }

    /// The first (for most features, the only) result.
    pub fn first(&self) -> Option<&ResultFile> {
        self.snapshot.files.first()
    }

    fn only(&self) -> Result<&ResultFile, Error> {
        self.first().ok_or_else(|| Error::InvalidResponse {
            provider: PROVIDER,
            operation: "check_status",
            status: Some(200),
            reason: "a successful task without result files".into(),
            excerpt: String::new(),
        })
    }

    /// Streams the first result to `path` (written in full or not at all).
    pub async fn download_to(&self, path: impl AsRef<Path>) -> Result<u64, Error> {
        let file = self.only()?;
        crate::download::to_path(&self.http, PROVIDER, &file.url, path.as_ref()).await
    }

    /// Streams the first result into `writer`.
    pub async fn download<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        writer: &mut W,
    ) -> Result<u64, Error> {
        let file = self.only()?;
        crate::download::to_writer(&self.http, PROVIDER, &file.url, writer).await
    }

    /// Streams a given result file to `path`.
    pub async fn download_file_to(
        &self,
        file: &ResultFile,
        path: impl AsRef<Path>,
    ) -> Result<u64, Error> {
        crate::download::to_path(&self.http, PROVIDER, &file.url, path.as_ref()).await
    }
}

/// A running task. [`Task::wait`] polls it to the end; the task holds one of the client's task
/// slots until then, so the rate budget can always keep it alive.
#[derive(Debug)]
pub struct Task {
    pub(super) client: Client,
    pub(super) feature: Feature,
    pub(super) id: String,
    pub(super) request_id: i64,
    pub(super) slot: std::sync::Mutex<Option<OwnedSemaphorePermit>>,
}

impl Task {
    /// Perfect's task id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `request_id` it was submitted with.
    pub fn request_id(&self) -> i64 {
        self.request_id
    }

    /// The feature.
    pub fn feature(&self) -> Feature {
        self.feature
    }

    /// Polls once (a read: retried on 429, 5xx and connection failures). Perfect loses a task
    /// that is not polled for 10 seconds, so prefer [`Task::wait`], which keeps to that rule.
    pub async fn status(&self) -> Result<TaskSnapshot, Error> {
        self.client.check_status(self.feature, &self.id).await
    }

    /// Polls until the task succeeds or fails, at Perfect's `polling_interval`, never leaving
    /// more than the client's poll gap (70% of the 10-second loss window) between two polls
    /// sent, even when answers are slow (the slow poll stays in flight and the next one leaves
    /// on time) or polls fail (the next one leaves sooner). An engine failure is [`Error::JobFailed`] with
    /// an [`ErrorCode::PerfectEngine`] code.
    pub async fn wait(&self) -> Result<TaskOutput, Error> {
        let policy = self.client.inner.settings.poll.clone().unwrap_or_else(|| {
            PollPolicy::new(Duration::from_secs(1)).with_deadline(Duration::from_secs(600))
        });
        let outcome = self.wait_with(&policy).await;
        self.release();
        outcome
    }

    fn release(&self) {
        self.slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
    }

    async fn wait_with(&self, policy: &PollPolicy) -> Result<TaskOutput, Error> {
        use futures_util::StreamExt as _;
        use futures_util::stream::FuturesUnordered;

        let span = tracing::info_span!("pixmill.wait", provider = %PROVIDER, job_id = %self.id, feature = self.feature.name());
        async {
            let gap = self.client.inner.poll_gap;
            let started = Instant::now();
            let deadline = started + policy.deadline();
            let mut interval = policy.interval().min(gap);
            let mut last_sent = started;
            // The first poll follows the submission, which itself counted as contact.
            let mut next_send = started + interval;
            let mut in_flight = FuturesUnordered::new();
            let mut last_error = None;
            loop {
                tokio::select! {
                    Some(answer) = in_flight.next() => match answer as Result<TaskSnapshot, Error> {
                        Ok(snapshot) => {
                            match snapshot.status {
                                TaskStatus::Success => {
                                    tracing::info!("task succeeded");
                                    return Ok(TaskOutput {
                                        task_id: self.id.clone(),
                                        http: self.client.inner.settings.http.clone(),
                                        snapshot,
                                    });
                                }
                                TaskStatus::Error => {
                                    let code = snapshot.error.unwrap_or(EngineErrorCode::UnknownInternalError);
                                    return Err(Error::JobFailed {
                                        provider: PROVIDER,
                                        job_id: self.id.clone(),
                                        code: Some(ErrorCode::PerfectEngine(code)),
                                        message: format!("the engine reported {code}"),
                                    });
                                }
                                TaskStatus::Running => {
                                    interval = snapshot.polling_interval.unwrap_or(interval).min(gap);
                                    next_send = next_send.min(last_sent + interval);
                                }
                            }
                        }
                        Err(error) if error.is_retryable() => {
                            tracing::warn!(%error, "poll failed; polling again within the window");
                            next_send = next_send.min(Instant::now() + gap / 4);
                            last_error = Some(error);
                        }
                        Err(error) => return Err(error),
                    },
                    _ = tokio::time::sleep_until(next_send.into()) => {
                        if Instant::now() >= deadline {
                            return Err(Error::Timeout {
                                provider: PROVIDER,
                                operation: "wait",
                                elapsed: started.elapsed(),
                                deadline: policy.deadline(),
                                last_error: last_error.map(Box::new),
                            });
                        }
                        // A slow poll stays in flight (it may still reach Perfect) while the next
                        // one leaves on time; a few at most, so a stalled server is not flooded.
                        if in_flight.len() < MAX_POLLS_IN_FLIGHT {
                            in_flight.push(self.status());
                            last_sent = Instant::now();
                        }
                        next_send = Instant::now() + gap;
                    }
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// Polls of one task allowed in flight at once.
const MAX_POLLS_IN_FLIGHT: usize = 3;

impl Drop for Task {
    fn drop(&mut self) {
        self.release();
    }
}

/// Output formats a task can ask for; each feature accepts some of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputFormat {
    /// JPEG.
    Jpg,
    /// PNG (background removal).
    Png,
    /// WebP (colorize, enhance, object removal, background removal).
    Webp,
}

impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OutputFormat::Jpg => "jpg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
        })
    }
}
