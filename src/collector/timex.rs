//! `timex`: the kernel clock discipline state from adjtimex(2), read-only, as node_exporter 1.5
//! reports it (same names, units and scaling).

use super::{Collector, Ctx, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "timex",
    default_enabled: true,
    options: &[],
    build,
};

/// adjtimex's return value when the clock is not synchronised.
const TIME_ERROR: i32 = 5;
/// Status bit saying offsets are in nanoseconds rather than microseconds.
const STA_NANO: i64 = 0x2000;
/// Frequencies are in ppm with a 16-bit fraction (adjtimex(2), NOTES).
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;
const MICRO: f64 = 1e6;
const NANO: f64 = 1e9;

fn build(_: &Ctx) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Timex))
}

struct Timex;

/// The fields of `struct timex` that are reported, widened to i64.
#[derive(Debug, Default, Clone)]
pub struct TimexValues {
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i64,
    pub constant: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i64,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i64,
}

impl Collector for Timex {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        // SAFETY: modes = 0 (from zeroing) makes adjtimex read-only; it only fills our struct.
        let (state, t) = unsafe {
            let mut t: libc::timex = std::mem::zeroed();
            let state = libc::adjtimex(&mut t);
            if state < 0 {
                return Err(format!(
                    "failed to retrieve adjtimex stats: {}",
                    std::io::Error::last_os_error()
                ));
            }
            (state, t)
        };
        let v = TimexValues {
            offset: wide(t.offset),
            freq: wide(t.freq),
            maxerror: wide(t.maxerror),
            esterror: wide(t.esterror),
            status: wide(t.status),
            constant: wide(t.constant),
            tick: wide(t.tick),
            ppsfreq: wide(t.ppsfreq),
            jitter: wide(t.jitter),
            shift: wide(t.shift),
            stabil: wide(t.stabil),
            jitcnt: wide(t.jitcnt),
            calcnt: wide(t.calcnt),
            errcnt: wide(t.errcnt),
            stbcnt: wide(t.stbcnt),
            tai: wide(t.tai),
        };
        out.extend(timex_families(state, &v));
        Ok(())
    }
}

/// Widens a `struct timex` field, whose C type is 32 or 64 bits depending on the target.
fn wide<T: Into<i64>>(v: T) -> i64 {
    v.into()
}

pub fn timex_families(state: i32, t: &TimexValues) -> Vec<Family> {
    let divisor = if t.status & STA_NANO != 0 {
        NANO
    } else {
        MICRO
    };
    let g = |name: &str, help: &str, v: f64| {
        Family::gauge(format!("node_timex_{name}"), help).with(&[], v)
    };
    let c = |name: &str, help: &str, v: i64| {
        Family::counter(format!("node_timex_{name}"), help).with(&[], v as f64)
    };
    vec![
        g(
            "sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            if state == TIME_ERROR { 0.0 } else { 1.0 },
        ),
        g(
            "offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset as f64 / divisor,
        ),
        g(
            "frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + t.freq as f64 / PPM16FRAC,
        ),
        g(
            "maxerror_seconds",
            "Maximum error in seconds.",
            t.maxerror as f64 / MICRO,
        ),
        g(
            "estimated_error_seconds",
            "Estimated error in seconds.",
            t.esterror as f64 / MICRO,
        ),
        g("status", "Value of the status array bits.", t.status as f64),
        g(
            "loop_time_constant",
            "Phase-locked loop time constant.",
            t.constant as f64,
        ),
        g(
            "tick_seconds",
            "Seconds between clock ticks.",
            t.tick as f64 / MICRO,
        ),
        g(
            "pps_frequency_hertz",
            "Pulse per second frequency.",
            t.ppsfreq as f64 / PPM16FRAC,
        ),
        g(
            "pps_jitter_seconds",
            "Pulse per second jitter.",
            t.jitter as f64 / divisor,
        ),
        g(
            "pps_shift_seconds",
            "Pulse per second interval duration.",
            t.shift as f64,
        ),
        g(
            "pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.stabil as f64 / PPM16FRAC,
        ),
        c(
            "pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            t.jitcnt,
        ),
        c(
            "pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            t.calcnt,
        ),
        c(
            "pps_error_total",
            "Pulse per second count of calibration errors.",
            t.errcnt,
        ),
        c(
            "pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            t.stbcnt,
        ),
        g(
            "tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            t.tai as f64,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(fams: &[Family], name: &str) -> f64 {
        fams.iter().find(|f| f.name == name).unwrap().samples[0].value
    }

    #[test]
    fn scaling_follows_the_nano_bit() {
        let mut t = TimexValues {
            offset: 1500,
            freq: 65536 * 10,
            maxerror: 16_000_000,
            tick: 10_000,
            status: 0x40,
            tai: 37,
            jitcnt: 4,
            ..Default::default()
        };
        let fams = timex_families(TIME_ERROR, &t);
        assert_eq!(fams.len(), 17);
        assert_eq!(value(&fams, "node_timex_sync_status"), 0.0);
        assert_eq!(value(&fams, "node_timex_offset_seconds"), 0.0015);
        assert_eq!(
            value(&fams, "node_timex_frequency_adjustment_ratio"),
            1.00001
        );
        assert_eq!(value(&fams, "node_timex_maxerror_seconds"), 16.0);
        assert_eq!(value(&fams, "node_timex_tick_seconds"), 0.01);
        assert_eq!(value(&fams, "node_timex_tai_offset_seconds"), 37.0);
        assert_eq!(value(&fams, "node_timex_pps_jitter_total"), 4.0);
        t.status |= STA_NANO;
        let fams = timex_families(0, &t);
        assert_eq!(value(&fams, "node_timex_sync_status"), 1.0);
        assert_eq!(value(&fams, "node_timex_offset_seconds"), 0.0000015);
    }

    #[test]
    fn the_syscall_answers() {
        let mut out = Vec::new();
        Timex.update(&mut out).unwrap();
        assert!(value(&out, "node_timex_tick_seconds") > 0.0);
    }
}
