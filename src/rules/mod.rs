//! The rules engine: alert lifecycle and templating (more modules join as they land).

pub mod alert;
mod alert_ext;
pub mod alert_out;
#[cfg(test)]
mod alert_tests;
#[cfg(test)]
mod alert_tests2;
pub mod template;
