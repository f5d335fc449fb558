//! `softnet`: per-CPU packet processing counters from /proc/net/softnet_stat (hex columns).

use super::{read, Paths};
use crate::model::Family;

super::paths_collector!("softnet", true);

/// (processed, dropped, time_squeezed) per line; the line index is the CPU, as in 1.5.
pub fn parse_softnet(text: &str) -> Result<Vec<[u32; 3]>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        // The kernel has printed at least 9 columns since 2.6; fewer means a corrupt file.
        if cols.len() < 9 {
            return Err(format!(
                "softnet_stat: {} columns were detected, but at least 9 were expected",
                cols.len()
            ));
        }
        let mut v = [0u32; 3];
        for (slot, c) in v.iter_mut().zip(&cols) {
            *slot = u32::from_str_radix(c, 16).map_err(|e| format!("softnet_stat: {c:?}: {e}"))?;
        }
        out.push(v);
    }
    Ok(out)
}

pub fn families(rows: &[[u32; 3]]) -> Vec<Family> {
    let mut fams = [
        Family::counter(
            "node_softnet_processed_total",
            "Number of processed packets",
        ),
        Family::counter("node_softnet_dropped_total", "Number of dropped packets"),
        Family::counter(
            "node_softnet_times_squeezed_total",
            "Number of times processing packets ran out of quota",
        ),
    ];
    for (cpu, row) in rows.iter().enumerate() {
        let cpu = cpu.to_string();
        for (fam, v) in fams.iter_mut().zip(row) {
            fam.add(&[("cpu", &cpu)], *v as f64);
        }
    }
    fams.into()
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let rows = parse_softnet(&read(&paths.proc("net/softnet_stat"))?)?;
    out.extend(families(&rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_columns_per_cpu() {
        let rows = parse_softnet(
            "0000272d 00000000 00000001 0 0 0 0 0 0 0 0\n00001693 00000002 00000015 0 0 0 0 0 0\n",
        )
        .unwrap();
        assert_eq!(rows, vec![[10029, 0, 1], [5779, 2, 21]]);
        let fams = families(&rows);
        assert_eq!(
            fams[1].samples[1].labels,
            vec![("cpu".to_string(), "1".to_string())]
        );
        assert_eq!(fams[1].samples[1].value, 2.0);
        assert!(parse_softnet("1 2 3\n").is_err());
        assert!(parse_softnet("zz 0 0 0 0 0 0 0 0\n").is_err());
    }
}
