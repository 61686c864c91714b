//! Benchmark of rampart-headers beside its peer (being written).

fn main() {}
