//! `fibrechannel`: Fibre Channel host ports from /sys/class/fc_host, as node_exporter 1.5:
//! `node_fibrechannel_info` (hex identifiers without `0x`) and the `statistics/` counters (hex).
//! A counter reading all ones (the kernel's "not supported") or not parsing is left out.

use super::{dir_names, read_trim, Paths};
use crate::model::Family;

super::paths_collector!("fibrechannel", true);

/// (statistics file, metric, help).
const COUNTERS: [(&str, &str, &str); 14] = [
    (
        "dumped_frames",
        "dumped_frames_total",
        "Number of dumped frames",
    ),
    (
        "error_frames",
        "error_frames_total",
        "Number of errors in frames",
    ),
    (
        "invalid_crc_count",
        "invalid_crc_total",
        "Invalid Cyclic Redundancy Check count",
    ),
    ("rx_frames", "rx_frames_total", "Number of frames received"),
    (
        "rx_words",
        "rx_words_total",
        "Number of words received by host port",
    ),
    (
        "tx_frames",
        "tx_frames_total",
        "Number of frames transmitted by host port",
    ),
    (
        "tx_words",
        "tx_words_total",
        "Number of words transmitted by host port",
    ),
    (
        "seconds_since_last_reset",
        "seconds_since_last_reset_total",
        "Number of seconds since last host port reset",
    ),
    (
        "invalid_tx_word_count",
        "invalid_tx_words_total",
        "Number of invalid words transmitted by host port",
    ),
    (
        "link_failure_count",
        "link_failure_total",
        "Number of times the host port link has failed",
    ),
    (
        "loss_of_sync_count",
        "loss_of_sync_total",
        "Number of failures on either bit or transmission word boundaries",
    ),
    (
        "loss_of_signal_count",
        "loss_of_signal_total",
        "Number of times signal has been lost",
    ),
    (
        "nos_count",
        "nos_total",
        "Number Not_Operational Primitive Sequence received by host port",
    ),
    (
        "fcp_packet_aborts",
        "fcp_packet_aborts_total",
        "Number of aborted packets",
    ),
];

/// Info labels and whether the value is a hex identifier shown without `0x`.
const INFO: [(&str, bool); 10] = [
    ("dev_loss_tmo", false),
    ("fabric_name", true),
    ("port_id", true),
    ("port_name", true),
    ("port_state", false),
    ("port_type", false),
    ("speed", false),
    ("supported_classes", false),
    ("supported_speeds", false),
    ("symbolic_name", false),
];

/// A hex counter (`0x1f`); all ones means unsupported.
pub fn counter(s: &str) -> Option<u64> {
    let v = u64::from_str_radix(s.trim().strip_prefix("0x")?, 16).ok()?;
    (v != u64::MAX).then_some(v)
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let base = paths.sys("class/fc_host");
    let mut info = Family::gauge(
        "node_fibrechannel_info",
        "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
    );
    let mut fams: Vec<Family> = COUNTERS
        .iter()
        .map(|(_, n, h)| Family::counter(format!("node_fibrechannel_{n}"), *h))
        .collect();
    for host in dir_names(&base)? {
        let dir = base.join(&host);
        let values: Vec<(&str, String)> = INFO
            .iter()
            .filter_map(|(k, hex)| {
                let v = read_trim(&dir.join(k)).ok()?;
                let v = match v.strip_prefix("0x") {
                    Some(rest) if *hex => rest.to_string(),
                    _ => v,
                };
                Some((*k, v))
            })
            .collect();
        let mut labels = vec![("fc_host", host.as_str())];
        labels.extend(values.iter().map(|(k, v)| (*k, v.as_str())));
        info.add(&labels, 1.0);
        for (fam, (file, _, _)) in fams.iter_mut().zip(COUNTERS) {
            if let Some(v) = read_trim(&dir.join("statistics").join(file))
                .ok()
                .and_then(|v| counter(&v))
            {
                fam.add(&[("fc_host", &host)], v as f64);
            }
        }
    }
    out.push(info);
    out.extend(fams);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_counters() {
        assert_eq!(counter("0x101"), Some(257));
        assert_eq!(counter("0xffffffffffffffff"), None);
        assert_eq!(counter("12"), None);
    }
}
