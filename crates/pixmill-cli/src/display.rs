//! Progress on stderr: bars on a terminal, plain lines otherwise, nothing but failures with
//! `--quiet`.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::batch::{Record, Status};

enum Mode {
    /// An overall bar with ETA and a line per running item.
    Bars {
        multi: MultiProgress,
        overall: ProgressBar,
        items: Mutex<HashMap<usize, ProgressBar>>,
    },
    /// One line per stage change and per finished item.
    Plain { total: usize, done: Mutex<usize> },
    /// Failures only.
    Quiet,
}

/// Where progress goes.
pub struct Display {
    mode: Mode,
}

impl Display {
    /// Bars when stderr is a terminal, plain lines when it is not, failures only when quiet.
    pub fn new(total: usize, quiet: bool) -> Display {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} items, {elapsed} elapsed, ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            overall.enable_steady_tick(Duration::from_millis(200));
            Mode::Bars {
                multi,
                overall,
                items: Mutex::new(HashMap::new()),
            }
        } else {
            Mode::Plain {
                total,
                done: Mutex::new(0),
            }
        };
        Display { mode }
    }

    /// A line above the bars (or on its own).
    pub fn line(&self, text: &str) {
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
            _ => eprintln_safely(text),
        }
    }

    /// Item `index` entered `stage`.
    pub fn stage(&self, index: usize, label: &str, stage: &str) {
        match &self.mode {
            Mode::Bars { multi, items, .. } => {
                let Ok(mut items) = items.lock() else { return };
                let bar = items.entry(index).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {prefix} {wide_msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(label.to_string());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_message(stage.to_string());
            }
            // Waiting for a slot is not worth a line of its own.
            Mode::Plain { .. } if stage == "waiting" => {}
            Mode::Plain { .. } => eprintln_safely(&format!("{label}: {stage}")),
            Mode::Quiet => {}
        }
    }

    /// Bytes of item `index`'s result written so far.
    pub fn download(&self, index: usize, done: u64, total: Option<u64>) {
        if let Mode::Bars { items, .. } = &self.mode
            && let Ok(items) = items.lock()
            && let Some(bar) = items.get(&index)
        {
            let size = |n: u64| indicatif::HumanBytes(n).to_string();
            bar.set_message(match total {
                Some(total) => format!("downloading {} of {}", size(done), size(total)),
                None => format!("downloading {}", size(done)),
            });
        }
    }

    /// Item `index` ended with `record`.
    pub fn finished(&self, index: usize, record: &Record) {
        let line = describe(record);
        match &self.mode {
            Mode::Bars {
                multi,
                overall,
                items,
            } => {
                if let Ok(mut items) = items.lock()
                    && let Some(bar) = items.remove(&index)
                {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
                overall.inc(1);
                if !record.status.is_success() {
                    let _ = multi.println(line);
                }
            }
            Mode::Plain { total, done } => {
                let count = done.lock().map_or(0, |mut done| {
                    *done += 1;
                    *done
                });
                eprintln_safely(&format!("[{count}/{total}] {line}"));
            }
            Mode::Quiet if !record.status.is_success() => eprintln_safely(&line),
            Mode::Quiet => {}
        }
    }

    /// Removes the bars before the summary.
    pub fn close(&self) {
        if let Mode::Bars { overall, .. } = &self.mode {
            overall.finish_and_clear();
        }
    }

    pub fn is_quiet(&self) -> bool {
        matches!(self.mode, Mode::Quiet)
    }
}

/// One line about a finished item.
fn describe(record: &Record) -> String {
    let outputs: Vec<String> = record
        .outputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let by = record
        .provider
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    match record.status {
        Status::Done => format!("{}: done{by} -> {}", record.input, outputs.join(", ")),
        Status::Skipped => format!("{}: skipped, {} exists", record.input, outputs.join(", ")),
        Status::Planned => format!("{}: would be sent{by}", record.input),
        _ => format!(
            "{}: {}{by}: {}",
            record.input,
            record.status.name(),
            record.error.as_deref().unwrap_or("no reason given")
        ),
    }
}

/// `eprintln!` that does not panic when stderr is closed.
pub fn eprintln_safely(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
