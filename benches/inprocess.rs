//! Placeholder replaced by the benchmark work; prints nothing.
fn main() {}
