//! Shared fixtures for the side-by-side benchmarks in `benches/benches/`.
