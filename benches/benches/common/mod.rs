//! The harness that the benches here share (each includes it with
//! `mod common;`): one request driven through a service without a runtime,
//! the criterion loop that times it, and the `<NAME>_COUNT` mode whose
//! instructions callgrind counts.
//!
//! Each bench uses part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::{
    fmt::Debug,
    future::Future,
    hint::black_box,
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use criterion::{BatchSize, BenchmarkGroup, Criterion, measurement::WallTime};
use tower::Service;

/// Drives one request through `service`, which must be ready at once and
/// answer at once (the handlers here never wait), so one poll with a no-op
/// waker completes it: no runtime in the measurement. Never inlined, so that
/// `valgrind --tool=callgrind --toggle-collect='*call_now*'` counts the
/// instructions of exactly one request.
#[inline(never)]
pub(crate) fn call_now<S, R>(service: &mut S, request: R) -> S::Response
where
    S: Service<R>,
    S::Error: Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(ready) = service.poll_ready(&mut cx) else {
        panic!("the service is not ready at once");
    };
    ready.expect("the service is ready");
    match pin!(service.call(request)).poll(&mut cx) {
        Poll::Ready(response) => response.expect("the service answers"),
        Poll::Pending => panic!("the service did not answer at once"),
    }
}

/// A criterion group whose benches each time one call of a service.
pub(crate) struct Calls<'a> {
    group: BenchmarkGroup<'a, WallTime>,
    drop_inside: bool,
}

impl<'a> Calls<'a> {
    /// The group `name`; each response is dropped after the timed part
    /// (criterion keeps them until then).
    pub(crate) fn group(c: &'a mut Criterion, name: impl Into<String>) -> Self {
        Self {
            group: c.benchmark_group(name),
            drop_inside: false,
        }
    }

    /// Drops each response inside the timed part: what a layer added to it
    /// is freed there too.
    pub(crate) fn dropped_inside(mut self) -> Self {
        self.drop_inside = true;
        self
    }

    /// Times `service` under `name` on requests that `make` builds outside
    /// the timed part.
    pub(crate) fn bench<S, R>(&mut self, name: &str, service: &mut S, mut make: impl FnMut() -> R)
    where
        S: Service<R>,
        S::Error: Debug,
    {
        let drop_inside = self.drop_inside;
        self.group.bench_function(name, |b| {
            if drop_inside {
                b.iter_batched(
                    &mut make,
                    |request| drop(black_box(call_now(service, request))),
                    BatchSize::SmallInput,
                );
            } else {
                b.iter_batched(
                    &mut make,
                    |request| black_box(call_now(service, request)),
                    BatchSize::SmallInput,
                );
            }
        });
    }

    /// Ends the group.
    pub(crate) fn finish(self) {
        self.group.finish();
    }
}

/// Serves every request of `requests` through `service`, each in
/// [`call_now`]: the body of a `<NAME>_COUNT` mode.
pub(crate) fn serve_all<S, R>(mut service: S, requests: impl IntoIterator<Item = R>)
where
    S: Service<R>,
    S::Error: Debug,
{
    for request in requests {
        black_box(call_now(&mut service, request));
    }
}

/// Criterion with a half-second warm-up and `measure` of measurement per
/// bench: these benches time short calls, and the machine is shared.
pub(crate) fn short_runs(measure: Duration) -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measure)
}

/// Runs `targets` with `config` (and the command line's options), as
/// criterion's `criterion_group!` and `criterion_main!` would.
pub(crate) fn run(config: Criterion, targets: &[fn(&mut Criterion)]) {
    let mut criterion = config.configure_from_args();
    for target in targets {
        target(&mut criterion);
    }
    criterion.final_summary();
}

/// The `main` of a bench with a counting mode: with the environment
/// variable `var` set, runs `count` with its value (for callgrind) instead
/// of the criterion `benches`.
pub(crate) fn main_with_count(var: &str, count: impl FnOnce(&str), benches: impl FnOnce()) {
    match std::env::var(var) {
        Ok(which) => count(&which),
        Err(_) => benches(),
    }
}
