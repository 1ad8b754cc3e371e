//! Shared helpers for the workspace-level tests in `tests/tests/`.

use std::path::{Path, PathBuf};

pub mod conformance;
pub mod fake;
pub mod sandbox;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf()
}

/// Path of a provider's spec.
pub fn spec_path(provider: &str) -> PathBuf {
    workspace_root()
        .join("specs")
        .join(format!("{provider}.yaml"))
}

/// The four providers, in the order the README lists them.
pub const PROVIDERS: &[&str] = &["hotpot", "hitpaw", "segmind", "perfect"];
