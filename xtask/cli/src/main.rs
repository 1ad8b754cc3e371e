//! `cargo xtask <command>`, built outside the main workspace: see `cargo xtask help`.

fn main() -> std::process::ExitCode {
    xtask::cli::main()
}
