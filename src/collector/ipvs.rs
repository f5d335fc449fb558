//! `ipvs`: IPVS totals from /proc/net/ip_vs_stats and per-backend connections and weights from
//! /proc/net/ip_vs, as node_exporter 1.5. Backends are summed over the label set chosen with
//! `--collector.ipvs.backend-labels`. Backend lines that do not parse are skipped.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{read, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

const LABELS: [&str; 6] = [
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "proto",
    "local_mark",
];

pub const SPEC: Spec = Spec {
    name: "ipvs",
    default_enabled: true,
    options: &[Opt {
        key: "backend-labels",
        default: "local_address,local_port,remote_address,remote_port,proto,local_mark",
        help: "Comma separated list for IPVS backend stats labels.",
    }],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    let labels = ctx.opt(&SPEC, "backend-labels");
    let labels: Vec<&'static str> = labels
        .split(',')
        .filter(|l| !l.is_empty())
        .map(|l| {
            LABELS
                .iter()
                .find(|k| **k == l)
                .copied()
                .ok_or_else(|| format!("unknown IPVS backend label: {l:?}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Box::new(Ipvs {
        paths: ctx.paths.clone(),
        labels,
    }))
}

struct Ipvs {
    paths: Paths,
    labels: Vec<&'static str>,
}

/// The five hex totals of ip_vs_stats (connections, packets in/out, bytes in/out).
pub fn parse_stats(text: &str) -> Option<[u64; 5]> {
    let f: Vec<&str> = text.lines().nth(2)?.split_whitespace().collect();
    if f.len() != 5 {
        return None;
    }
    let mut out = [0; 5];
    for (o, v) in out.iter_mut().zip(f) {
        *o = u64::from_str_radix(v, 16).ok()?;
    }
    Some(out)
}

/// `C0A80016:0CEA` or `[2620:...:0001]:0050` into (address, port).
fn ip_port(s: &str) -> Option<(String, u16)> {
    let (ip, port) = match s.len() {
        13 => {
            let n = u32::from_str_radix(s.get(0..8)?, 16).ok()?;
            (Ipv4Addr::from(n).to_string(), s.get(9..13)?)
        }
        46 => (
            s.get(1..40)?.parse::<Ipv6Addr>().ok()?.to_string(),
            s.get(42..46)?,
        ),
        _ => return None,
    };
    Some((ip, u16::from_str_radix(port, 16).ok()?))
}

#[derive(Debug, PartialEq)]
pub struct Backend {
    /// Label values in `LABELS` order.
    pub labels: [String; 6],
    pub weight: u64,
    pub active: u64,
    pub inactive: u64,
}

pub fn parse_backends(text: &str) -> Vec<Backend> {
    let mut out = Vec::new();
    let (mut proto, mut mark, mut local) = (String::new(), String::new(), None);
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [] | ["IP", ..] | ["Prot", ..] | [_, "RemoteAddress:Port", ..] => {}
            [p @ ("TCP" | "UDP"), addr, ..] => {
                proto = p.to_string();
                mark.clear();
                local = ip_port(addr);
            }
            ["FWM", m, ..] => {
                proto = "FWM".into();
                mark = m.to_string();
                local = Some((String::new(), 0));
            }
            ["->", remote, _, w, a, i, ..] => {
                let (Some((la, lp)), Some((ra, rp)), Ok(w), Ok(a), Ok(i)) =
                    (&local, ip_port(remote), w.parse(), a.parse(), i.parse())
                else {
                    continue;
                };
                out.push(Backend {
                    labels: [
                        la.clone(),
                        lp.to_string(),
                        ra,
                        rp.to_string(),
                        proto.clone(),
                        mark.clone(),
                    ],
                    weight: w,
                    active: a,
                    inactive: i,
                });
            }
            _ => {}
        }
    }
    out
}

pub fn families(stats: Option<[u64; 5]>, backends: &[Backend], labels: &[&str]) -> Vec<Family> {
    let mut out = Vec::new();
    if let Some(s) = stats {
        let totals = [
            ("connections_total", "The total number of connections made."),
            (
                "incoming_packets_total",
                "The total number of incoming packets.",
            ),
            (
                "outgoing_packets_total",
                "The total number of outgoing packets.",
            ),
            ("incoming_bytes_total", "The total amount of incoming data."),
            ("outgoing_bytes_total", "The total amount of outgoing data."),
        ];
        for ((name, help), v) in totals.iter().zip(s) {
            out.push(Family::counter(format!("node_ipvs_{name}"), *help).with(&[], v as f64));
        }
    }
    let mut sums: BTreeMap<Vec<String>, (u64, u64, u64)> = BTreeMap::new();
    for b in backends {
        let key: Vec<String> = labels
            .iter()
            .map(|l| b.labels[LABELS.iter().position(|k| k == l).unwrap_or(0)].clone())
            .collect();
        let e = sums.entry(key).or_default();
        e.0 += b.active;
        e.1 += b.inactive;
        e.2 += b.weight;
    }
    let g = |n: &str, h: &str| Family::gauge(format!("node_ipvs_backend_{n}"), h);
    let mut active = g(
        "connections_active",
        "The current active connections by local and remote address.",
    );
    let mut inactive = g(
        "connections_inactive",
        "The current inactive connections by local and remote address.",
    );
    let mut weight = g(
        "weight",
        "The current backend weight by local and remote address.",
    );
    for (key, (a, i, w)) in &sums {
        let l: Vec<(&str, &str)> = labels
            .iter()
            .copied()
            .zip(key.iter().map(String::as_str))
            .collect();
        active.add(&l, *a as f64);
        inactive.add(&l, *i as f64);
        weight.add(&l, *w as f64);
    }
    out.extend([active, inactive, weight]);
    out
}

impl Collector for Ipvs {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let stats = parse_stats(&read(&self.paths.proc("net/ip_vs_stats"))?)
            .ok_or("net/ip_vs_stats: unexpected format")?;
        let backends = parse_backends(&read(&self.paths.proc("net/ip_vs"))?);
        out.extend(families(Some(stats), &backends, &self.labels));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_marks_and_sums() {
        let t = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n\
                 TCP  C0A80016:0CEA wlc\n  -> C0A85216:0CEA      Tunnel  100    248        2\n\
                   -> C0A85216:0CEA      Tunnel  1    2        3\n  -> bogus\n\
                 FWM  10001000 wlc\n  -> [2620:0000:0000:0000:0000:0000:0000:0002]:0050      Route   1      0          0\n";
        let b = parse_backends(t);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].labels[0], "192.168.0.22");
        assert_eq!(b[0].labels[1], "3306");
        assert_eq!(b[2].labels[2], "2620::2");
        assert_eq!(
            (b[2].labels[4].as_str(), b[2].labels[5].as_str()),
            ("FWM", "10001000")
        );
        let f = families(None, &b, &["proto"]);
        assert_eq!(f[0].samples.len(), 2, "summed by proto");
        assert_eq!(f[0].samples.iter().map(|s| s.value).sum::<f64>(), 250.0);
    }
}
