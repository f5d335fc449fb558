//! `pressure`: PSI totals from /proc/pressure/{cpu,io,memory} in seconds, as node_exporter 1.5
//! (which reads neither `irq` nor the cpu `full` line).

use super::Paths;
use crate::model::Family;

super::paths_collector!("pressure", true);

/// The `total=` of the `some` and `full` lines, in microseconds.
#[derive(Debug, Default, PartialEq)]
pub struct Psi {
    pub some: Option<u64>,
    pub full: Option<u64>,
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    // Families already pushed stay when a later resource fails, as in node_exporter.
    for res in ["cpu", "io", "memory"] {
        let path = paths.proc(&format!("pressure/{res}"));
        let text = super::kfile::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{}: pressure information is unavailable (needs Linux >= 4.20 with CONFIG_PSI)",
                    path.display()
                )
            } else {
                format!("{}: {e}", path.display())
            }
        })?;
        let psi = parse_psi(&text)?;
        out.extend(psi_families(res, &psi)?);
    }
    Ok(())
}

pub fn parse_psi(text: &str) -> Result<Psi, String> {
    let mut psi = Psi::default();
    for line in text.lines() {
        let mut parts = line.split(' ');
        let slot = match parts.next() {
            Some("some") => &mut psi.some,
            Some("full") => &mut psi.full,
            _ => continue, // unknown kinds are ignored, as procfs does
        };
        let keys = ["avg10=", "avg60=", "avg300=", "total="];
        let bad = || format!("invalid pressure line {line:?}");
        let mut total = None;
        for key in keys {
            let v = parts
                .next()
                .and_then(|p| p.strip_prefix(key))
                .ok_or_else(bad)?;
            if key == "total=" {
                total = Some(v.parse::<u64>().map_err(|_| bad())?);
            } else {
                v.parse::<f64>().map_err(|_| bad())?;
            }
        }
        *slot = total;
    }
    Ok(psi)
}

fn seconds(micros: u64) -> f64 {
    // Two divisions, as node_exporter does, so the float is bit-for-bit the same.
    micros as f64 / 1000.0 / 1000.0
}

pub fn psi_families(res: &str, psi: &Psi) -> Result<Vec<Family>, String> {
    let need = |v: Option<u64>, kind: &str| {
        v.map(seconds)
            .ok_or_else(|| format!("pressure/{res} has no {kind:?} line"))
    };
    let fam = |name: &str, help: &str, v: f64| {
        Family::counter(format!("node_pressure_{name}"), help).with(&[], v)
    };
    Ok(match res {
        "cpu" => vec![fam(
            "cpu_waiting_seconds_total",
            "Total time in seconds that processes have waited for CPU time",
            need(psi.some, "some")?,
        )],
        "io" => vec![
            fam(
                "io_waiting_seconds_total",
                "Total time in seconds that processes have waited due to IO congestion",
                need(psi.some, "some")?,
            ),
            fam(
                "io_stalled_seconds_total",
                "Total time in seconds no process could make progress due to IO congestion",
                need(psi.full, "full")?,
            ),
        ],
        "memory" => vec![
            fam(
                "memory_waiting_seconds_total",
                "Total time in seconds that processes have waited for memory",
                need(psi.some, "some")?,
            ),
            fam(
                "memory_stalled_seconds_total",
                "Total time in seconds no process could make progress due to memory congestion",
                need(psi.full, "full")?,
            ),
        ],
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IO: &str = "some avg10=0.50 avg60=0.25 avg300=0.11 total=3460539\n\
full avg10=0.42 avg60=0.21 avg300=0.09 total=3188145\n";

    #[test]
    fn totals_are_read_and_scaled() {
        let psi = parse_psi(IO).unwrap();
        assert_eq!(
            psi,
            Psi {
                some: Some(3460539),
                full: Some(3188145)
            }
        );
        let fams = psi_families("io", &psi).unwrap();
        assert_eq!(fams[0].name, "node_pressure_io_waiting_seconds_total");
        // Same float as Go's float64(v)/1000.0/1000.0, not v/1e6.
        assert_eq!(fams[0].samples[0].value, 3.4605390000000003);
        assert_eq!(fams[1].samples[0].value, 3.188145);
    }

    #[test]
    fn odd_input() {
        assert!(parse_psi("some avg10=x avg60=0 avg300=0 total=1\n").is_err());
        assert!(parse_psi("some avg10=0.0 total=1\n").is_err());
        let cpu = parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\nnew kind\n").unwrap();
        assert_eq!(psi_families("cpu", &cpu).unwrap().len(), 1);
        assert!(psi_families("io", &cpu).is_err(), "io needs a full line");
        assert!(psi_families("irq", &cpu).unwrap().is_empty());
    }
}
