//! Benchmark of rampart-client_ip beside its peer (being written).

fn main() {}
