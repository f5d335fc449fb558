//! Commands beside the exporter: the demo application, the fuzzer, offline anomaly scoring and
//! the notifier driver the delivery tests use.

pub mod demo_app;
pub mod fuzz;
pub mod notify_driver;
pub mod score;
