//! `sockstat`: socket counts from /proc/net/sockstat and sockstat6 (`node_sockstat_<PROTO>_<key>`).

use super::Paths;
use crate::model::Family;

super::paths_collector!("sockstat", true);

/// One protocol line, e.g. `TCP: inuse 7 orphan 1 tw 4 alloc 9 mem 12`.
#[derive(Debug, Default, PartialEq)]
pub struct Proto {
    pub name: String,
    pub inuse: u64,
    pub orphan: Option<u64>,
    pub tw: Option<u64>,
    pub alloc: Option<u64>,
    pub mem: Option<u64>,
    pub memory: Option<u64>,
}

/// A parsed sockstat file: `sockets: used N` (IPv4 only) and the protocol lines.
#[derive(Debug, Default, PartialEq)]
pub struct Sockstat6or4 {
    pub used: Option<u64>,
    pub protos: Vec<Proto>,
}

pub fn parse_sockstat(text: &str) -> Result<Sockstat6or4, String> {
    let mut out = Sockstat6or4::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() % 2 != 1 || !f[0].ends_with(':') {
            return Err(format!("sockstat: malformed line {line:?}"));
        }
        let name = f[0].trim_end_matches(':');
        let mut p = Proto {
            name: name.to_string(),
            ..Proto::default()
        };
        let mut seen_inuse = false;
        for kv in f[1..].chunks(2) {
            let v: u64 = kv[1]
                .parse()
                .map_err(|e| format!("sockstat: {name} {}: {e}", kv[0]))?;
            match kv[0] {
                "used" if name == "sockets" => out.used = Some(v),
                "inuse" => {
                    p.inuse = v;
                    seen_inuse = true;
                }
                "orphan" => p.orphan = Some(v),
                "tw" => p.tw = Some(v),
                "alloc" => p.alloc = Some(v),
                "mem" => p.mem = Some(v),
                "memory" => p.memory = Some(v),
                _ => {}
            }
        }
        if name != "sockets" {
            if !seen_inuse {
                return Err(format!("sockstat: {name} without inuse"));
            }
            out.protos.push(p);
        }
    }
    Ok(out)
}

/// Families for a parsed file; `mem` is in pages, so `mem_bytes` multiplies by the page size.
pub fn families(s: &Sockstat6or4, page_size: u64) -> Vec<Family> {
    let mut out = Vec::new();
    if let Some(u) = s.used {
        out.push(
            Family::gauge(
                "node_sockstat_sockets_used",
                "Number of IPv4 sockets in use.",
            )
            .with(&[], u as f64),
        );
    }
    for p in &s.protos {
        let mut push = |key: &str, v: Option<u64>| {
            if let Some(v) = v {
                out.push(
                    Family::gauge(
                        format!("node_sockstat_{}_{key}", p.name),
                        format!("Number of {} sockets in state {key}.", p.name),
                    )
                    .with(&[], v as f64),
                );
            }
        };
        push("inuse", Some(p.inuse));
        push("orphan", p.orphan);
        push("tw", p.tw);
        push("alloc", p.alloc);
        push("mem", p.mem);
        push("mem_bytes", p.mem.map(|m| m * page_size));
        push("memory", p.memory);
    }
    out
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    for file in ["net/sockstat", "net/sockstat6"] {
        let path = paths.proc(file);
        let text = match super::kfile::read_to_string(&path) {
            Ok(t) => t,
            // A missing file means that IP version is disabled; node_exporter skips it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        out.extend(families(&parse_sockstat(&text)?, page_size()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_and_v6_files() {
        let s = parse_sockstat("sockets: used 229\nTCP: inuse 7 orphan 1 tw 4 alloc 9 mem 12\nFRAG: inuse 0 memory 0\n").unwrap();
        assert_eq!(s.used, Some(229));
        assert_eq!(s.protos[0].mem, Some(12));
        let fams = families(&s, 4096);
        let get = |n: &str| {
            fams.iter()
                .find(|f| f.name == n)
                .map(|f| f.samples[0].value)
        };
        assert_eq!(get("node_sockstat_sockets_used"), Some(229.0));
        assert_eq!(get("node_sockstat_TCP_mem_bytes"), Some(49152.0));
        assert_eq!(get("node_sockstat_FRAG_memory"), Some(0.0));
        assert_eq!(get("node_sockstat_FRAG_orphan"), None);
        assert_eq!(fams[1].help, "Number of TCP sockets in state inuse.");
        let s6 = parse_sockstat("TCP6: inuse 2\nRAW6: inuse 1\n").unwrap();
        assert_eq!(s6.used, None);
        assert_eq!(families(&s6, 4096).len(), 2);
        assert!(parse_sockstat("TCP: inuse\n").is_err());
        assert!(parse_sockstat("TCP: inuse x\n").is_err());
    }
}
