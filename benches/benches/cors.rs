//! Benchmark of rampart-cors beside its peer (being written).

fn main() {}
