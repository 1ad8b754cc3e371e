//! The xtask's tests as one binary: codegen output, the spec lint rules and the breaking-change
//! report. Their fixtures are in `xtask/tests/fixtures/`.

mod codegen;
mod diff;
mod lint_rules;
