//! Running a batch: one item per input, at most `--jobs` at once, each ending in a record that
//! is printed as it comes (JSON lines) and summed up at the end.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use pixmill::activity::{Activity, observe};
use pixmill::ops::{Attempt, Charge as OpsCharge};
use pixmill::{Error, Output, Provider};
use serde_json::{Map, Value, json};
use tokio::sync::{Semaphore, watch};

use crate::display::Display;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one item works on.
#[derive(Clone, Debug)]
pub enum Subject {
    /// A local image file.
    Image(PathBuf),
    /// A prompt.
    Prompt(String),
    /// The command's own arguments, as one call (a palette, a translation).
    Whole,
}

/// One unit of work of a batch.
#[derive(Clone, Debug)]
pub struct Item {
    /// How the input is named in reports.
    pub label: String,
    pub subject: Subject,
    /// The result's path without its extension; further files add `-<suffix>`.
    pub out_base: PathBuf,
}

impl Item {
    /// The image file of this item; commands that take images only make image items.
    pub fn image(&self) -> Result<&Path, Failed> {
        match &self.subject {
            Subject::Image(path) => Ok(path),
            _ => Err(Failed::local(format!(
                "{} is not an image file",
                self.label
            ))),
        }
    }

    /// The prompt of this item (the label for other items).
    pub fn prompt(&self) -> &str {
        match &self.subject {
            Subject::Prompt(prompt) => prompt,
            _ => &self.label,
        }
    }
}

/// A result file to write.
pub struct Product {
    /// Added to the item's base name (`mask` gives `photo-segment-mask.png`); `None` for the
    /// main result.
    pub suffix: Option<String>,
    pub output: Output,
    /// The extension, when the output's own format does not say it (an MP4).
    pub extension: Option<&'static str>,
}

impl Product {
    pub fn main(output: Output) -> Product {
        Product {
            suffix: None,
            output,
            extension: None,
        }
    }

    /// Every file of a result that comes as a series: the first is the main result, the
    /// others are numbered from 2.
    pub fn series(outputs: impl IntoIterator<Item = Output>) -> Vec<Product> {
        outputs
            .into_iter()
            .enumerate()
            .map(|(index, output)| Product {
                suffix: (index > 0).then(|| (index + 1).to_string()),
                output,
                extension: None,
            })
            .collect()
    }
}

/// A successful call, before its files are written.
pub struct Produced {
    pub provider: Provider,
    pub files: Vec<Product>,
    pub credits: Option<Value>,
    pub job_id: Option<String>,
    /// Lines for stdout (colours, translations) when not printing JSON.
    pub text: Vec<String>,
    /// More fields for the JSON line.
    pub extra: Map<String, Value>,
}

impl Produced {
    pub fn new(provider: Provider) -> Produced {
        Produced {
            provider,
            files: Vec::new(),
            credits: None,
            job_id: None,
            text: Vec::new(),
            extra: Map::new(),
        }
    }

    pub fn file(mut self, output: Output) -> Produced {
        self.files.push(Product::main(output));
        self
    }
}

/// Whether a failed item may have cost credits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Charge {
    Nothing,
    Possible,
    Certain,
}

impl Charge {
    pub fn name(self) -> &'static str {
        match self {
            Charge::Nothing => "nothing",
            Charge::Possible => "possible",
            Charge::Certain => "certain",
        }
    }

    fn of_attempt(attempt: &Attempt) -> Charge {
        match attempt.charge {
            OpsCharge::Nothing => Charge::Nothing,
            OpsCharge::Certain => Charge::Certain,
            _ => Charge::Possible,
        }
    }
}

/// A failed item.
#[derive(Debug)]
pub struct Failed {
    pub message: String,
    pub kind: &'static str,
    pub provider: Option<Provider>,
    pub charge: Charge,
    pub job_id: Option<String>,
    /// Every provider tried, for unified tasks.
    pub attempts: Option<Box<Value>>,
}

impl Failed {
    /// A failure on this side (a file that cannot be read or written).
    pub fn local(message: impl Into<String>) -> Failed {
        Failed {
            message: message.into(),
            kind: "local",
            provider: None,
            charge: Charge::Nothing,
            job_id: None,
            attempts: None,
        }
    }

    /// A failure that happened at `charge` or later.
    pub fn charged(error: Error, charge: Charge) -> Failed {
        let mut failed = Failed::from(error);
        failed.charge = failed.charge.max(charge);
        failed
    }

    /// A failure while waiting for work the provider accepted, with its job id.
    pub fn waiting(error: Error, charge: Charge, job_id: &str) -> Failed {
        let mut failed = Failed::charged(error, charge);
        failed.job_id = Some(job_id.to_string());
        failed
    }
}

impl From<Error> for Failed {
    fn from(error: Error) -> Failed {
        let (charge, job_id, attempts) = match &error {
            Error::TaskFailed { attempts, .. } => (
                attempts
                    .iter()
                    .map(Charge::of_attempt)
                    .max()
                    .unwrap_or(Charge::Nothing),
                attempts.iter().rev().find_map(|a| a.job_id.clone()),
                serde_json::to_value(attempts).ok().map(Box::new),
            ),
            Error::OutcomeUnknown { .. } => (Charge::Possible, None, None),
            _ => (Charge::Nothing, None, None),
        };
        Failed {
            message: error.to_string(),
            kind: error.kind().name(),
            provider: error.provider(),
            charge,
            job_id,
            attempts,
        }
    }
}

/// What a dry run found for one item.
pub struct Checked {
    pub provider: Option<Provider>,
    /// What would be sent, in words.
    pub sends: String,
    /// The documented price, when the spec states one.
    pub price: Option<Price>,
    /// Why it would be refused.
    pub refusal: Option<String>,
}

/// A documented price.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    pub amount: f64,
    pub unit: &'static str,
    /// `call` or `result`.
    pub per: &'static str,
}

/// What a command does to one item.
pub trait Action: Send + Sync {
    /// The suffix of result names (`remove-background`).
    fn name(&self) -> &str;

    /// Does the work and hands back the files to write.
    fn run<'a>(&'a self, item: &'a Item) -> BoxFuture<'a, Result<Produced, Failed>>;

    /// Checks the item against the documented limits without sending anything.
    fn check<'a>(&'a self, item: &'a Item) -> BoxFuture<'a, Checked>;

    /// The provider doing the work, when there is only one.
    fn provider(&self) -> Option<Provider> {
        None
    }

    /// Whether results are files (commands that print colours write none, and are never
    /// skipped).
    fn writes_files(&self) -> bool {
        true
    }
}

/// How an item ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Done,
    Skipped,
    Failed,
    /// Never started: the run was stopped first.
    Cancelled,
    /// Stopped while running.
    Interrupted,
    /// Dry run: it would be sent.
    Planned,
    /// Dry run: it would be refused.
    Invalid,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Interrupted => "interrupted",
            Status::Planned => "planned",
            Status::Invalid => "invalid",
        }
    }

    pub fn is_success(self) -> bool {
        matches!(self, Status::Done | Status::Skipped | Status::Planned)
    }
}

/// The record of one item, printed as a JSON line and kept for the summary.
#[derive(Debug)]
pub struct Record {
    pub input: String,
    pub status: Status,
    pub outputs: Vec<PathBuf>,
    pub provider: Option<Provider>,
    pub error: Option<String>,
    pub error_kind: Option<&'static str>,
    pub charge: Charge,
    pub job_id: Option<String>,
    pub credits: Option<Value>,
    pub text: Vec<String>,
    pub extra: Map<String, Value>,
}

impl Record {
    fn new(item: &Item, status: Status) -> Record {
        let error =
            (status == Status::Cancelled).then(|| "not started: the run was stopped".to_string());
        Record {
            input: item.label.clone(),
            status,
            outputs: Vec::new(),
            provider: None,
            error,
            error_kind: None,
            charge: Charge::Nothing,
            job_id: None,
            credits: None,
            text: Vec::new(),
            extra: Map::new(),
        }
    }

    fn failed(item: &Item, failed: Failed) -> Record {
        let mut record = Record::new(item, Status::Failed);
        record.error = Some(failed.message);
        record.error_kind = Some(failed.kind);
        record.provider = failed.provider;
        record.charge = failed.charge;
        record.job_id = failed.job_id;
        if let Some(attempts) = failed.attempts {
            record.extra.insert("attempts".into(), *attempts);
        }
        record
    }

    /// Whether the item may have cost credits without giving a result.
    pub fn charged_without_result(&self) -> bool {
        !self.status.is_success() && self.charge != Charge::Nothing
    }

    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "input": self.input,
            "output": self.outputs.first().map(|p| p.display().to_string()),
            "provider": self.provider.map(Provider::id),
            "status": self.status.name(),
            "error": self.error,
            "credits": self.credits,
        });
        if let Some(object) = out.as_object_mut() {
            if self.outputs.len() > 1 {
                let all: Vec<String> = self
                    .outputs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                object.insert("outputs".into(), json!(all));
            }
            if let Some(kind) = self.error_kind {
                object.insert("error_kind".into(), json!(kind));
            }
            if !self.status.is_success() {
                object.insert("charge".into(), json!(self.charge.name()));
            }
            if let Some(job_id) = &self.job_id {
                object.insert("job_id".into(), json!(job_id));
            }
            for (key, value) in &self.extra {
                object.insert(key.clone(), value.clone());
            }
        }
        out
    }
}

/// How a batch runs.
pub struct Settings {
    pub jobs: usize,
    pub overwrite: bool,
    pub dry_run: bool,
    pub json: bool,
}

/// Runs every item; stops starting new ones once `stop` turns true. Returns the records in
/// input order.
pub async fn run(
    items: Vec<Item>,
    action: Arc<dyn Action>,
    settings: Settings,
    display: Arc<Display>,
    stop: watch::Receiver<bool>,
) -> Vec<Record> {
    let slots = Arc::new(Semaphore::new(settings.jobs));
    let settings = Arc::new(settings);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, item) in items.iter().cloned().enumerate() {
        let action = action.clone();
        let slots = slots.clone();
        let settings = settings.clone();
        let display = display.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let record = one(index, &item, &*action, &settings, &display, &slots, stop).await;
            display.finished(index, &record);
            if settings.json {
                println!("{}", record.to_json());
            } else {
                for line in &record.text {
                    println!("{line}");
                }
            }
            (index, record)
        });
    }
    let mut records: Vec<Option<Record>> = items.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, record)) => records[index] = Some(record),
            // A task that panicked leaves its slot empty; it is reported below.
            Err(error) => display.line(&format!("an item stopped unexpectedly: {error}")),
        }
    }
    records
        .into_iter()
        .zip(&items)
        .map(|(record, item)| {
            record.unwrap_or_else(|| Record::failed(item, Failed::local("stopped unexpectedly")))
        })
        .collect()
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    // A dropped sender never stops the run.
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn one(
    index: usize,
    item: &Item,
    action: &dyn Action,
    settings: &Settings,
    display: &Arc<Display>,
    slots: &Semaphore,
    stop: watch::Receiver<bool>,
) -> Record {
    if action.writes_files()
        && !settings.overwrite
        && !settings.dry_run
        && let Some(existing) = existing_output(&item.out_base)
    {
        let mut record = Record::new(item, Status::Skipped);
        record.outputs.push(existing);
        return record;
    }
    if *stop.borrow() {
        return Record::new(item, Status::Cancelled);
    }
    display.stage(index, &item.label, "waiting");
    let _slot = tokio::select! {
        // A stop wins over a slot freed by the stop itself.
        biased;
        () = stopped(stop.clone()) => return Record::new(item, Status::Cancelled),
        slot = slots.acquire() => match slot {
            Ok(slot) => slot,
            Err(_) => return Record::new(item, Status::Cancelled),
        },
    };
    if *stop.borrow() {
        return Record::new(item, Status::Cancelled);
    }
    if settings.dry_run {
        display.stage(index, &item.label, "checking");
        return checked(item, action.check(item).await);
    }
    display.stage(index, &item.label, "preparing");
    // The furthest stage the item reached: once the provider has the work, stopping may
    // leave a charge behind.
    let reached = Arc::new(std::sync::Mutex::new(None::<Activity>));
    let observer = {
        let reached = reached.clone();
        let display = display.clone();
        let label = item.label.clone();
        move |activity: Activity| {
            let Ok(mut reached) = reached.lock() else {
                return;
            };
            // Each poll reports `processing` again; only a new stage is worth showing.
            if reached.replace(activity) != Some(activity) {
                display.stage(index, &label, activity.name());
            }
        }
    };
    let produced = tokio::select! {
        produced = observe(observer, action.run(item)) => produced,
        () = stopped(stop) => {
            let mut record = Record::new(item, Status::Interrupted);
            record.provider = action.provider();
            let reached = reached.lock().ok().and_then(|r| *r);
            if reached == Some(Activity::Processing) {
                record.charge = Charge::Possible;
            }
            record.error = Some(format!(
                "stopped while {}",
                reached.map_or("preparing", Activity::name)
            ));
            return record;
        }
    };
    let produced = match produced {
        Ok(produced) => produced,
        Err(failed) => return Record::failed(item, failed),
    };
    // Downloads run to the end even after a first Ctrl-C: the work is paid for.
    display.stage(index, &item.label, "downloading");
    let mut record = Record::new(item, Status::Done);
    record.provider = Some(produced.provider);
    record.credits = produced.credits;
    record.job_id = produced.job_id;
    record.text = produced.text;
    record.extra = produced.extra;
    for product in produced.files {
        match save(index, item, product, display).await {
            Ok(path) => record.outputs.push(path),
            Err(message) => {
                record.status = Status::Failed;
                record.error = Some(message);
                record.error_kind = Some("io");
                record.charge = Charge::Certain;
                return record;
            }
        }
    }
    record
}

fn checked(item: &Item, checked: Checked) -> Record {
    let status = if checked.refusal.is_some() {
        Status::Invalid
    } else {
        Status::Planned
    };
    let mut record = Record::new(item, status);
    record.provider = checked.provider;
    record.error = checked.refusal;
    record.extra.insert("sends".into(), json!(checked.sends));
    record.credits = checked.price.map(crate::prices::to_json);
    record
}

/// Writes one file of a result; its extension comes from the result's format.
async fn save(
    index: usize,
    item: &Item,
    product: Product,
    display: &Arc<Display>,
) -> Result<PathBuf, String> {
    let known = product
        .extension
        .or_else(|| product.output.format().map(|f| f.extension()));
    let extension = known.unwrap_or(UNKNOWN);
    let mut name = file_name(&item.out_base);
    if let Some(suffix) = &product.suffix {
        name.push('-');
        name.push_str(suffix);
    }
    name.push('.');
    name.push_str(extension);
    let path = item.out_base.with_file_name(name);
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let display = display.clone();
    let output = product
        .output
        .on_progress(move |progress| display.download(index, progress.done, progress.total));
    output
        .save(&path)
        .await
        .map_err(|e| format!("the result could not be saved to {}: {e}", path.display()))?;
    if known.is_some() {
        return Ok(path);
    }
    // Neither the provider nor the URL said the format: the file's header does.
    let Some(format) = sniff(&path).await else {
        return Ok(path);
    };
    let named = path.with_extension(format.extension());
    tokio::fs::rename(&path, &named).await.map_err(|e| {
        format!(
            "cannot rename {} to {}: {e}",
            path.display(),
            named.display()
        )
    })?;
    Ok(named)
}

/// The extension of a result whose format is unknown.
const UNKNOWN: &str = "bin";

/// The image format of a file, from its first bytes.
async fn sniff(path: &Path) -> Option<pixmill::ImageFormat> {
    use tokio::io::AsyncReadExt as _;
    let mut header = Vec::with_capacity(64);
    let file = tokio::fs::File::open(path).await.ok()?;
    file.take(64).read_to_end(&mut header).await.ok()?;
    pixmill::ImageFormat::detect(&header)
}

pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A finished result of `out_base`, whatever its extension. Unfinished downloads are hidden
/// temporary files and never count.
pub fn existing_output(out_base: &Path) -> Option<PathBuf> {
    let name = file_name(out_base);
    let parent = match out_base.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let entries = std::fs::read_dir(parent).ok()?;
    entries.flatten().map(|entry| entry.path()).find(|path| {
        path.is_file()
            && path
                .file_stem()
                .is_some_and(|stem| stem.to_string_lossy() == name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_counts_whatever_its_extension() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("photo-upscale");
        assert_eq!(existing_output(&base), None);
        std::fs::write(dir.path().join(".photo-upscale.png.12.part"), b"x").unwrap();
        std::fs::write(dir.path().join("photo-upscale-2.png"), b"x").unwrap();
        assert_eq!(
            existing_output(&base),
            None,
            "partial and extra files do not count"
        );
        std::fs::write(dir.path().join("photo-upscale.webp"), b"x").unwrap();
        assert_eq!(
            existing_output(&base),
            Some(dir.path().join("photo-upscale.webp"))
        );
    }

    #[test]
    fn failures_keep_the_worst_charge_known() {
        let refused = Failed::from(Error::from(pixmill::InputError::NotAnImage));
        assert_eq!(refused.charge, Charge::Nothing);
        assert_eq!(refused.kind, "invalid_input");
        let later = Failed::charged(
            Error::from(pixmill::InputError::NotAnImage),
            Charge::Certain,
        );
        assert_eq!(later.charge, Charge::Certain);
        let waiting = Failed::waiting(
            Error::from(pixmill::InputError::NotAnImage),
            Charge::Possible,
            "j1",
        );
        assert_eq!(
            (waiting.charge, waiting.job_id.as_deref()),
            (Charge::Possible, Some("j1"))
        );
    }
}
