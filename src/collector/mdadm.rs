//! `mdadm`: Linux software RAID state from /proc/mdstat, as node_exporter 1.5 (procfs' parser):
//! disks by state, required disks, activity state, total and synced blocks. A device whose lines
//! do not parse is skipped (node_exporter fails the collector on it).

use super::{read, Paths};
use crate::model::Family;

super::paths_collector!("mdadm", true);

#[derive(Debug, PartialEq)]
pub struct Md {
    pub name: String,
    /// `active`, `inactive`, `recovering`, `checking`, `resyncing` (or what the line says).
    pub state: String,
    pub active: i64,
    pub failed: i64,
    pub spare: i64,
    pub total: i64,
    pub blocks: i64,
    pub synced: i64,
}

/// `[total/active] [UU_]` in a status line.
fn status_counts(line: &str) -> Option<(i64, i64)> {
    let blocks = line.find(" blocks ")?;
    let rest = &line[blocks..];
    // The last `[n/m]` followed by ` [U_...]`.
    let mut found = None;
    let mut i = 0;
    while let Some(open) = rest[i..].find('[') {
        let s = i + open + 1;
        let Some(close) = rest[s..].find(']') else {
            break;
        };
        let inner = &rest[s..s + close];
        let after = rest[s + close + 1..].trim_start_matches(' ');
        if let Some((t, a)) = inner.split_once('/') {
            let map = after.strip_prefix('[').and_then(|x| x.split_once(']'));
            if let (Ok(t), Ok(a), Some((m, _))) = (t.parse(), a.parse(), map) {
                if !m.is_empty() && m.chars().all(|c| c == 'U' || c == '_') {
                    found = Some((t, a));
                }
            }
        }
        i = s + close + 1;
    }
    found
}

fn parse_device(lines: &[&str], i: usize) -> Option<Md> {
    let line = lines[i];
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 3 || lines.len() <= i + 3 {
        return None;
    }
    let mut state = fields[2].to_string();
    let failed = line.matches("(F)").count() as i64;
    let spare = line.matches("(S)").count() as i64;
    let status = lines[i + 1];
    let blocks: i64 = status.split_whitespace().next()?.parse().ok()?;
    let (active, total) = if line.contains("raid0") || line.contains("linear") {
        let n = line.matches('[').count() as i64;
        (n, n)
    } else if line.contains("inactive") {
        (0, 0)
    } else {
        let (t, a) = status_counts(status)?;
        (a, t)
    };
    let mut sync = i + 2;
    if lines[sync].contains("bitmap") {
        sync += 1;
    }
    let sl = lines.get(sync).copied().unwrap_or("");
    let mut synced = blocks;
    let (rec, res, chk) = (
        sl.contains("recovery"),
        sl.contains("resync"),
        sl.contains("check"),
    );
    if rec || res || chk {
        state = if rec {
            "recovering"
        } else if chk {
            "checking"
        } else {
            "resyncing"
        }
        .to_string();
        synced = if sl.contains("PENDING") || sl.contains("DELAYED") {
            0
        } else {
            let open = sl.find('(')?;
            let slash = sl[open..].find('/')? + open;
            sl[open + 1..slash].parse().ok()?
        };
    }
    Some(Md {
        name: fields[0].to_string(),
        state,
        active,
        failed,
        spare,
        total,
        blocks,
        synced,
    })
}

/// Parses /proc/mdstat; the second list names the devices that did not parse.
pub fn parse(text: &str) -> (Vec<Md>, Vec<String>) {
    let lines: Vec<&str> = text.split('\n').collect();
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty()
            || line.starts_with(' ')
            || line.starts_with('\t')
            || line.starts_with("Personalities")
            || line.starts_with("unused")
        {
            continue;
        }
        match parse_device(&lines, i) {
            Some(md) => out.push(md),
            None => bad.push(line.to_string()),
        }
    }
    (out, bad)
}

pub fn families(mds: &[Md]) -> Vec<Family> {
    let g = |n: &str, h: &str| Family::gauge(format!("node_md_{n}"), h);
    let mut required = g("disks_required", "Total number of disks of device.");
    let mut disks = g("disks", "Number of active/failed/spare disks of device.");
    let mut state = g("state", "Indicates the state of md-device.");
    let mut blocks = g("blocks", "Total number of blocks on device.");
    let mut synced = g("blocks_synced", "Number of blocks synced on device.");
    for md in mds {
        let d = ("device", md.name.as_str());
        required.add(&[d], md.total as f64);
        for (s, v) in [
            ("active", md.active),
            ("failed", md.failed),
            ("spare", md.spare),
        ] {
            disks.add(&[d, ("state", s)], v as f64);
        }
        for (label, s) in [
            ("active", "active"),
            ("inactive", "inactive"),
            ("recovering", "recovering"),
            ("resync", "resyncing"),
            ("check", "checking"),
        ] {
            state.add(
                &[d, ("state", label)],
                if md.state == s { 1.0 } else { 0.0 },
            );
        }
        blocks.add(&[d], md.blocks as f64);
        synced.add(&[d], md.synced as f64);
    }
    vec![required, disks, state, blocks, synced]
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let (mds, bad) = parse(&read(&paths.proc("mdstat"))?);
    for line in bad {
        tracing::debug!(collector = "mdadm", line, "skipped an unparsable md device");
    }
    out.extend(families(&mds));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "Personalities : [raid1]\n\
md6 : active raid1 sdb2[2](F) sdc[1](S) sda2[0]\n      195310144 blocks [2/1] [U_]\n      [=>....]  recovery =  8.5% (16775552/195310144) finish=17.0min speed=259783K/sec\n\n\
md9 : active raid1 sdc2[2] sdd2[3]\n      523968 blocks super 1.2 [4/2] [__UU]\n      bitmap: 0/1 pages [0KB], 65536KB chunk\n      [>...]  resync=DELAYED\n\n\
md7 : active raid1 sda[0]\n      garbage\n\n\
md00 : active raid0 xvdb[0]\n      4190208 blocks super 1.2 256k chunks\n\nunused devices: <none>\n";

    #[test]
    fn states_counts_and_sync() {
        let (mds, bad) = parse(T);
        assert_eq!(bad, vec!["md7 : active raid1 sda[0]".to_string()]);
        assert_eq!(
            mds[0],
            Md {
                name: "md6".into(),
                state: "recovering".into(),
                active: 1,
                failed: 1,
                spare: 1,
                total: 2,
                blocks: 195310144,
                synced: 16775552
            }
        );
        assert_eq!(
            (mds[1].state.as_str(), mds[1].synced, mds[1].active),
            ("resyncing", 0, 2)
        );
        assert_eq!(
            (mds[2].active, mds[2].total, mds[2].synced),
            (1, 1, 4190208)
        );
        let f = families(&mds);
        assert_eq!(f[2].samples.len(), 15);
    }
}
