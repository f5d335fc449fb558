//! `netstat`: protocol counters from /proc/net/netstat, /proc/net/snmp and /proc/net/snmp6,
//! filtered by the `fields` regex, as untyped `node_netstat_<Proto>_<Field>` series.

use std::collections::BTreeMap;

use regex::Regex;

use super::{read, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "netstat",
    default_enabled: true,
    options: &[Opt {
        key: "fields",
        default: "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$",
        help: "Regexp of fields to return for netstat collector.",
    }],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    let re = ctx.opt(&SPEC, "fields");
    Ok(Box::new(Netstat {
        paths: ctx.paths.clone(),
        fields: Regex::new(&re).map_err(|e| format!("fields {re:?}: {e}"))?,
    }))
}

struct Netstat {
    paths: Paths,
    fields: Regex,
}

/// protocol → field → raw value text.
pub type Stats = BTreeMap<String, BTreeMap<String, String>>;

/// Parses the paired header/value line format of /proc/net/netstat and /proc/net/snmp.
pub fn parse_netstat(text: &str) -> Result<Stats, String> {
    let mut out = Stats::new();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    while let Some(names) = lines.next() {
        let values = lines
            .next()
            .ok_or_else(|| format!("netstat: header without values: {names:?}"))?;
        let names: Vec<&str> = names.split_whitespace().collect();
        let values: Vec<&str> = values.split_whitespace().collect();
        if names.len() != values.len() || names.is_empty() {
            return Err(format!(
                "netstat: field count mismatch for {:?}",
                names.first()
            ));
        }
        let proto = names[0].trim_end_matches(':').to_string();
        let m = out.entry(proto).or_default();
        for (n, v) in names.iter().zip(&values).skip(1) {
            m.insert(n.to_string(), v.to_string());
        }
    }
    Ok(out)
}

/// Parses /proc/net/snmp6 (`Ip6InReceives 1` lines): the protocol ends at the first "6".
pub fn parse_snmp6(text: &str) -> Stats {
    let mut out = Stats::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 2 {
            continue;
        }
        if let Some(i) = f[0].find('6') {
            let (proto, name) = f[0].split_at(i + 1);
            out.entry(proto.to_string())
                .or_default()
                .insert(name.to_string(), f[1].to_string());
        }
    }
    out
}

/// One untyped family per selected field; any unparsable value fails the collector, as in 1.5.
pub fn families(stats: &Stats, fields: &Regex) -> Result<Vec<Family>, String> {
    let mut out = Vec::new();
    for (proto, m) in stats {
        for (name, value) in m {
            let v: f64 = value
                .parse()
                .map_err(|e| format!("invalid value {value} in netstats: {e}"))?;
            let key = format!("{proto}_{name}");
            if !fields.is_match(&key) {
                continue;
            }
            out.push(
                Family::untyped(
                    format!("node_netstat_{key}"),
                    format!("Statistic {proto}{name}."),
                )
                .with(&[], v),
            );
        }
    }
    Ok(out)
}

impl Collector for Netstat {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let mut stats = parse_netstat(&read(&self.paths.proc("net/netstat"))?)?;
        stats.extend(parse_netstat(&read(&self.paths.proc("net/snmp"))?)?);
        // snmp6 is absent when IPv6 is disabled; node_exporter then reports IPv4 only.
        match super::kfile::read_to_string(self.paths.proc("net/snmp6")) {
            Ok(t) => stats.extend(parse_snmp6(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("snmp6: {e}")),
        }
        out.extend(families(&stats, &self.fields)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_lines_and_snmp6() {
        let s = parse_netstat("Tcp: InSegs InErrs MaxConn\nTcp: 10 2 -1\nUdp: NoPorts\nUdp: 7\n")
            .unwrap();
        assert_eq!(s["Tcp"]["InErrs"], "2");
        assert_eq!(s["Udp"]["NoPorts"], "7");
        assert!(parse_netstat("Tcp: A B\nTcp: 1\n").is_err());
        assert!(parse_netstat("Tcp: A B\n").is_err());
        let s6 = parse_snmp6("Ip6InOctets   \t128\nIcmp6InErrors 1\nUdpLite6InErrors 3\nbogus\n");
        assert_eq!(s6["Ip6"]["InOctets"], "128");
        assert_eq!(s6["UdpLite6"]["InErrors"], "3");
    }

    #[test]
    fn default_fields_select_series() {
        let mut s = parse_netstat("Tcp: InSegs InErrs MaxConn\nTcp: 10 2 -1\n").unwrap();
        s.extend(parse_snmp6("Ip6InOctets 128\nIp6InReceives 1\n"));
        let re = Regex::new(SPEC.options[0].default).unwrap();
        let fams = families(&s, &re).unwrap();
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_netstat_Ip6_InOctets",
                "node_netstat_Tcp_InErrs",
                "node_netstat_Tcp_InSegs"
            ]
        );
        assert_eq!(fams[1].help, "Statistic TcpInErrs.");
        assert_eq!(fams[1].samples[0].value, 2.0);
        s.get_mut("Tcp").unwrap().insert("Bad".into(), "x".into());
        assert!(families(&s, &re).is_err());
    }
}
