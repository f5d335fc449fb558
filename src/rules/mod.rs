//! The rules engine: alert lifecycle and templating (more modules join as they land).

pub mod template;
