//! The `cargo xtask` command line: see `cargo xtask help`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::{codegen, diff, lint, spec, surface};
use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  lint [SPEC...]     check specs (all of specs/*.yaml by default)
  codegen            lint every spec and regenerate generated/<provider>/
  codegen --check    lint, then fail with a diff if generated/ is stale
  surface SPEC       print the reviewable surface of one spec
  diff [OPTIONS]     report what changed between two versions of the specs (`diff --help`)
";

/// Runs the command line with the process's arguments.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let root = spec::workspace_root();
    match args.first().map(String::as_str) {
        Some("lint") => {
            let files = spec_args(&root, &args[1..])?;
            let (_, findings) = lint_all(&files)?;
            Ok(if findings == 0 {
                println!("lint: {} spec(s) clean", files.len());
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Some("codegen") => {
            let check = match &args[1..] {
                [] => false,
                [flag] if flag == "--check" => true,
                _ => bail!("{USAGE}"),
            };
            codegen_all(&root, check)
        }
        Some("surface") => {
            let [file] = &args[1..] else { bail!("{USAGE}") };
            print!("{}", surface::render(&spec::Spec::load(Path::new(file))?));
            Ok(ExitCode::SUCCESS)
        }
        Some("diff") => Ok(diff_command(&root, &args[1..])),
        Some("help") | Some("--help") | Some("-h") | None => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// `diff` reports usage and parse errors with status 2, so that CI can tell them from a
/// breaking change (status 1 with `--fail-on-breaking`).
fn diff_command(root: &Path, args: &[String]) -> ExitCode {
    const USAGE_ERROR: u8 = 2;
    let options = match diff::command::Options::parse(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{}", diff::command::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{}", diff::command::USAGE);
            return ExitCode::from(USAGE_ERROR);
        }
    };
    match diff::command::run(root, &options) {
        Ok(outcome) => {
            print!("{}", outcome.output);
            if options.fail_on_breaking && outcome.breaking {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(USAGE_ERROR)
        }
    }
}

fn spec_args(root: &Path, args: &[String]) -> Result<Vec<PathBuf>> {
    if args.is_empty() {
        spec::spec_files(&root.join("specs"))
    } else {
        Ok(args.iter().map(PathBuf::from).collect())
    }
}

/// Lints `files`, printing each finding; returns the parsed specs and the number of findings.
fn lint_all(files: &[PathBuf]) -> Result<(Vec<spec::Spec>, usize)> {
    let mut specs = Vec::new();
    let mut count = 0;
    for file in files {
        let spec = spec::Spec::load(file)?;
        for finding in lint::lint(&spec) {
            eprintln!("{finding}");
            count += 1;
        }
        specs.push(spec);
    }
    Ok((specs, count))
}

fn codegen_all(root: &Path, check: bool) -> Result<ExitCode> {
    let files = spec::spec_files(&root.join("specs"))?;
    if files.is_empty() {
        bail!("no specs found in {}", root.join("specs").display());
    }
    let (specs, findings) = lint_all(&files)?;
    if findings > 0 {
        bail!("{findings} lint finding(s); fix the specs first");
    }
    // One thread per spec: most of the time goes to rustfmt processes, which then overlap.
    let generated: Vec<Result<codegen::Generated>> = std::thread::scope(|scope| {
        let workers: Vec<_> = specs
            .iter()
            .map(|spec| scope.spawn(move || codegen::generate(spec, root)))
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("code generation panicked")))
            })
            .collect()
    });
    let mut expected = BTreeMap::new();
    for result in generated {
        expected.extend(result?.files);
    }
    if check {
        let drift = codegen::drift(&expected, root)?;
        if drift.diffs.is_empty() {
            println!("codegen: generated/ matches {} spec(s)", specs.len());
            return Ok(ExitCode::SUCCESS);
        }
        for diff in &drift.diffs {
            println!("{diff}");
        }
        eprintln!(
            "codegen --check: {} generated file(s) are stale; run `cargo xtask codegen`",
            drift.diffs.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    let changed = codegen::write(&expected, root)?;
    println!(
        "codegen: {} spec(s), {} file(s) written or removed",
        specs.len(),
        changed
    );
    Ok(ExitCode::SUCCESS)
}
