//! `nfs`: NFS client RPC statistics from /proc/net/rpc/nfs, as node_exporter 1.5 (procfs'
//! field order). A missing file fails the collector, as node_exporter 1.5 reports it (no data).
//! A line that does not parse (or has too few values) leaves its series out instead of failing
//! the collector.

use std::collections::BTreeMap;

use super::{read, Paths};
use crate::model::Family;

super::paths_collector!("nfs", true);

pub const V2: [&str; 18] = [
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

pub const V3: [&str; 22] = [
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// The client's NFSv4 operations, in the kernel's (and procfs') order.
pub const CLIENT_V4: [&str; 59] = [
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

/// Label → values of each line whose values all parse as integers (the `th` line keeps its
/// first two, which are integers; the rest are floats).
pub fn parse_lines(text: &str) -> BTreeMap<String, Vec<u64>> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some(label) = parts.next() else { continue };
        let raw: Vec<&str> = parts.collect();
        let raw = if label == "th" {
            &raw[..raw.len().min(2)]
        } else {
            &raw[..]
        };
        if let Ok(v) = raw
            .iter()
            .map(|v| v.parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
        {
            out.insert(label.to_string(), v);
        }
    }
    out
}

/// The per-operation counts of a `procN` line (`count v1 v2 ...`), padded with zeros to `n`
/// when the kernel reports fewer (procfs pads older kernels' NFSv4 lines). `min` is the fewest
/// values accepted.
pub fn ops(line: Option<&Vec<u64>>, n: usize, min: usize) -> Option<Vec<u64>> {
    let v = line?;
    let count = *v.first()? as usize;
    if v.len() - 1 != count || count < min {
        return None;
    }
    let mut out = v[1..].to_vec();
    out.resize(n.max(out.len()), 0);
    out.truncate(n);
    Some(out)
}

/// `node_<sub>_requests_total{proto,method}` for the named operations of one version.
pub fn requests(fam: &mut Family, proto: &str, names: &[&str], values: &[u64]) {
    for (name, v) in names.iter().zip(values) {
        fam.add(&[("proto", proto), ("method", name)], *v as f64);
    }
}

pub fn families(lines: &BTreeMap<String, Vec<u64>>) -> Vec<Family> {
    let c = |n: &str, h: &str| Family::counter(format!("node_nfs_{n}"), h);
    let mut out = Vec::new();
    if let Some(net) = lines.get("net").filter(|v| v.len() == 4) {
        let mut p = c(
            "packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
        );
        p.add(&[("protocol", "udp")], net[1] as f64);
        p.add(&[("protocol", "tcp")], net[2] as f64);
        out.push(p);
        out.push(
            c("connections_total", "Total number of NFSd TCP connections.")
                .with(&[], net[3] as f64),
        );
    }
    if let Some(rpc) = lines.get("rpc").filter(|v| v.len() == 3) {
        out.push(c("rpcs_total", "Total number of RPCs performed.").with(&[], rpc[0] as f64));
        out.push(
            c(
                "rpc_retransmissions_total",
                "Number of RPC transmissions performed.",
            )
            .with(&[], rpc[1] as f64),
        );
        out.push(
            c(
                "rpc_authentication_refreshes_total",
                "Number of RPC authentication refreshes performed.",
            )
            .with(&[], rpc[2] as f64),
        );
    }
    let mut req = c("requests_total", "Number of NFS procedures invoked.");
    if let Some(v) = ops(lines.get("proc2"), 18, 18) {
        requests(&mut req, "2", &V2, &v);
    }
    if let Some(v) = ops(lines.get("proc3"), 22, 22) {
        requests(&mut req, "3", &V3, &v);
    }
    if let Some(v) = ops(lines.get("proc4"), 59, 0) {
        requests(&mut req, "4", &CLIENT_V4, &v);
    }
    out.push(req);
    out
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let text = read(&paths.proc("net/rpc/nfs"))?;
    out.extend(families(&parse_lines(&text)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_v4_lines_are_padded_and_bad_lines_left_out() {
        let l = parse_lines("net 1 2 3 4\nrpc 5 x 7\nproc4 3 1 2 3\nth 8 0 0.000 1.5\n");
        assert_eq!(l["th"], vec![8, 0]);
        assert!(!l.contains_key("rpc"));
        let v = ops(l.get("proc4"), 59, 0).unwrap();
        assert_eq!((v.len(), v[2], v[58]), (59, 3, 0));
        assert!(ops(Some(&vec![3, 1, 2]), 59, 0).is_none(), "count mismatch");
        let f = families(&l);
        assert_eq!(f.len(), 3, "packets, connections, requests");
        assert_eq!(f[2].samples.len(), 59);
    }
}
