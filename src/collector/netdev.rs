//! `netdev`: per-interface traffic counters from /proc/net/dev. node_exporter 1.5 reads netlink by
//! default (`--collector.netdev.netlink`); with it off it reads this file, giving the same 16
//! "legacy" names. Reading the file keeps fixture trees and `--path.procfs` meaningful.

use super::devfilter::DeviceFilter;
use super::{read, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "netdev",
    default_enabled: true,
    options: &[
        Opt {
            key: "device-exclude",
            default: "^lo$",
            help: "Regexp of net devices to exclude (mutually exclusive to device-include).",
        },
        Opt {
            key: "device-include",
            default: "",
            help: "Regexp of net devices to include (mutually exclusive to device-exclude).",
        },
    ],
    build,
};

/// Column names of /proc/net/dev, in file order, as node_exporter names them.
pub const FIELDS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(NetDev {
        paths: ctx.paths.clone(),
        filter: DeviceFilter::from_ctx(ctx, &SPEC)?,
    }))
}

struct NetDev {
    paths: Paths,
    filter: DeviceFilter,
}

/// Parses /proc/net/dev into (interface, 16 counters), skipping the two header lines. The name
/// ends at the line's last colon, as node_exporter 1.5's procfs reads it, so alias and InfiniBand
/// child names (`eth0:1`, `ibr10:30`) keep their colon. A line that does not parse is skipped
/// (and returned in the second list) instead of failing every interface.
pub fn parse_net_dev(text: &str) -> (Vec<(String, [u64; 16])>, Vec<String>) {
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    for line in text.lines().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(dev) => out.push(dev),
            None => bad.push(line.to_string()),
        }
    }
    (out, bad)
}

fn parse_line(line: &str) -> Option<(String, [u64; 16])> {
    let (name, rest) = line.rsplit_once(':')?;
    let name = name.trim();
    let mut vals = [0u64; 16];
    let mut fields = rest.split_whitespace();
    for v in vals.iter_mut() {
        *v = fields.next()?.parse().ok()?;
    }
    (!name.is_empty()).then(|| (name.to_string(), vals))
}

pub fn families(devs: &[(String, [u64; 16])], filter: &DeviceFilter) -> Vec<Family> {
    let mut fams: Vec<Family> = FIELDS
        .iter()
        .map(|f| {
            Family::counter(
                format!("node_network_{f}_total"),
                format!("Network device statistic {f}."),
            )
        })
        .collect();
    for (name, vals) in devs {
        if filter.ignored(name) {
            continue;
        }
        for (fam, v) in fams.iter_mut().zip(vals) {
            fam.add(&[("device", name)], *v as f64);
        }
    }
    fams
}

impl Collector for NetDev {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let (devs, bad) = parse_net_dev(&read(&self.paths.proc("net/dev"))?);
        for line in bad {
            tracing::debug!(
                collector = "netdev",
                line,
                "skipped an unparsable net/dev line"
            );
        }
        out.extend(families(&devs, &self.filter));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n\
    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n\
  eth0: 100 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";

    #[test]
    fn parses_and_filters() {
        let (devs, bad) = parse_net_dev(TEXT);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[1].0, "eth0");
        assert_eq!(devs[1].1[15], 16);
        let fams = families(&devs, &DeviceFilter::new("^lo$", "").unwrap());
        assert_eq!(fams[0].name, "node_network_receive_bytes_total");
        assert_eq!(fams[0].help, "Network device statistic receive_bytes.");
        assert_eq!(fams[0].samples.len(), 1);
        assert_eq!(fams[0].samples[0].value, 100.0);
        assert_eq!(fams[13].name, "node_network_transmit_colls_total");
        assert_eq!(fams[13].samples[0].value, 14.0);
    }

    #[test]
    fn names_with_colons_end_at_the_last_colon() {
        let text = "h\nh\nibr10:30: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n  eth0:1:9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let (devs, bad) = parse_net_dev(text);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(devs[0].0, "ibr10:30");
        assert_eq!(devs[0].1[0], 1);
        assert_eq!(devs[1].0, "eth0:1");
        assert_eq!(devs[1].1[0], 9);
    }

    #[test]
    fn a_malformed_line_is_skipped_not_fatal() {
        let (devs, bad) =
            parse_net_dev("h\nh\neth0: 1 2 3\nbond0 1 2\n: 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\neth1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n");
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].0, "eth1");
    }
}
