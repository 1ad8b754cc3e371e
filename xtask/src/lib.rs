//! Workspace tooling for pixmill: spec lint, client generation, the spec surface and the
//! breaking-change report between two versions of a spec.
//!
//! The binary (`cargo xtask ...`) is a thin command line over these modules; the snapshot tests
//! in `tests/` use [`surface`] and [`spec`] directly.

pub mod cli;
pub mod codegen;
pub mod diff;
pub mod examples;
pub mod facts;
pub mod lint;
pub mod model;
pub mod spec;
pub mod surface;
