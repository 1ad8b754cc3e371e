//! What the examples share: their arguments, and an in-process sandbox when the provider's key
//! variable is unset, so they run offline and for free.

#![allow(dead_code)]

use std::path::PathBuf;

use pixmill_sandbox::Sandbox;

/// The sample image kept in the repository.
pub fn sample_image() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/sample.png")
}

/// `<first> <out_dir>` from the command line, with defaults; creates the output directory.
pub fn args(default_first: String) -> (String, PathBuf) {
    let mut args = std::env::args().skip(1);
    let first = args.next().unwrap_or(default_first);
    let out_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("pixmill-out"));
    if let Err(error) = std::fs::create_dir_all(&out_dir) {
        eprintln!("cannot create {}: {error}", out_dir.display());
        std::process::exit(1);
    }
    (first, out_dir)
}

/// A sandbox when `key_variable` is unset (the real API is used when it is set).
pub async fn sandbox_unless(key_variable: &str) -> Option<Sandbox> {
    if std::env::var_os(key_variable).is_some_and(|v| !v.is_empty()) {
        eprintln!("{key_variable} is set: calling the real API (this spends credits)");
        return None;
    }
    let sandbox = start_sandbox().await;
    eprintln!(
        "{key_variable} is not set: using a local sandbox at {}",
        sandbox.addr()
    );
    Some(sandbox)
}

/// An in-process sandbox; exits when it cannot start.
pub async fn start_sandbox() -> Sandbox {
    match Sandbox::start().await {
        Ok(sandbox) => sandbox,
        Err(error) => {
            eprintln!("cannot start the sandbox: {error}");
            std::process::exit(1);
        }
    }
}
