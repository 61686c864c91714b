//! operator-demo: the reference backend assembled from every Rampart crate.
//! `cargo run -p operator-demo` serves at http://127.0.0.1:8000.

// mimalloc rather than glibc's malloc: a request allocates and frees many
// small buffers on one thread and hands some to another (hyper, tokio),
// where glibc's arenas cost a tenth of the demo's CPU under load
// (docs/performance.md, "Where the time goes now").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    operator_demo::run_cli()
}
