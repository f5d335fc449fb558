//! `entropy`: available entropy and pool size from /proc/sys/kernel/random.

use std::collections::BTreeMap;

use super::{from_fn, Collector, Ctx, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "entropy",
    default_enabled: true,
    options: &[],
    build,
};

/// The files procfs reads for `KernelRandom`: a missing one is skipped, an unparsable one fails.
const FILES: [&str; 5] = [
    "entropy_avail",
    "poolsize",
    "urandom_min_reseed_secs",
    "write_wakeup_threshold",
    "read_wakeup_threshold",
];

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    from_fn(ctx, update)
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let mut files = BTreeMap::new();
    for name in FILES {
        let path = paths.proc(&format!("sys/kernel/random/{name}"));
        match super::kfile::read_to_string(&path) {
            Ok(text) => {
                files.insert(name, text);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    entropy_families(&files, out)
}

/// Pushes what it can before failing, as node_exporter emits available bits even when the pool
/// size is missing.
pub fn entropy_families(
    files: &BTreeMap<&str, String>,
    out: &mut Vec<Family>,
) -> Result<(), String> {
    let mut values = BTreeMap::new();
    for (name, text) in files {
        let v: u64 = text
            .trim()
            .parse()
            .map_err(|_| format!("invalid value {text:?} in sys/kernel/random/{name}"))?;
        values.insert(*name, v as f64);
    }
    let avail = values
        .get("entropy_avail")
        .ok_or("couldn't get entropy_avail")?;
    out.push(
        Family::gauge("node_entropy_available_bits", "Bits of available entropy.")
            .with(&[], *avail),
    );
    let pool = values
        .get("poolsize")
        .ok_or("couldn't get entropy poolsize")?;
    out.push(
        Family::gauge("node_entropy_pool_size_bits", "Bits of entropy pool.").with(&[], *pool),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn both_values() {
        let mut out = Vec::new();
        entropy_families(
            &files(&[("entropy_avail", "256\n"), ("poolsize", "4096\n")]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out[0].samples[0].value, 256.0);
        assert_eq!(out[1].name, "node_entropy_pool_size_bits");
        assert_eq!(out[1].samples[0].value, 4096.0);
    }

    #[test]
    fn missing_pool_keeps_available_and_fails() {
        let mut out = Vec::new();
        assert!(entropy_families(&files(&[("entropy_avail", "256\n")]), &mut out).is_err());
        assert_eq!(out.len(), 1);
        let mut out = Vec::new();
        let bad = files(&[
            ("entropy_avail", "1"),
            ("poolsize", "1"),
            ("write_wakeup_threshold", "x"),
        ]);
        assert!(entropy_families(&bad, &mut out).is_err());
        assert!(out.is_empty());
    }
}
