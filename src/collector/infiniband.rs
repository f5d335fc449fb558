//! `infiniband`: InfiniBand HCA ports from /sys/class/infiniband, as node_exporter 1.5: port
//! state, physical state and rate, the `counters/` and legacy `counters_ext/` files (data
//! counters are in 4-octet units), and `node_infiniband_info`. Counters that read "N/A" or do
//! not parse are left out; a port without a readable state is skipped.

use std::collections::BTreeMap;
use std::path::Path;

use super::{dir_names, read_trim, Paths};
use crate::model::{Family, MetricType};

super::paths_collector!("infiniband", true);

/// (directory, file, metric, multiplier, help) of each port counter.
const COUNTERS: [(&str, &str, &str, f64, &str); 30] = [
    ("counters", "excessive_buffer_overrun_errors", "excessive_buffer_overrun_errors_total", 1.0, "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error."),
    ("counters", "link_downed", "link_downed_total", 1.0, "Number of times the link failed to recover from an error state and went down"),
    ("counters", "link_error_recovery", "link_error_recovery_total", 1.0, "Number of times the link successfully recovered from an error state"),
    ("counters", "local_link_integrity_errors", "local_link_integrity_errors_total", 1.0, "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors."),
    ("counters", "multicast_rcv_packets", "multicast_packets_received_total", 1.0, "Number of multicast packets received (including errors)"),
    ("counters", "multicast_xmit_packets", "multicast_packets_transmitted_total", 1.0, "Number of multicast packets transmitted (including errors)"),
    ("counters", "port_rcv_constraint_errors", "port_constraint_errors_received_total", 1.0, "Number of packets received on the switch physical port that are discarded"),
    ("counters", "port_xmit_constraint_errors", "port_constraint_errors_transmitted_total", 1.0, "Number of packets not transmitted from the switch physical port"),
    ("counters", "port_rcv_data", "port_data_received_bytes_total", 4.0, "Number of data octets received on all links"),
    ("counters", "port_xmit_data", "port_data_transmitted_bytes_total", 4.0, "Number of data octets transmitted on all links"),
    ("counters", "port_rcv_discards", "port_discards_received_total", 1.0, "Number of inbound packets discarded by the port because the port is down or congested"),
    ("counters", "port_xmit_discards", "port_discards_transmitted_total", 1.0, "Number of outbound packets discarded by the port because the port is down or congested"),
    ("counters", "port_rcv_errors", "port_errors_received_total", 1.0, "Number of packets containing an error that were received on this port"),
    ("counters", "port_rcv_packets", "port_packets_received_total", 1.0, "Number of packets received on all VLs by this port (including errors)"),
    ("counters", "port_xmit_packets", "port_packets_transmitted_total", 1.0, "Number of packets transmitted on all VLs from this port (including errors)"),
    ("counters", "port_rcv_remote_physical_errors", "port_receive_remote_physical_errors_total", 1.0, "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port."),
    ("counters", "port_rcv_switch_relay_errors", "port_receive_switch_relay_errors_total", 1.0, "Number of packets that could not be forwarded by the switch."),
    ("counters", "port_xmit_wait", "port_transmit_wait_total", 1.0, "Number of ticks during which the port had data to transmit but no data was sent during the entire tick"),
    ("counters", "symbol_error", "symbol_error_total", 1.0, "Number of minor link errors detected on one or more physical lanes."),
    ("counters", "unicast_rcv_packets", "unicast_packets_received_total", 1.0, "Number of unicast packets received (including errors)"),
    ("counters", "unicast_xmit_packets", "unicast_packets_transmitted_total", 1.0, "Number of unicast packets transmitted (including errors)"),
    ("counters", "VL15_dropped", "vl15_dropped_total", 1.0, "Number of incoming VL15 packets dropped due to resource limitations."),
    ("counters_ext", "port_multicast_rcv_packets", "legacy_multicast_packets_received_total", 1.0, "Number of multicast packets received"),
    ("counters_ext", "port_multicast_xmit_packets", "legacy_multicast_packets_transmitted_total", 1.0, "Number of multicast packets transmitted"),
    ("counters_ext", "port_rcv_data_64", "legacy_data_received_bytes_total", 4.0, "Number of data octets received on all links"),
    ("counters_ext", "port_rcv_packets_64", "legacy_packets_received_total", 1.0, "Number of data packets received on all links"),
    ("counters_ext", "port_unicast_rcv_packets", "legacy_unicast_packets_received_total", 1.0, "Number of unicast packets received"),
    ("counters_ext", "port_unicast_xmit_packets", "legacy_unicast_packets_transmitted_total", 1.0, "Number of unicast packets transmitted"),
    ("counters_ext", "port_xmit_data_64", "legacy_data_transmitted_bytes_total", 4.0, "Number of data octets transmitted on all links"),
    ("counters_ext", "port_xmit_packets_64", "legacy_packets_transmitted_total", 1.0, "Number of data packets received on all links"),
];

/// The leading number of `4: ACTIVE`.
pub fn state_id(s: &str) -> Option<u64> {
    s.split(':').next()?.trim().parse().ok()
}

/// `40 Gb/sec (4X QDR)` in bytes per second.
pub fn rate(s: &str) -> Option<f64> {
    let mut f = s.split_whitespace();
    let v: f64 = f.next()?.parse().ok()?;
    (f.next()? == "Gb/sec").then_some(v * 125_000_000.0)
}

struct Out(BTreeMap<&'static str, Family>);

impl Out {
    fn add(
        &mut self,
        name: &'static str,
        help: &str,
        kind: MetricType,
        l: &[(&str, &str)],
        v: f64,
    ) {
        self.0
            .entry(name)
            .or_insert_with(|| Family::new(format!("node_infiniband_{name}"), help, kind))
            .add(l, v);
    }
}

fn port(out: &mut Out, dev: &str, num: &str, dir: &Path) -> Option<()> {
    let state = state_id(&read_trim(&dir.join("state")).ok()?)?;
    let phys = state_id(&read_trim(&dir.join("phys_state")).ok()?)?;
    let rate = rate(&read_trim(&dir.join("rate")).ok()?)?;
    let l = [("device", dev), ("port", num)];
    let g = MetricType::Gauge;
    out.add("state_id", "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)", g, &l, state as f64);
    out.add("physical_state_id", "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)", g, &l, phys as f64);
    out.add(
        "rate_bytes_per_second",
        "Maximum signal transfer rate",
        g,
        &l,
        rate,
    );
    for (sub, file, name, mult, help) in COUNTERS {
        let Some(v) = read_trim(&dir.join(sub).join(file))
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        else {
            continue;
        };
        out.add(name, help, MetricType::Counter, &l, v as f64 * mult);
    }
    Some(())
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let base = paths.sys("class/infiniband");
    let mut fams = Out(BTreeMap::new());
    for dev in dir_names(&base)? {
        let dir = base.join(&dev);
        let get = |f: &str| read_trim(&dir.join(f)).unwrap_or_default();
        fams.add(
            "info",
            "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
            MetricType::Gauge,
            &[
                ("device", &dev),
                ("board_id", &get("board_id")),
                ("firmware_version", &get("fw_ver")),
                ("hca_type", &get("hca_type")),
            ],
            1.0,
        );
        for num in dir_names(&dir.join("ports")).unwrap_or_default() {
            if port(&mut fams, &dev, &num, &dir.join("ports").join(&num)).is_none() {
                tracing::debug!(device = %dev, port = %num, "infiniband port skipped");
            }
        }
    }
    out.extend(fams.0.into_values());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_rates() {
        assert_eq!(state_id("4: ACTIVE"), Some(4));
        assert_eq!(rate("40 Gb/sec (4X QDR)"), Some(5e9));
        assert_eq!(rate("2.5 Gb/sec (1X SDR)"), Some(312_500_000.0));
        assert_eq!(rate("N/A"), None);
    }
}
