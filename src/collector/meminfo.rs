//! `meminfo`: every /proc/meminfo field as `node_memory_<Field>[_bytes]`, named as node_exporter
//! 1.5 names them (`Active(anon)` becomes `Active_anon`; a kB unit becomes bytes and `_bytes`).

use std::collections::BTreeMap;

use super::{read, Paths};
use crate::model::Family;

super::paths_collector!("meminfo", true);

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let fields = parse_meminfo(&read(&paths.proc("meminfo"))?)?;
    out.extend(meminfo_families(&fields));
    Ok(())
}

/// Field name (already suffixed `_bytes` when the line had a unit) to value; a later duplicate
/// wins, as in node_exporter's map.
pub fn parse_meminfo(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue; // some old kernels print blank lines
        }
        let invalid = || format!("invalid line in meminfo: {line:?}");
        let mut value: f64 = parts
            .get(1)
            .ok_or_else(invalid)?
            .parse()
            .map_err(|_| format!("invalid value in meminfo: {line:?}"))?;
        // node_exporter drops the last character (the colon) whatever it is.
        let raw = parts[0];
        let mut key =
            rename_parens(&raw[..raw.len() - raw.chars().last().map_or(0, char::len_utf8)]);
        match parts.len() {
            2 => {}
            3 => {
                // The only unit the kernel prints is kB.
                value *= 1024.0;
                key.push_str("_bytes");
            }
            _ => return Err(invalid()),
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// `Active(anon)` → `Active_anon`: from the first `(` to the last `)`, like the greedy
/// `\((.*)\)` → `_$1` replacement node_exporter uses.
fn rename_parens(key: &str) -> String {
    if let Some(open) = key.find('(') {
        if let Some(close) = key.rfind(')').filter(|&c| c > open) {
            return format!(
                "{}_{}{}",
                &key[..open],
                &key[open + 1..close],
                &key[close + 1..]
            );
        }
    }
    key.to_string()
}

/// One family per field; a name ending in `_total` (lower case) is a counter.
pub fn meminfo_families(fields: &BTreeMap<String, f64>) -> Vec<Family> {
    fields
        .iter()
        .map(|(key, &v)| {
            let name = format!("node_memory_{key}");
            let help = format!("Memory information field {key}.");
            let fam = if key.ends_with("_total") {
                Family::counter(name, help)
            } else {
                Family::gauge(name, help)
            };
            fam.with(&[], v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MetricType;

    const MEMINFO: &str = "MemTotal:       24684084 kB\n\
Active(anon):       1536 kB\n\
\n\
HugePages_Total:      16\n\
Hugepagesize:       2048 kB\n\
Weird_total:           5\n";

    #[test]
    fn fields_are_renamed_and_scaled() {
        let f = parse_meminfo(MEMINFO).unwrap();
        assert_eq!(f["MemTotal_bytes"], 24684084.0 * 1024.0);
        assert_eq!(f["Active_anon_bytes"], 1536.0 * 1024.0);
        assert_eq!(
            f["HugePages_Total"], 16.0,
            "no unit: no _bytes and no scaling"
        );
        assert_eq!(f["Hugepagesize_bytes"], 2097152.0);
        assert_eq!(f.len(), 5);
    }

    #[test]
    fn families_use_counter_only_for_lowercase_total() {
        let fams = meminfo_families(&parse_meminfo(MEMINFO).unwrap());
        let kind = |n: &str| fams.iter().find(|f| f.name == n).unwrap().kind;
        assert_eq!(kind("node_memory_HugePages_Total"), MetricType::Gauge);
        assert_eq!(kind("node_memory_Weird_total"), MetricType::Counter);
        let f = fams
            .iter()
            .find(|f| f.name == "node_memory_Active_anon_bytes")
            .unwrap();
        assert_eq!(f.help, "Memory information field Active_anon_bytes.");
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(parse_meminfo("MemTotal: abc kB\n").is_err());
        assert!(parse_meminfo("MemTotal:\n").is_err());
        assert!(parse_meminfo("MemTotal: 1 kB extra\n").is_err());
        assert_eq!(rename_parens("a(b)c(d)"), "a_b)c(d");
    }
}
