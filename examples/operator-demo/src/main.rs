//! operator-demo: the reference backend assembled from every Rampart crate.
//! `cargo run -p operator-demo` serves at http://127.0.0.1:8000.

fn main() -> std::process::ExitCode {
    operator_demo::run_cli()
}
