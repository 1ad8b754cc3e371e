//! The specs of a git revision, read with `git` run as a subprocess from the workspace root.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::spec::{Spec, spec_files};

/// The branch whose merge base is the default base revision.
pub const MAIN_BRANCH: &str = "main";

/// Runs `git` in `root` and returns its standard output, or its error message.
fn git(root: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .context("cannot run `git`; is it installed?")?;
    if !output.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).context("`git` printed text that is not UTF-8")
}

/// The revision to compare with when none is given: `HEAD~1` on the main branch, otherwise the
/// merge base of `HEAD` and the main branch.
pub fn default_base(root: &Path) -> Result<String> {
    let branch = git(root, &["rev-parse", "--abbrev-ref", "HEAD"])
        .context("not a git work tree, or git is missing; use --old and --new")?;
    if branch.trim() == MAIN_BRANCH {
        return Ok("HEAD~1".to_string());
    }
    let base = git(root, &["merge-base", "HEAD", MAIN_BRANCH]).with_context(|| {
        format!("no merge base between HEAD and `{MAIN_BRANCH}`; pass --base REF")
    })?;
    Ok(base.trim().to_string())
}

/// The commit a revision names; an error that names the revision if it names none.
pub fn resolve(root: &Path, revision: &str) -> Result<String> {
    if revision.starts_with('-') {
        bail!("unknown git revision `{revision}`");
    }
    let commit = git(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{revision}^{{commit}}"),
        ],
    )
    .map_err(|_| anyhow::anyhow!("unknown git revision `{revision}`"))?;
    Ok(commit.trim().to_string())
}

/// Every `specs/*.yaml` of a commit, by path (`specs/hotpot.yaml`), parsed and checked.
pub fn specs_at(root: &Path, commit: &str, revision: &str) -> Result<BTreeMap<String, Spec>> {
    let listing = git(root, &["ls-tree", "--name-only", commit, "--", "specs/"])?;
    let mut out = BTreeMap::new();
    for path in listing.lines() {
        let Some(name) = path.strip_prefix("specs/") else {
            continue;
        };
        if name.contains('/') || !name.ends_with(".yaml") {
            continue;
        }
        let text = git(root, &["show", &format!("{commit}:{path}")])?;
        // Messages name the file and the revision it was read from.
        let shown = format!("{path} at {revision}");
        out.insert(path.to_string(), super::parse(Path::new(&shown), text)?);
    }
    Ok(out)
}

/// Every `specs/*.yaml` of the working tree under `root`, by path, parsed and checked.
pub fn working_specs(root: &Path) -> Result<BTreeMap<String, Spec>> {
    let mut out = BTreeMap::new();
    for file in spec_files(&root.join("specs"))? {
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let relative = format!("specs/{name}");
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("{relative}: cannot be read"))?;
        out.insert(relative.clone(), super::parse(Path::new(&relative), text)?);
    }
    Ok(out)
}
