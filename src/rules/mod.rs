//! The rules engine: Prometheus rule files (`file`), their evaluation over a sample store
//! (`groupeval`), `telltale test rules` (`unittest`, over promtool's test format), the alert
//! lifecycle (`alert`, `alert_out`) and templating (`template`).
//!
//! `standin` holds the minimal alert stepping and template expansion that `test rules` uses
//! until it is switched to `alert` and `template`.

pub mod alert;
mod alert_ext;
pub mod alert_out;
#[cfg(test)]
mod alert_tests;
#[cfg(test)]
mod alert_tests2;
pub mod datasource;
#[cfg(test)]
mod datasource_tests;
pub mod file;
mod file_ext;
#[cfg(test)]
mod file_tests;
#[cfg(test)]
mod file_tests_ext;
pub mod groupeval;
pub mod series;
pub mod standin;
pub mod template;
pub mod testfile;
pub mod unittest;
