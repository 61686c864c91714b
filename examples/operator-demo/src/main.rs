//! operator-demo: the reference backend assembled from every Rampart crate.

fn main() {}
