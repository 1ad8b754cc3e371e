//! `pixmill`: batch image work on Hotpot.ai, HitPaw, Segmind and Perfect Corp from the
//! command line, built on the `pixmill` crate; `pixmill --help` says how.

#![forbid(unsafe_code)]

mod batch;
mod cli;
mod display;
mod hitpaw;
mod hotpot;
mod inputs;
mod op;
mod perfect;
mod perfect_v2;
mod prices;
mod segmind;
mod setup;
mod summary;
mod tasks;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory as _, Parser as _};

use crate::batch::{Action, BoxFuture, Item, Settings};
use crate::cli::{Cli, Command, Global};
use crate::display::{Display, eprintln_safely};
use crate::setup::Setup;
use crate::tasks::{Options, TaskAction};

/// Every item succeeded (or, in a dry run, would be sent).
const SUCCESS: u8 = 0;
/// Some items failed, were refused by a dry run, or were stopped.
const SOME_FAILED: u8 = 1;
/// The command line or the setup is wrong; nothing ran.
const USAGE: u8 = 2;

/// A batch to run.
pub struct Plan {
    items: Vec<Item>,
    action: Arc<dyn Action>,
    jobs: usize,
    overwrite: bool,
}

impl Plan {
    pub fn new(items: Vec<Item>, action: Arc<dyn Action>, jobs: u16, overwrite: bool) -> Plan {
        Plan {
            items,
            action,
            jobs: usize::from(jobs.max(1)),
            overwrite,
        }
    }
}

/// What a command does: a batch, or a catalogue listing (rows printed as they are).
pub enum Work {
    Batch(Plan),
    List(BoxFuture<'static, anyhow::Result<Vec<serde_json::Value>>>),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version print and succeed; usage errors exit with 2.
        Err(error) => error.exit(),
    };
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "pixmill",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln_safely(&format!("pixmill: cannot start: {error}"));
            return ExitCode::from(USAGE);
        }
    };
    ExitCode::from(runtime.block_on(run(cli)))
}

async fn run(cli: Cli) -> u8 {
    let Cli { global, command } = cli;
    let setup = if global.sandbox {
        match Setup::sandbox().await {
            Ok(setup) => setup,
            Err(error) => {
                eprintln_safely(&format!("pixmill: {error}"));
                return USAGE;
            }
        }
    } else {
        Setup::Env {
            dry_run: global.dry_run,
        }
    };
    let work = match plan(command, &setup, &global) {
        Ok(work) => work,
        Err(error) => {
            eprintln_safely(&format!("pixmill: {error:#}"));
            return USAGE;
        }
    };
    match work {
        Work::Batch(plan) => batch(plan, &global).await,
        Work::List(rows) => list(rows, &global).await,
    }
}

/// Turns a command into work, building each provider's client once.
fn plan(command: Command, setup: &Setup, global: &Global) -> anyhow::Result<Work> {
    let (options, images, prompts, out, choice) = match command {
        Command::RemoveBackground {
            images,
            out,
            choice,
            format,
        } => (
            Options::RemoveBackground { format },
            Some(images),
            None,
            out,
            choice,
        ),
        Command::Upscale {
            images,
            out,
            choice,
            factor,
        } => (Options::Upscale { factor }, Some(images), None, out, choice),
        Command::Colorize {
            images,
            out,
            choice,
        } => (Options::Colorize, Some(images), None, out, choice),
        Command::Restore {
            images,
            out,
            choice,
            remove_scratches,
        } => (
            Options::Restore { remove_scratches },
            Some(images),
            None,
            out,
            choice,
        ),
        Command::Generate {
            prompts,
            out,
            choice,
            animated,
            still,
            perfect_style,
        } => {
            let animated = (animated || still).then_some(animated);
            let options = Options::Generate {
                animated,
                style: perfect_style,
            };
            (options, None, Some(prompts), out, choice)
        }
        Command::Hotpot(command) => return Ok(Work::Batch(command.plan(setup)?)),
        Command::Hitpaw(command) => return Ok(Work::Batch(command.plan(setup)?)),
        Command::Segmind(command) => return Ok(Work::Batch(command.plan(setup)?)),
        Command::Perfect(command) => return command.plan(setup),
        Command::PerfectV2(command) => return command.plan(setup),
        Command::Completions { .. } => anyhow::bail!("completions need no plan"),
    };
    let task = options.task();
    let items = match (images, prompts) {
        (Some(images), _) => {
            inputs::images(&images.inputs, images.recursive, &out.out_dir, task.id())?
        }
        (None, Some(prompts)) => inputs::prompts(&prompts.prompts, &out.out_dir, task.id()),
        (None, None) => Vec::new(),
    };
    // A dry run needs no credentials: it only reads the specs' facts.
    let (providers, preference) = if global.dry_run && choice.providers.is_empty() {
        let all = pixmill::ops::offers(task)
            .iter()
            .map(|o| o.provider)
            .collect();
        (pixmill::ops::Providers::new(), all)
    } else if global.dry_run {
        (pixmill::ops::Providers::new(), choice.providers.clone())
    } else {
        setup.providers(task, &choice.providers)?
    };
    let action = TaskAction {
        options,
        providers,
        preference,
    };
    Ok(Work::Batch(Plan::new(
        items,
        Arc::new(action),
        out.jobs,
        out.overwrite,
    )))
}

async fn batch(plan: Plan, global: &Global) -> u8 {
    let Plan {
        items,
        action,
        jobs,
        overwrite,
    } = plan;
    let display = Arc::new(Display::new(items.len(), global.quiet));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watcher = {
        let display = display.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            let _ = stop.send(true);
            display.line(
                "pixmill: stopping: no new items start; running downloads finish (Ctrl-C again quits at once)",
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln_safely("pixmill: quit; results may be missing");
                std::process::exit(i32::from(SOME_FAILED));
            }
        })
    };
    let settings = Settings {
        jobs,
        overwrite,
        dry_run: global.dry_run,
        json: global.json,
    };
    let records = batch::run(items, action, settings, display.clone(), stopped).await;
    watcher.abort();
    display.close();
    if !display.is_quiet() {
        eprintln_safely(&summary::table(&records, global.dry_run));
    }
    if let Some(warning) = summary::charged(&records) {
        eprintln_safely(&warning);
    }
    if records.iter().all(|r| r.status.is_success()) {
        SUCCESS
    } else {
        SOME_FAILED
    }
}

async fn list(
    rows: BoxFuture<'static, anyhow::Result<Vec<serde_json::Value>>>,
    global: &Global,
) -> u8 {
    let rows = match rows.await {
        Ok(rows) => rows,
        Err(error) => {
            eprintln_safely(&format!("pixmill: {error:#}"));
            return SOME_FAILED;
        }
    };
    let mut stdout = std::io::stdout().lock();
    for row in &rows {
        let line = if global.json {
            row.to_string()
        } else {
            // The values in order, tab-separated, for reading and for `cut`.
            row.as_object()
                .map(|object| {
                    object
                        .iter()
                        .filter(|(key, _)| *key != "feature")
                        .map(|(_, value)| {
                            value
                                .as_str()
                                .map_or_else(|| value.to_string(), str::to_string)
                        })
                        .collect::<Vec<_>>()
                        .join("\t")
                })
                .unwrap_or_default()
        };
        if writeln!(stdout, "{line}").is_err() {
            break;
        }
    }
    if rows.is_empty() && !global.quiet {
        eprintln_safely("pixmill: the catalogue is empty");
    }
    SUCCESS
}
