//! The ground floor: label sets, metric families and their text encodings, time. Every other
//! module builds on these; this one imports nothing of ours.

/// Declares the modules of a registry and its table in one list, so that adding an entry is one
/// file and one line: `registry! { pub const ALL: &[Spec] = SPEC; arp, cpu }` is `pub mod arp;
/// pub mod cpu;` and `pub const ALL: &[Spec] = &[arp::SPEC, cpu::SPEC];`.
#[macro_export]
macro_rules! registry {
    ($vis:vis const $all:ident: &[$ty:ty] = $item:ident; $($m:ident),+ $(,)?) => {
        $(pub mod $m;)+
        $vis const $all: &[$ty] = &[$($m::$item),+];
    };
}

pub mod family;
pub mod file;
pub mod labels;
pub mod time;

pub use family::{encode, normalize, Family, Format, MetricType, Sample, SUFFIX_LABEL};
pub use labels::Labels;
