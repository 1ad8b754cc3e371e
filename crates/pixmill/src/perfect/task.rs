//! Tasks: polling within Perfect's loss window, typed results and their outputs.

use std::time::Duration;

use pixmill_perfect_api as api;
use pixmill_perfect_api::features::CheckStatusAnswer;
use tokio::sync::OwnedSemaphorePermit;

use super::{Client, Feature, PROVIDER, budget};
use crate::error::{Error, ErrorCode};
use crate::output::Output;
use crate::poll::{Poll, PollPolicy, Poller};

pub use api::types::{AgingCustomInfo as AgingInfo, EngineErrorCode, TaskStatus};

/// One answer of a check-status call, whatever the feature.
#[derive(Clone, Debug)]
pub struct TaskSnapshot {
    /// `running`, `success`, `error`, or a status the spec does not list.
    pub status: TaskStatus,
    /// The engine's error code when `status` is `error`. Features whose document types it as
    /// free text are read into the same type; text that is no documented code is kept as
    /// [`EngineErrorCode::Unknown`].
    pub error: Option<EngineErrorCode>,
    /// How long Perfect asks to wait before the next poll.
    pub polling_interval: Option<Duration>,
    /// The result files (on success).
    pub files: Vec<FileRecord>,
    /// Aging's estimate of the input's age and the range of the series.
    pub aging: Option<AgingInfo>,
    /// Makeup transfer's product recommendations, as Perfect sends them.
    pub recommendations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A result file as the status answer describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// File id for later tasks.
    pub dst_id: String,
    /// Download URL, valid for 2 hours.
    pub url: String,
    /// For aging: the age this image shows.
    pub res_age: Option<i32>,
}

fn interval(ms: Option<i32>) -> Option<Duration> {
    ms.and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
}

fn records(results: Vec<api::types::TaskActionResult>) -> Vec<FileRecord> {
    results
        .into_iter()
        .flat_map(|action| action.data)
        .filter_map(|file| {
            Some(FileRecord {
                dst_id: file.dst_id?,
                url: file.url?,
                res_age: None,
            })
        })
        .collect()
}

fn engine_code(text: Option<String>) -> Option<EngineErrorCode> {
    text.filter(|t| !t.trim().is_empty())
        .map(|t| EngineErrorCode::from(t.trim().to_string()))
}

impl From<CheckStatusAnswer> for TaskSnapshot {
    fn from(answer: CheckStatusAnswer) -> Self {
        match answer {
            CheckStatusAnswer::TaskStatusResponse(answer) => {
                let result = answer.result;
                TaskSnapshot {
                    status: result.status,
                    error: result.error,
                    polling_interval: interval(result.polling_interval),
                    files: records(result.results),
                    aging: None,
                    recommendations: None,
                }
            }
            CheckStatusAnswer::HairTaskStatusResponse(answer) => {
                let result = answer.result;
                TaskSnapshot {
                    status: result.status,
                    error: engine_code(result.error),
                    polling_interval: interval(result.polling_interval),
                    files: records(result.results),
                    aging: None,
                    recommendations: None,
                }
            }
            CheckStatusAnswer::AgingTaskStatusResponse(answer) => {
                let result = answer.result;
                let files = result
                    .results
                    .into_iter()
                    .flat_map(|action| action.data)
                    .filter_map(|file| {
                        Some(FileRecord {
                            dst_id: file.dst_id?,
                            url: file.url?,
                            res_age: file.res_age,
                        })
                    })
                    .collect();
                TaskSnapshot {
                    status: result.status,
                    error: engine_code(result.error),
                    polling_interval: interval(result.polling_interval),
                    files,
                    aging: result.custom_info,
                    recommendations: None,
                }
            }
            CheckStatusAnswer::MakeupTransferTaskStatusResponse(answer) => {
                let result = answer.result;
                TaskSnapshot {
                    status: result.status,
                    error: engine_code(result.error),
                    polling_interval: interval(result.polling_interval),
                    files: records(result.results),
                    aging: None,
                    recommendations: (!result.custom_info.is_empty()).then_some(result.custom_info),
                }
            }
            // An answer type added to the spec later: what every answer carries is enough.
            #[allow(unreachable_patterns)]
            other => TaskSnapshot::from_json(&serde_json::to_value(other).unwrap_or_default()),
        }
    }
}

impl TaskSnapshot {
    pub(crate) fn from_json(answer: &serde_json::Value) -> TaskSnapshot {
        let result = answer.get("result").unwrap_or(answer);
        TaskSnapshot {
            status: TaskStatus::from(result["status"].as_str().unwrap_or_default()),
            error: engine_code(result["error"].as_str().map(str::to_string)),
            polling_interval: interval(
                result["polling_interval"]
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok()),
            ),
            files: Vec::new(),
            aging: None,
            recommendations: None,
        }
    }
}

/// A result file: its [`Output`] (a download valid 2 hours) and its `dst_id`, which later
/// tasks accept as input without uploading it again.
#[derive(Clone, Debug)]
pub struct ResultFile {
    /// File id for later tasks.
    pub dst_id: String,
    /// For aging: the age this image shows.
    pub res_age: Option<i32>,
    output: Output,
}

impl ResultFile {
    /// The file.
    pub fn output(&self) -> &Output {
        &self.output
    }
}

/// The outcome of a successful task.
#[derive(Clone, Debug)]
pub struct TaskOutput {
    task_id: String,
    files: Vec<ResultFile>,
    snapshot: TaskSnapshot,
}

impl TaskOutput {
    /// The task id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// Every result file (aging returns a series, in ascending age).
    pub fn files(&self) -> &[ResultFile] {
        &self.files
    }

    /// The first (for most features, the only) result.
    pub fn result(&self) -> &Output {
        self.first().output()
    }

    /// The first result file.
    pub fn first(&self) -> &ResultFile {
        // `wait` refuses a success without files.
        &self.files[0]
    }

    /// Aging's `custom_info`.
    pub fn aging(&self) -> Option<&AgingInfo> {
        self.snapshot.aging.as_ref()
    }

    /// Makeup transfer's recommendations, if Perfect sent any.
    pub fn recommendations(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.snapshot.recommendations.as_ref()
    }
}

/// A running task. [`Task::wait`] polls it to the end; the task holds one of the client's task
/// slots until then, so the rate budget can always keep it alive.
#[derive(Debug)]
pub struct Task {
    pub(super) client: Client,
    pub(super) feature: Feature,
    pub(super) id: String,
    pub(super) request_id: Option<i64>,
    pub(super) slot: std::sync::Mutex<Option<OwnedSemaphorePermit>>,
}

impl Task {
    /// Perfect's task id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `request_id` it was submitted with (unknown for [`Client::task`]).
    pub fn request_id(&self) -> Option<i64> {
        self.request_id
    }

    /// The feature.
    pub fn feature(&self) -> Feature {
        self.feature
    }

    /// Polls once (a read: retried on 429, 5xx and connection failures). Perfect loses a task
    /// that is not polled for a while, so prefer [`Task::wait`], which keeps to that rule.
    pub async fn status(&self) -> Result<TaskSnapshot, Error> {
        budget::as_poll(self.client.check_status(self.feature, &self.id)).await
    }

    /// The poll policy `wait()` uses: the client's, or a first poll after one second or the
    /// budget's share per task, whichever is longer. Later polls follow Perfect's
    /// `polling_interval`, lengthened to the budget's share; never longer than the client's
    /// poll gap (a share of the documented loss window).
    pub fn poll_policy(&self) -> PollPolicy {
        self.client.inner.core.poll().cloned().unwrap_or_else(|| {
            let first = Duration::from_secs(1).max(self.client.inner.budget.poll_interval());
            PollPolicy::new(first.min(self.client.inner.poll_gap))
                .with_max_interval(self.client.inner.poll_gap)
        })
    }

    /// Perfect's `polling_interval`, lengthened so that the polls of every running task stay
    /// within their share of the rate budget.
    fn next_poll(&self, hint: Option<Duration>) -> Option<Duration> {
        let share = self.client.inner.budget.poll_interval();
        hint.map(|hint| hint.max(share))
    }

    /// Polls until the task succeeds or fails, at Perfect's `polling_interval`, never leaving
    /// more than the client's poll gap between two polls sent, even when answers are slow (the
    /// slow poll stays in flight and the next one leaves on time) or polls fail (the next one
    /// leaves sooner). An engine failure is [`Error::JobFailed`] with an
    /// [`ErrorCode::PerfectEngine`] code, undocumented codes included. A status the spec does
    /// not list keeps the task polling until a known final status or the deadline.
    pub async fn wait(&self) -> Result<TaskOutput, Error> {
        let outcome = self.wait_with(self.poll_policy()).await;
        self.release();
        outcome
    }

    /// [`Task::wait`] with an explicit policy (its intervals are still capped by the poll gap).
    pub async fn wait_with(&self, policy: PollPolicy) -> Result<TaskOutput, Error> {
        let poller = Poller {
            provider: PROVIDER,
            job_id: &self.id,
            policy,
            max_gap: Some(self.client.inner.poll_gap),
        };
        poller
            .run(|| async {
                let snapshot = self.status().await?;
                match &snapshot.status {
                    TaskStatus::Success => self.output(snapshot).map(Poll::Ready),
                    TaskStatus::Error => {
                        let code = snapshot
                            .error
                            .unwrap_or(EngineErrorCode::UnknownInternalError);
                        Err(Error::JobFailed {
                            provider: PROVIDER,
                            job_id: self.id.clone(),
                            message: format!("the engine reported {code}"),
                            code: Some(ErrorCode::PerfectEngine(code)),
                        })
                    }
                    TaskStatus::Running => Ok(Poll::Pending {
                        hint: self.next_poll(snapshot.polling_interval),
                    }),
                    other => {
                        tracing::warn!(status = %other, "undocumented task status; polling on");
                        Ok(Poll::Pending {
                            hint: self.next_poll(snapshot.polling_interval),
                        })
                    }
                }
            })
            .await
    }

    fn output(&self, snapshot: TaskSnapshot) -> Result<TaskOutput, Error> {
        if snapshot.files.is_empty() {
            return Err(Error::MissingResult {
                provider: PROVIDER,
                job_id: self.id.clone(),
                what: "the task succeeded without a result file".into(),
            });
        }
        let core = &self.client.inner.core;
        let files = snapshot
            .files
            .iter()
            .map(|record| ResultFile {
                dst_id: record.dst_id.clone(),
                res_age: record.res_age,
                output: Output::url(core, record.url.clone()),
            })
            .collect();
        tracing::info!("task succeeded");
        Ok(TaskOutput {
            task_id: self.id.clone(),
            files,
            snapshot,
        })
    }

    fn release(&self) {
        self.slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.release();
    }
}
