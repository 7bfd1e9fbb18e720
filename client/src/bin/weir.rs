//! `weir`: the operator's command-line tool (topics, produce, consume, groups, perf).
fn main() {}
