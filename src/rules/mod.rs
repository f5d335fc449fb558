//! The rules engine: Prometheus rule files (`file`), the running engine (`engine*`, `api`), their evaluation over a sample store
//! (`groupeval`), `telltale test rules` (`unittest`, over promtool's test format), the alert
//! lifecycle (`alert`, `alert_out`), templating (`template`) and rule kinds beyond `expr`
//! (`kinds`: `correlate`, `correlation`).

pub mod alert;
pub mod datasource;
pub mod engine;
pub mod eval;
pub mod file;
pub mod kinds;
pub mod promtool;
