//! The rules engine: alert lifecycle and templating (more modules join as they land).

pub mod alert;
pub mod alert_out;
#[cfg(test)]
mod alert_tests;
pub mod template;
