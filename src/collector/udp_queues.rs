//! `udp_queues`: bytes queued in UDP sockets, summed over /proc/net/udp and udp6.

use super::Paths;
use crate::model::Family;

super::paths_collector!("udp_queues", true);

/// Sums the hex `tx_queue:rx_queue` column over all sockets, skipping the header line.
pub fn parse_udp(text: &str) -> Result<(u64, u64), String> {
    let (mut tx, mut rx) = (0u64, 0u64);
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        let q = cols
            .get(4)
            .and_then(|c| c.split_once(':'))
            .ok_or_else(|| format!("udp: malformed line {line:?}"))?;
        let hex =
            |s: &str| u64::from_str_radix(s, 16).map_err(|e| format!("udp: queue {s:?}: {e}"));
        tx += hex(q.0)?;
        rx += hex(q.1)?;
    }
    Ok((tx, rx))
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let mut f = Family::gauge(
        "node_udp_queues",
        "Number of allocated memory in the kernel for UDP datagrams in bytes.",
    );
    let mut missing = 0;
    for (file, ip) in [("net/udp", "v4"), ("net/udp6", "v6")] {
        let path = paths.proc(file);
        let text = match super::kfile::read_to_string(&path) {
            Ok(t) => t,
            // Without IPv6 (or IPv4) the file is absent and node_exporter skips it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing += 1;
                continue;
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let (tx, rx) = parse_udp(&text)?;
        f.add(&[("queue", "tx"), ("ip", ip)], tx as f64);
        f.add(&[("queue", "rx"), ("ip", ip)], rx as f64);
    }
    if missing == 2 {
        return Err("no /proc/net/udp or udp6".into());
    }
    out.push(f);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_queues() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
  133: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101 0 18765\n\
  346: 00000000:0044 00000000:0000 07 00000200:00000A00 00:00000000 00000000     0 0 19522\n";
        assert_eq!(parse_udp(t).unwrap(), (0x200, 0xA00));
        assert_eq!(parse_udp("header only\n").unwrap(), (0, 0));
        assert!(parse_udp("h\n 1: a b 07 zz:00\n").is_err());
        assert!(parse_udp("h\n 1: a b\n").is_err());
    }
}
