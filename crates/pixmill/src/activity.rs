//! What a call is busy with, for progress displays: uploading an input, waiting for room at
//! the provider, or having the provider work on it.
//!
//! A caller that shows progress wraps its work in [`observe`]; every stage pixmill enters
//! while running that work is reported to the observer. Work outside an observed scope costs
//! nothing more than a lookup that finds no observer.
//!
//! ```no_run
//! # async fn demo() -> pixmill::Result<()> {
//! use pixmill::activity::{Activity, observe};
//!
//! let hitpaw = pixmill::hitpaw::Client::from_env()?;
//! let job = observe(
//!     |activity: Activity| eprintln!("now {}", activity.name()),
//!     async { hitpaw.segment("product.png").send().await?.wait().await },
//! )
//! .await?;
//! # let _ = job; Ok(()) }
//! ```
//!
//! Downloads report their bytes through [`crate::Output::on_progress`] instead.

use std::future::Future;
use std::sync::Arc;

/// A stage of a call, as reported to an [`observe`]r.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Activity {
    /// An input file is being sent to the provider's storage (a presigned upload).
    Uploading,
    /// The work waits for room at the provider: a task slot of a rate budget (Perfect).
    Queued,
    /// The provider has the work: the request that starts it is on its way, or its job is
    /// being polled. From here on the work may cost credits.
    Processing,
}

impl Activity {
    /// A stable lowercase name (`uploading`, `queued`, `processing`).
    pub fn name(self) -> &'static str {
        match self {
            Activity::Uploading => "uploading",
            Activity::Queued => "queued",
            Activity::Processing => "processing",
        }
    }
}

type Observer = Arc<dyn Fn(Activity) + Send + Sync>;

tokio::task_local! {
    static OBSERVER: Observer;
}

/// Runs `work`, calling `observer` each time pixmill enters another stage of it. Stages are
/// reported from the task that polls `work`; work pixmill hands to other tasks is not
/// observed.
pub async fn observe<F: Future>(
    observer: impl Fn(Activity) + Send + Sync + 'static,
    work: F,
) -> F::Output {
    OBSERVER.scope(Arc::new(observer), work).await
}

/// Tells the observer of the current scope, if any, that `activity` has begun.
pub(crate) fn report(activity: Activity) {
    let _ = OBSERVER.try_with(|observer| observer(activity));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn stages_reach_the_observer_of_their_scope_only() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        observe(move |activity| log.lock().unwrap().push(activity), async {
            report(Activity::Uploading);
            report(Activity::Processing);
        })
        .await;
        // Outside any scope: nobody listens, nothing fails.
        report(Activity::Queued);
        assert_eq!(
            *seen.lock().unwrap(),
            [Activity::Uploading, Activity::Processing]
        );
    }
}
