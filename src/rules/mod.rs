//! The rules engine: Prometheus rule files (`file`), their evaluation over a sample store
//! (`groupeval`), `telltale test rules` (`unittest`, over promtool's test format), the alert
//! lifecycle (`alert`, `alert_out`) and templating (`template`).

pub mod alert;
mod alert_ext;
pub mod alert_out;
#[cfg(test)]
mod alert_tests;
#[cfg(test)]
mod alert_tests2;
pub mod file;
#[cfg(test)]
mod file_tests;
pub mod groupeval;
pub mod series;
pub mod template;
pub mod testfile;
pub mod unittest;
