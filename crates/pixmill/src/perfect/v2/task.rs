//! V2 tasks: polling, typed results and their outputs.

use std::time::Duration;

use pixmill_perfect_v2_api as api;
use pixmill_perfect_v2_api::features::CheckStatusAnswer;

use super::{Client, FIRST_POLL, Feature, PROVIDER, SHORTEST_HINT, poll_gap};
use crate::error::{Error, ErrorCode};
use crate::output::Output;
use crate::poll::{Poll, PollPolicy, Poller};

pub use api::types::{AgingResults as AgingInfo, EngineErrorCode, TaskStatus};

/// One answer of a check-status call, whatever the feature.
#[derive(Clone, Debug)]
pub struct TaskSnapshot {
    /// `running`, `success`, `error`, or a status the spec does not list.
    pub status: TaskStatus,
    /// The engine's error code when `status` is `error`; a code the spec does not list is kept
    /// as [`EngineErrorCode::Unknown`].
    pub error: Option<EngineErrorCode>,
    /// The engine's explanation of the failure.
    pub error_message: Option<String>,
    /// How long Perfect asks to wait before the next poll, when it says (read as milliseconds,
    /// the older API's unit; the V2 documents give none).
    pub polling_interval: Option<Duration>,
    /// The results (on success).
    pub files: Vec<ResultRecord>,
    /// Aging's results: the series, the age estimate and the range.
    pub aging: Option<AgingInfo>,
}

/// A result as the status answer describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRecord {
    /// Download URL, valid for 2 hours.
    pub url: String,
    /// For aging: the age this image shows.
    pub res_age: Option<i32>,
}

fn interval(ms: Option<i32>) -> Option<Duration> {
    ms.and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
}

fn record(url: Option<String>, res_age: Option<i32>) -> Option<ResultRecord> {
    url.filter(|url| !url.is_empty())
        .map(|url| ResultRecord { url, res_age })
}

impl From<CheckStatusAnswer> for TaskSnapshot {
    fn from(answer: CheckStatusAnswer) -> Self {
        match answer {
            CheckStatusAnswer::TaskStatusResponse(answer) => {
                let data = answer.data;
                TaskSnapshot {
                    status: data.task_status,
                    error: data.error,
                    error_message: data.error_message,
                    polling_interval: interval(data.polling_interval),
                    files: data
                        .results
                        .and_then(|result| record(result.url, None))
                        .into_iter()
                        .collect(),
                    aging: None,
                }
            }
            CheckStatusAnswer::ColorizeTaskStatusResponse(answer) => {
                let data = answer.data;
                TaskSnapshot {
                    status: data.task_status,
                    error: data.error,
                    error_message: data.error_message,
                    polling_interval: interval(data.polling_interval),
                    files: data
                        .results
                        .into_iter()
                        .flat_map(|results| results.output)
                        .filter_map(|image| record(image.url, None))
                        .collect(),
                    aging: None,
                }
            }
            CheckStatusAnswer::AgingTaskStatusResponse(answer) => {
                let data = answer.data;
                TaskSnapshot {
                    status: data.task_status,
                    error: data.error,
                    error_message: data.error_message,
                    polling_interval: interval(data.polling_interval),
                    files: data
                        .results
                        .iter()
                        .flat_map(|results| &results.output)
                        .filter_map(|image| record(image.url.clone(), image.res_age))
                        .collect(),
                    aging: data.results,
                }
            }
            // An answer type added to the spec later: what every answer carries is enough.
            #[allow(unreachable_patterns)]
            other => TaskSnapshot::from_json(&serde_json::to_value(other).unwrap_or_default()),
        }
    }
}

impl TaskSnapshot {
    fn from_json(answer: &serde_json::Value) -> TaskSnapshot {
        let data = &answer["data"];
        let results = &data["results"];
        let url =
            |value: &serde_json::Value| record(value["url"].as_str().map(str::to_string), None);
        let files = match results["output"].as_array() {
            Some(output) => output.iter().filter_map(url).collect(),
            None => url(results).into_iter().collect(),
        };
        TaskSnapshot {
            status: TaskStatus::from(data["task_status"].as_str().unwrap_or_default()),
            error: data["error"].as_str().map(EngineErrorCode::from),
            error_message: data["error_message"].as_str().map(str::to_string),
            polling_interval: interval(
                data["polling_interval"]
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok()),
            ),
            files,
            aging: None,
        }
    }
}

/// A result: its [`Output`] (a download valid 2 hours) and its URL, which a later task takes
/// as input ([`super::Input`]) within those 2 hours, without another upload.
#[derive(Clone, Debug)]
pub struct ResultFile {
    /// The download URL.
    pub url: String,
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
    aging: Option<AgingInfo>,
}

impl TaskOutput {
    /// The task id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// Every result: colorize gives several variants, aging a series of ages.
    pub fn files(&self) -> &[ResultFile] {
        &self.files
    }

    /// The first (for most features, the only) result.
    pub fn result(&self) -> &Output {
        self.first().output()
    }

    /// The first result file.
    pub fn first(&self) -> &ResultFile {
        // `wait` refuses a success without results.
        &self.files[0]
    }

    /// Aging's estimate of the selfie's age, its place in the series and the series' range.
    pub fn aging(&self) -> Option<&AgingInfo> {
        self.aging.as_ref()
    }
}

/// A running task. [`Task::wait`] polls it to the end.
#[derive(Debug)]
pub struct Task {
    pub(super) client: Client,
    pub(super) feature: Feature,
    pub(super) id: String,
}

impl Task {
    /// Perfect's task id; a task can be queried for 24 hours.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The feature.
    pub fn feature(&self) -> Feature {
        self.feature
    }

    /// Polls once (a read: retried on 429, 5xx and connection failures). A task left unpolled
    /// too long expires, so prefer [`Task::wait`].
    pub async fn status(&self) -> Result<TaskSnapshot, Error> {
        self.client.check_status(self.feature, &self.id).await
    }

    /// Deletes the finished task with its input and result files (Perfect refuses while it
    /// runs). It spends nothing, so it is retried like a read.
    pub async fn delete(&self) -> Result<(), Error> {
        self.client.delete_task(&self.id).await
    }

    /// The poll policy `wait()` uses: the client's, or one second at first, growing, capped by
    /// [`super::poll_gap`] either way. The spec's `x-polling` cadence is used when it states
    /// one.
    pub fn poll_policy(&self) -> PollPolicy {
        let documented = self
            .feature
            .facts()
            .polling
            .first()
            .and_then(PollPolicy::documented);
        let policy = self
            .client
            .inner
            .core
            .poll()
            .cloned()
            .or(documented)
            .unwrap_or_else(|| PollPolicy::new(FIRST_POLL));
        let gap = poll_gap();
        if policy.max_interval() > gap {
            policy.with_max_interval(gap)
        } else {
            policy
        }
    }

    /// Polls until the task succeeds or fails, never leaving more than [`super::poll_gap`]
    /// between two polls sent, even when answers are slow (the slow poll stays in flight and
    /// the next one leaves on time) or polls fail (the next one leaves sooner). A
    /// `polling_interval` in an answer sets the next wait (never under 100 ms). An engine
    /// failure is [`Error::JobFailed`] with an [`ErrorCode::PerfectV2Engine`] code, undocumented
    /// codes included. A status the spec does not list keeps the task polling until a known
    /// final status or the deadline. A task Perfect no longer knows (expired, deleted) ends the
    /// wait with its `InvalidTaskId` error.
    pub async fn wait(&self) -> Result<TaskOutput, Error> {
        self.wait_with(self.poll_policy()).await
    }

    /// [`Task::wait`] with an explicit policy (its intervals are still capped by the poll
    /// gap).
    pub async fn wait_with(&self, policy: PollPolicy) -> Result<TaskOutput, Error> {
        let gap = poll_gap();
        let poller = Poller {
            provider: PROVIDER,
            job_id: &self.id,
            policy,
            max_gap: Some(gap),
        };
        poller
            .run(|| async {
                let snapshot = self.status().await?;
                let hint = snapshot
                    .polling_interval
                    .map(|hint| hint.max(SHORTEST_HINT));
                match &snapshot.status {
                    TaskStatus::Success => self.output(snapshot).map(Poll::Ready),
                    TaskStatus::Error => {
                        let message = match (&snapshot.error, &snapshot.error_message) {
                            (_, Some(message)) if !message.trim().is_empty() => message.clone(),
                            (Some(code), _) => format!("the engine reported {code}"),
                            (None, _) => "the engine reported an error without a code".into(),
                        };
                        Err(Error::JobFailed {
                            provider: PROVIDER,
                            job_id: self.id.clone(),
                            message,
                            code: snapshot.error.map(ErrorCode::PerfectV2Engine),
                        })
                    }
                    TaskStatus::Running => Ok(Poll::Pending { hint }),
                    other => {
                        tracing::warn!(status = %other, "undocumented task status; polling on");
                        Ok(Poll::Pending { hint })
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
                what: "the task succeeded without a result URL".into(),
            });
        }
        let core = &self.client.inner.core;
        let files = snapshot
            .files
            .iter()
            .map(|record| ResultFile {
                url: record.url.clone(),
                res_age: record.res_age,
                output: Output::url(core, record.url.clone()),
            })
            .collect();
        tracing::info!("task succeeded");
        Ok(TaskOutput {
            task_id: self.id.clone(),
            files,
            aging: snapshot.aging,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot(feature: Feature, answer: serde_json::Value) -> TaskSnapshot {
        let answer = match feature {
            Feature::Colorize => CheckStatusAnswer::ColorizeTaskStatusResponse(
                serde_json::from_value(answer).unwrap(),
            ),
            Feature::Aging => {
                CheckStatusAnswer::AgingTaskStatusResponse(serde_json::from_value(answer).unwrap())
            }
            _ => CheckStatusAnswer::TaskStatusResponse(serde_json::from_value(answer).unwrap()),
        };
        TaskSnapshot::from(answer)
    }

    #[test]
    fn every_answer_shape_gives_its_results() {
        let one = snapshot(
            Feature::Enhance,
            json!({"status": 200, "data": {"task_status": "success", "results": {"url": "u1"}}}),
        );
        assert_eq!(
            one.files,
            [ResultRecord {
                url: "u1".into(),
                res_age: None
            }]
        );
        let several = snapshot(
            Feature::Colorize,
            json!({"status": 200, "data": {"task_status": "success",
                "results": {"output": [{"url": "a"}, {"url": "b"}]}}}),
        );
        assert_eq!(several.files.len(), 2);
        let aging = snapshot(
            Feature::Aging,
            json!({"status": 200, "data": {"task_status": "success",
                "results": {"output": [{"url": "y", "res_age": 12}, {"url": "o", "res_age": 70}],
                    "age": 30, "agd_idx": 0}}}),
        );
        assert_eq!(aging.files[1].res_age, Some(70));
        assert_eq!(aging.aging.and_then(|info| info.age), Some(30));
    }

    #[test]
    fn undocumented_statuses_and_codes_are_kept() {
        let answer = snapshot(
            Feature::HairBang,
            json!({"status": 200, "data": {"task_status": "queued", "error": "error_new_kind",
                "polling_interval": 1500}}),
        );
        assert_eq!(answer.status, TaskStatus::Unknown("queued".into()));
        assert_eq!(
            answer.error,
            Some(EngineErrorCode::Unknown("error_new_kind".into()))
        );
        assert_eq!(answer.polling_interval, Some(Duration::from_millis(1500)));
        let fallback = TaskSnapshot::from_json(&json!({"data": {"task_status": "success",
            "results": {"output": [{"url": "x"}]}}}));
        assert_eq!(fallback.status, TaskStatus::Success);
        assert_eq!(fallback.files.len(), 1);
    }
}
