//! The rules engine: Prometheus rule files (`file`), their evaluation over a sample store
//! (`groupeval`) and `telltale test rules` (`unittest`, over promtool's test format).

pub mod file;
pub mod groupeval;
pub mod series;
pub mod standin;
pub mod testfile;
pub mod unittest;

#[cfg(test)]
mod file_tests;
