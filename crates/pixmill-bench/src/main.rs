//! `pixmill-bench`: measures pixmill against baselines run in the same session, so that machine
//! noise cancels out, and prints each figure next to its goal.
//!
//! ```text
//! cargo measure             # every measurement (an alias of `cargo run --release -p pixmill-bench --`)
//! cargo measure overhead    # one of: overhead memory download polling perfect codegen
//! ```
//!
//! Memory is measured as the peak resident set (`VmHWM`) of a fresh child process per mode,
//! over a child that only sets up a client and sends one small request. Servers run in a
//! separate process, so their memory never counts. See `docs/PERFORMANCE.md` for the method,
//! the figures as measured and the physical floor of each.

mod codegen;
mod memory;
mod overhead;
mod perfect;
mod polling;
mod server;

use std::process::ExitCode;

/// One line of the report.
pub struct Figure {
    pub name: String,
    pub measured: String,
    pub goal: String,
    pub met: bool,
}

impl Figure {
    fn print(&self) {
        println!(
            "{:<44} {:>22}   goal {:<18} {}",
            self.name,
            self.measured,
            self.goal,
            if self.met { "ok" } else { "MISSED" }
        );
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        // Internal entry points of the child processes.
        Some("serve") => server::serve_forever(&args[1..]),
        Some("memory-child") => memory::child(&args[1..]),
        _ => run(&args),
    }
}

fn run(args: &[String]) -> ExitCode {
    let all = [
        "overhead", "memory", "download", "polling", "perfect", "codegen",
    ];
    let wanted: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    if let Some(unknown) = wanted.iter().find(|w| !all.contains(w)) {
        eprintln!("unknown measurement `{unknown}`; one of: {}", all.join(" "));
        return ExitCode::from(2);
    }
    let mut figures = Vec::new();
    for what in wanted {
        eprintln!("== {what}");
        let result = match what {
            "overhead" => overhead::measure(),
            "memory" => memory::measure_hotpot(),
            "download" => memory::measure_download(),
            "polling" => polling::measure(),
            "perfect" => perfect::measure(),
            _ => codegen::measure(),
        };
        match result {
            Ok(mut more) => {
                for figure in &more {
                    figure.print();
                }
                figures.append(&mut more);
            }
            Err(error) => {
                eprintln!("{what} failed: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!();
    for figure in &figures {
        figure.print();
    }
    if figures.iter().all(|f| f.met) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.is_empty() {
        f64::NAN
    } else if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}
