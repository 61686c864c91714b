//! The operator-demo program, built inside this package so that the
//! integration tests can name it with `env!("CARGO_BIN_EXE_demo-server")`.
//!
//! Cargo gives a test the path of a binary of its own package only, always
//! freshly built with the test's features. The demo's own `main` is this same
//! one line (`operator_demo::run_cli()`), so the tests run the real program
//! without a nested `cargo build` (which would contend for the target
//! directory's lock and rebuild dependencies with other features).

fn main() -> std::process::ExitCode {
    operator_demo::run_cli()
}
