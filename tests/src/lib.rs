//! Shared helpers for the workspace-level tests in `tests/tests/` (the `it` binary and the tracing test).

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

/// Every spec, in the order the README lists the providers: one per provider, and Perfect's
/// second API beside its first (`perfect-v2`).
pub const PROVIDERS: &[&str] = &["hotpot", "hitpaw", "segmind", "perfect", "perfect-v2"];

/// The sandbox provider serving a spec: a second API version (`perfect-v2`) lives on its
/// provider's server.
pub fn provider_of(spec: &str) -> pixmill_sandbox::Provider {
    let name = spec.split_once('-').map_or(spec, |(provider, _)| provider);
    name.parse()
        .unwrap_or_else(|e| panic!("spec {spec} belongs to no provider: {e}"))
}

/// The specs a sandbox provider serves.
pub fn specs_of(provider: pixmill_sandbox::Provider) -> impl Iterator<Item = &'static str> {
    PROVIDERS
        .iter()
        .copied()
        .filter(move |spec| provider_of(spec) == provider)
}
