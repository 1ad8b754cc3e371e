//! Provider operations as batch actions: a closure that runs one item, and one that checks it.

use std::sync::Arc;

use pixmill::raw::spec::InputLimits;
use pixmill::{ImageInput, Provider};
use serde_json::json;

use crate::batch::{Action, BoxFuture, Charge, Checked, Failed, Item, Price, Produced, Product};

type RunFn = Box<dyn Fn(Item) -> BoxFuture<'static, Result<Produced, Failed>> + Send + Sync>;
type CheckFn = Box<dyn Fn(Item) -> BoxFuture<'static, Checked> + Send + Sync>;

/// One operation of one provider.
pub struct Op {
    provider: Provider,
    name: String,
    run: RunFn,
    check: CheckFn,
    writes_files: bool,
}

impl Op {
    /// The operation `name` of `provider`; results are named `<input>-<provider>-<name>`.
    pub fn new<R, C>(provider: Provider, name: impl Into<String>, run: R, check: C) -> Op
    where
        R: Fn(Item) -> BoxFuture<'static, Result<Produced, Failed>> + Send + Sync + 'static,
        C: Fn(Item) -> BoxFuture<'static, Checked> + Send + Sync + 'static,
    {
        Op {
            provider,
            // The provider in the name keeps results of different providers' operations of
            // the same name (`enhance`) apart in one directory.
            name: format!("{}-{}", provider.id(), name.into()),
            run: Box::new(run),
            check: Box::new(check),
            writes_files: true,
        }
    }

    /// An operation whose results are printed, not written.
    pub fn printing(mut self) -> Op {
        self.writes_files = false;
        self
    }

    pub fn boxed(self) -> Arc<dyn Action> {
        Arc::new(self)
    }
}

impl Action for Op {
    fn name(&self) -> &str {
        &self.name
    }

    fn run<'a>(&'a self, item: &'a Item) -> BoxFuture<'a, Result<Produced, Failed>> {
        (self.run)(item.clone())
    }

    fn check<'a>(&'a self, item: &'a Item) -> BoxFuture<'a, Checked> {
        (self.check)(item.clone())
    }

    fn provider(&self) -> Option<Provider> {
        Some(self.provider)
    }

    fn writes_files(&self) -> bool {
        self.writes_files
    }
}

/// What a dry run of an image operation checks: the input is an image, within `limits` (the
/// operation's documented ones) for an output `scale` times larger per side.
pub fn image_check(
    provider: Provider,
    operation: &'static str,
    limits: Option<&'static InputLimits>,
    scale: u32,
    price: Option<Price>,
) -> impl Fn(Item) -> BoxFuture<'static, Checked> + Send + Sync + 'static {
    move |item: Item| {
        Box::pin(async move {
            let refused = |reason: String| Checked {
                provider: Some(provider),
                sends: String::new(),
                price: None,
                refusal: Some(reason),
            };
            let path = match item.image() {
                Ok(path) => path.to_path_buf(),
                Err(failed) => return refused(failed.message),
            };
            let info = match ImageInput::from_path(&path).info().await {
                Ok(info) => info,
                Err(error) => return refused(error.to_string()),
            };
            if let Some(limits) = limits
                && let Err(error) = info.check(operation, limits, scale)
            {
                return refused(error.to_string());
            }
            Checked {
                provider: Some(provider),
                sends: format!(
                    "{} {}x{}, {} bytes to {provider} {operation}",
                    info.format, info.width, info.height, info.bytes
                ),
                price,
                refusal: None,
            }
        })
    }
}

/// What a dry run of an operation taking a prompt or plain arguments checks: that there is
/// something to send.
pub fn text_check(
    provider: Provider,
    operation: &'static str,
    price: Option<Price>,
) -> impl Fn(Item) -> BoxFuture<'static, Checked> + Send + Sync + 'static {
    move |item: Item| {
        Box::pin(async move {
            let text = item.prompt().trim().to_string();
            Checked {
                provider: Some(provider),
                sends: format!("{text:?} to {provider} {operation}"),
                price,
                refusal: text.is_empty().then(|| "nothing to send".to_string()),
            }
        })
    }
}

/// Credits a provider's answer reported.
pub fn reported(amount: f64, unit: &str) -> serde_json::Value {
    json!({"amount": amount, "unit": unit, "basis": "reported"})
}

/// A finished task of either Perfect API: its files in order (numbered from the second), the
/// ages of an aging series, its id and its documented price.
pub fn task_result(
    provider: Provider,
    task_id: &str,
    files: Vec<(pixmill::Output, Option<i32>)>,
    credits: Option<serde_json::Value>,
) -> Produced {
    let ages: Vec<Option<i32>> = files.iter().map(|(_, age)| *age).collect();
    let mut produced = Produced::new(provider);
    produced.files = Product::series(files.into_iter().map(|(output, _)| output));
    if ages.iter().any(Option::is_some) {
        produced.extra.insert("ages".into(), json!(ages));
    }
    produced.job_id = Some(task_id.to_string());
    produced.credits = credits;
    produced
}

/// A Perfect task whose wait failed (either API): the engine's own error charges nothing;
/// any other failure leaves a task that may still succeed, and then it is charged.
pub fn task_wait_failed(error: pixmill::Error, task_id: &str) -> Failed {
    let charge = if matches!(error, pixmill::Error::JobFailed { .. }) {
        Charge::Nothing
    } else {
        Charge::Possible
    };
    Failed::waiting(error, charge, task_id)
}
