//! The workspace's end-to-end, snapshot and property tests, built as one binary so the sandbox,
//! the generated crates and `image` are linked once. Shared helpers live in `tests/src`
//! (`pixmill_tests`). The tracing test has its own binary: it installs a global subscriber.
//!
//! ```text
//! cargo test -p pixmill-tests --test it                  # all of them
//! cargo test -p pixmill-tests --test it sandbox_perfect  # one module
//! ```

mod client_core;
mod docs;
mod documented_fields;
mod facade_hitpaw;
mod facade_hotpot;
mod facade_perfect;
mod facade_perfect_v2;
mod facade_segmind;
mod fuzz_parsing;
mod sandbox_core;
mod sandbox_hitpaw;
mod sandbox_hotpot;
mod sandbox_perfect;
mod sandbox_perfect_v2;
mod sandbox_segmind;
mod spec_surface;
mod unified_ops;
mod wire_examples;
