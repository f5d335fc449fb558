//! The rules engine: Prometheus rule files (`file`), the running engine (`engine*`, `api`), their evaluation over a sample store
//! (`groupeval`), `telltale test rules` (`unittest`, over promtool's test format), the alert
//! lifecycle (`alert`, `alert_out`), templating (`template`) and rule kinds beyond `expr`
//! (`kinds`: `correlate`, `correlation`).

pub mod alert;
mod alert_ext;
pub mod alert_out;
#[cfg(test)]
mod alert_tests;
#[cfg(test)]
mod alert_tests2;
pub mod api;
pub mod datasource;
#[cfg(test)]
mod datasource_tests;
pub mod engine;
mod engine_metrics;
mod engine_sched;
mod engine_state;
pub mod file;
mod file_ext;
#[cfg(test)]
mod file_tests;
#[cfg(test)]
mod file_tests_ext;
pub mod globs;
pub mod groupeval;
pub mod kinds;
mod remote;
pub mod series;
pub mod settings;
pub mod template;
pub mod testfile;
pub mod unittest;
