//! Workspace tooling for pixmill: spec lint, client generation and the spec surface.
//!
//! The binary (`cargo xtask ...`) is a thin command line over these modules; the snapshot tests
//! in `tests/` use [`surface`] and [`spec`] directly.

pub mod codegen;
pub mod examples;
pub mod facts;
pub mod lint;
pub mod model;
pub mod spec;
pub mod surface;
