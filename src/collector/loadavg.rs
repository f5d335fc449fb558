//! `loadavg`: the 1, 5 and 15 minute load averages from /proc/loadavg.

use super::{read, Paths};
use crate::model::Family;

super::paths_collector!("loadavg", true);

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let loads = parse_loadavg(&read(&paths.proc("loadavg"))?)?;
    for (name, window, v) in [
        ("1", "1m", loads[0]),
        ("5", "5m", loads[1]),
        ("15", "15m", loads[2]),
    ] {
        out.push(
            Family::gauge(
                format!("node_load{name}"),
                format!("{window} load average."),
            )
            .with(&[], v),
        );
    }
    Ok(())
}

/// The first three fields of /proc/loadavg.
pub fn parse_loadavg(text: &str) -> Result<[f64; 3], String> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    if parts.len() < 3 {
        return Err(format!("unexpected content in loadavg: {text:?}"));
    }
    let mut out = [0.0; 3];
    for (slot, p) in out.iter_mut().zip(&parts) {
        *slot = p
            .parse()
            .map_err(|_| format!("could not parse load {p:?}"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_loads_are_read() {
        assert_eq!(
            parse_loadavg("1.52 0.87 0.43 2/412 18432\n").unwrap(),
            [1.52, 0.87, 0.43]
        );
        assert!(parse_loadavg("1.0 2.0\n").is_err());
        assert!(parse_loadavg("1.0 x 2.0\n").is_err());
    }
}
