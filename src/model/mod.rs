//! The ground floor: label sets, metric families and their text encodings, time. Every other
//! module builds on these; this one imports nothing of ours.

pub mod family;
pub mod labels;
pub mod time;

pub use family::{encode, normalize, Family, Format, MetricType, Sample, SUFFIX_LABEL};
pub use labels::Labels;
