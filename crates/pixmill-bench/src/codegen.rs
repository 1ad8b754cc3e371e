//! `cargo xtask codegen --check` on a warm build: what a spec edit costs before review.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::{Figure, median};

const RUNS: usize = 5;

pub fn measure() -> Result<Vec<Figure>, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .ok_or("no workspace root")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let run = || -> Result<f64, String> {
        let started = Instant::now();
        let out = Command::new(&cargo)
            .args(["xtask", "codegen", "--check"])
            .current_dir(root)
            .output()
            .map_err(|e| format!("running cargo xtask: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo xtask codegen --check failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(started.elapsed().as_secs_f64())
    };
    // The first run builds the tool if needed.
    run()?;
    let mut times = (0..RUNS).map(|_| run()).collect::<Result<Vec<_>, _>>()?;
    let warm = median(&mut times);
    Ok(vec![Figure {
        name: "cargo xtask codegen --check, warm".into(),
        measured: format!("{warm:.2} s"),
        goal: "at most 2 s".into(),
        met: warm <= 2.0,
    }])
}
