//! The `cargo xtask diff` command line: options, and running one comparison.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{Report, compare, git, load, render};

/// How to compare, from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// What to compare.
    pub source: Source,
    /// How to print the report.
    pub format: Format,
    /// Exit with status 1 when something breaks.
    pub fail_on_breaking: bool,
}

/// The two sides of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Every spec of `specs/` at a git revision against the working tree.
    Git {
        /// The revision; `None` for the default (see [`git::default_base`]).
        base: Option<String>,
    },
    /// Two spec files.
    Files {
        /// The spec before the change.
        old: PathBuf,
        /// The spec after the change.
        new: PathBuf,
    },
}

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A pull-request comment ([`render::markdown`]).
    Markdown,
    /// `{"changes": [...]}` ([`render::json`]).
    Json,
}

/// Usage of the `diff` command.
pub const USAGE: &str = "\
usage: cargo xtask diff [--base GIT_REF] [--format markdown|json] [--fail-on-breaking]
       cargo xtask diff --old FILE --new FILE [--format markdown|json] [--fail-on-breaking]

Compares every spec in specs/ at GIT_REF (default: the merge base with main, or HEAD~1 on
main) with the working tree, or two spec files, and reports each change with its severity
(breaking, compatible, docs) and its impact on the generated Rust API.

exit status: 0, or 1 with --fail-on-breaking when a change breaks; 2 on a usage or parse error
";

impl Options {
    /// Parses the arguments after `diff`. `Ok(None)` asks for the usage text.
    pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
        let mut base = None;
        let mut old = None;
        let mut new = None;
        let mut format = Format::Markdown;
        let mut fail_on_breaking = false;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .filter(|v| !v.starts_with("--"))
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match arg.as_str() {
                "--base" => base = Some(value("--base")?),
                "--old" => old = Some(PathBuf::from(value("--old")?)),
                "--new" => new = Some(PathBuf::from(value("--new")?)),
                "--format" => {
                    format = match value("--format")?.as_str() {
                        "markdown" => Format::Markdown,
                        "json" => Format::Json,
                        other => {
                            return Err(format!("unknown format `{other}`; use markdown or json"));
                        }
                    }
                }
                "--fail-on-breaking" => fail_on_breaking = true,
                "--help" | "-h" => return Ok(None),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        let source = match (base, old, new) {
            (base, None, None) => Source::Git { base },
            (None, Some(old), Some(new)) => Source::Files { old, new },
            (Some(_), _, _) => return Err("--base cannot be combined with --old/--new".into()),
            _ => return Err("--old and --new go together".into()),
        };
        Ok(Some(Options {
            source,
            format,
            fail_on_breaking,
        }))
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The report in the requested format.
    pub output: String,
    /// Whether some change is breaking.
    pub breaking: bool,
}

/// Runs one comparison from the workspace `root`. Errors (an unknown revision, a file that is
/// not an OpenAPI document) name what was wrong.
pub fn run(root: &Path, options: &Options) -> Result<Outcome> {
    let (report, title) = match &options.source {
        Source::Files { old, new } => {
            let (old_spec, new_spec) = (load(old)?, load(new)?);
            let name = new.display().to_string();
            let report = Report::new(compare(&name, Some(&old_spec), Some(&new_spec)));
            let title = format!("Spec changes: `{}` → `{}`", old.display(), new.display());
            (report, title)
        }
        Source::Git { base } => {
            let revision = match base {
                Some(revision) => revision.clone(),
                None => git::default_base(root)?,
            };
            let commit = git::resolve(root, &revision)?;
            let old = git::specs_at(root, &commit, &revision)?;
            let new = git::working_specs(root)?;
            let mut changes = Vec::new();
            let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                changes.extend(compare(name, old.get(name), new.get(name)));
            }
            let short = &commit[..commit.len().min(10)];
            let title = if revision.starts_with(short) || short.starts_with(revision.as_str()) {
                format!("Spec changes since `{short}`")
            } else {
                format!("Spec changes since `{revision}` (`{short}`)")
            };
            (Report::new(changes), title)
        }
    };
    let output = match options.format {
        Format::Markdown => render::markdown(&report, &title),
        Format::Json => render::json(&report),
    };
    Ok(Outcome {
        output,
        breaking: report.has_breaking(),
    })
}
