//! Unit tests: expected values are derived by hand from Prometheus' documented semantics.

mod aggregate;
mod binary;
mod functions;
mod helpers;
mod plan;
mod range;
mod select;
