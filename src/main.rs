//! telltale: a Prometheus exporter and alert-rules engine in one binary.

mod collector;
mod exposition;
mod yaml;

fn main() {}
