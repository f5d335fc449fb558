//! `nfsd`: NFS server statistics from /proc/net/rpc/nfsd, as node_exporter 1.5 (reply cache,
//! file handles, I/O, threads, read-ahead cache, network, RPC errors and per-operation counts).
//! A missing file fails the collector, as in node_exporter 1.5 (no data). A line that does not
//! parse leaves its series out.

use std::collections::BTreeMap;

use super::nfs::{ops, parse_lines, requests, V2, V3};
use super::{read, Paths};
use crate::model::Family;

super::paths_collector!("nfsd", true);

/// The server's NFSv4 operations (`proc4ops`, from index 1), node_exporter's names; `None`
/// marks operations it does not export.
const V4_OPS: [Option<&str>; 38] = [
    None,
    None,
    None,
    Some("Access"),
    Some("Close"),
    Some("Commit"),
    Some("Create"),
    Some("DelegPurge"),
    Some("DelegReturn"),
    Some("GetAttr"),
    Some("GetFH"),
    Some("Link"),
    Some("Lock"),
    Some("Lockt"),
    Some("Locku"),
    Some("Lookup"),
    Some("LookupRoot"),
    Some("Nverify"),
    Some("Open"),
    Some("OpenAttr"),
    Some("OpenConfirm"),
    Some("OpenDgrd"),
    Some("PutFH"),
    None,
    None,
    Some("Read"),
    Some("ReadDir"),
    Some("ReadLink"),
    Some("Remove"),
    Some("Rename"),
    Some("Renew"),
    Some("RestoreFH"),
    Some("SaveFH"),
    Some("SecInfo"),
    Some("SetAttr"),
    Some("Verify"),
    Some("Write"),
    Some("RelLockOwner"),
];

pub fn families(lines: &BTreeMap<String, Vec<u64>>) -> Vec<Family> {
    let c = |n: &str, h: &str| Family::counter(format!("node_nfsd_{n}"), h);
    let g = |n: &str, h: &str| Family::gauge(format!("node_nfsd_{n}"), h);
    let get = |k: &str, n: usize| lines.get(k).filter(|v| v.len() == n);
    let mut out = Vec::new();
    if let Some(rc) = get("rc", 3) {
        out.push(
            c(
                "reply_cache_hits_total",
                "Total number of NFSd Reply Cache hits (client lost server response).",
            )
            .with(&[], rc[0] as f64),
        );
        out.push(
            c(
                "reply_cache_misses_total",
                "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
            )
            .with(&[], rc[1] as f64),
        );
        out.push(
            c(
                "reply_cache_nocache_total",
                "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
            )
            .with(&[], rc[2] as f64),
        );
    }
    if let Some(fh) = get("fh", 5) {
        out.push(
            c(
                "file_handles_stale_total",
                "Total number of NFSd stale file handles",
            )
            .with(&[], fh[0] as f64),
        );
    }
    if let Some(io) = get("io", 2) {
        out.push(c("disk_bytes_read_total", "Total NFSd bytes read.").with(&[], io[0] as f64));
        out.push(
            c("disk_bytes_written_total", "Total NFSd bytes written.").with(&[], io[1] as f64),
        );
    }
    if let Some(th) = get("th", 2) {
        out.push(
            g(
                "server_threads",
                "Total number of NFSd kernel threads that are running.",
            )
            .with(&[], th[0] as f64),
        );
    }
    if let Some(ra) = get("ra", 12) {
        out.push(
            g(
                "read_ahead_cache_size_blocks",
                "How large the read ahead cache is in blocks.",
            )
            .with(&[], ra[0] as f64),
        );
        out.push(
            c(
                "read_ahead_cache_not_found_total",
                "Total number of NFSd read ahead cache not found.",
            )
            .with(&[], ra[11] as f64),
        );
    }
    if let Some(net) = get("net", 4) {
        let mut p = c(
            "packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
        );
        p.add(&[("proto", "udp")], net[1] as f64);
        p.add(&[("proto", "tcp")], net[2] as f64);
        out.push(p);
        out.push(
            c("connections_total", "Total number of NFSd TCP connections.")
                .with(&[], net[3] as f64),
        );
    }
    if let Some(rpc) = get("rpc", 5) {
        let mut e = c(
            "rpc_errors_total",
            "Total number of NFSd RPC errors by error type.",
        );
        e.add(&[("error", "fmt")], rpc[2] as f64);
        e.add(&[("error", "auth")], rpc[3] as f64);
        e.add(&[("error", "cInt")], rpc[4] as f64);
        out.push(e);
        out.push(c("server_rpcs_total", "Total number of NFSd RPCs.").with(&[], rpc[0] as f64));
    }
    let mut req = c(
        "requests_total",
        "Total number NFSd Requests by method and protocol.",
    );
    // node_exporter leaves out v2/v3 `Null` on the server side.
    if let Some(v) = ops(lines.get("proc2"), 18, 18) {
        requests(&mut req, "2", &V2[1..], &v[1..]);
    }
    if let Some(v) = ops(lines.get("proc3"), 22, 22) {
        requests(&mut req, "3", &V3[1..], &v[1..]);
    }
    if let Some(v) = ops(lines.get("proc4ops"), 38, 39) {
        for (name, n) in V4_OPS.iter().zip(&v) {
            if let Some(name) = name {
                req.add(&[("proto", "4"), ("method", name)], *n as f64);
            }
        }
    }
    out.push(req);
    out
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let text = read(&paths.proc("net/rpc/nfsd"))?;
    out.extend(families(&parse_lines(&text)));
    Ok(())
}
