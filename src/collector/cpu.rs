//! `cpu`: per-CPU mode times from /proc/stat, thermal throttle counts and isolated CPUs from
//! sysfs, as node_exporter 1.5 serves them. Counters are cached so they never go backwards.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use super::{read, read_trim, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "cpu",
    default_enabled: true,
    options: &[
        Opt {
            key: "guest",
            default: "true",
            help: "Enables metric node_cpu_guest_seconds_total",
        },
        Opt {
            key: "info",
            default: "false",
            help: "Enables metric cpu_info",
        },
        Opt {
            key: "info.flags-include",
            default: "",
            help:
                "Filter the `flags` field in cpuInfo with a value that must be a regular expression",
        },
        Opt {
            key: "info.bugs-include",
            default: "",
            help:
                "Filter the `bugs` field in cpuInfo with a value that must be a regular expression",
        },
    ],
    build,
};

/// The kernel's USER_HZ: /proc/stat counts in 1/100 s on every Linux architecture.
const USER_HZ: f64 = 100.0;
/// An idle counter falling back this far means the CPU was hot-plugged: start it afresh.
const JUMP_BACK_SECONDS: f64 = 3.0;
/// The /proc/stat columns, in order; the last two are guest time, also counted in user and nice.
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];
const IDLE: usize = 3;

/// One CPU's times in seconds: the 8 modes then guest and guest_nice.
pub type CpuTimes = [f64; 10];

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    let guest = parse_bool(&ctx.opt(&SPEC, "guest"))?;
    // node_exporter reads the isolated list once, at start; a missing file means no metric.
    let path = ctx.paths.sys("devices/system/cpu/isolated");
    let isolated = match super::kfile::read_to_string(&path) {
        Ok(text) => Some(parse_cpu_list(&text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let include = |key: &str| -> Result<Option<regex::Regex>, String> {
        match ctx.opt(&SPEC, key) {
            v if v.is_empty() => Ok(None),
            v => regex::Regex::new(&v)
                .map(Some)
                .map_err(|e| format!("{key} {v:?}: {e}")),
        }
    };
    let info = parse_bool(&ctx.opt(&SPEC, "info"))?.then_some(InfoOpts {
        flags: include("info.flags-include")?,
        bugs: include("info.bugs-include")?,
    });
    Ok(Box::new(CpuCollector {
        paths: ctx.paths.clone(),
        guest,
        info,
        isolated,
        cache: Mutex::new(Vec::new()),
    }))
}

pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("invalid boolean {v:?}")),
    }
}

/// `--collector.cpu.info` and its flag/bug filters (no filter: no flag/bug series).
struct InfoOpts {
    flags: Option<regex::Regex>,
    bugs: Option<regex::Regex>,
}

struct CpuCollector {
    paths: Paths,
    guest: bool,
    info: Option<InfoOpts>,
    isolated: Option<Vec<u32>>,
    cache: Mutex<Vec<CpuTimes>>,
}

impl Collector for CpuCollector {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let fresh = parse_stat_cpus(&read(&self.paths.proc("stat"))?)?;
        let stats = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            merge_monotonic(&mut cache, &fresh);
            cache.clone()
        };
        out.extend(times_families(&stats, self.guest));
        if let Some(isolated) = &self.isolated {
            let mut fam = Family::gauge(
                "node_cpu_isolated",
                "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
            );
            for cpu in isolated {
                fam.add(&[("cpu", &cpu.to_string())], 1.0);
            }
            out.push(fam);
        }
        let readings = throttle_readings(&self.paths.sys("devices/system/cpu"));
        out.extend(throttle_families(&readings));
        if let Some(opts) = &self.info {
            let cpus = parse_cpuinfo(&read(&self.paths.proc("cpuinfo"))?);
            out.extend(info_families(
                &cpus,
                opts.flags.as_ref(),
                opts.bugs.as_ref(),
            ));
        }
        Ok(())
    }
}

/// One processor block of /proc/cpuinfo: `key: value` pairs (trimmed).
pub type CpuInfo = BTreeMap<String, String>;

/// Splits /proc/cpuinfo into processor blocks (a block starts at its `processor` line).
pub fn parse_cpuinfo(text: &str) -> Vec<CpuInfo> {
    let mut out: Vec<CpuInfo> = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k == "processor" || out.is_empty() {
            out.push(CpuInfo::new());
        }
        if let Some(cpu) = out.last_mut() {
            cpu.insert(k.to_string(), v.to_string());
        }
    }
    out.retain(|c| c.get("processor").is_some_and(|p| p.parse::<u32>().is_ok()));
    out
}

/// `node_cpu_info` per processor, and the first processor's flags and bugs that match.
pub fn info_families(
    cpus: &[CpuInfo],
    flags: Option<&regex::Regex>,
    bugs: Option<&regex::Regex>,
) -> Vec<Family> {
    let mut info = Family::gauge("node_cpu_info", "CPU information from /proc/cpuinfo.");
    for c in cpus {
        let get = |k: &str| c.get(k).map_or("", String::as_str);
        info.add(
            &[
                ("package", get("physical id")),
                ("core", get("core id")),
                ("cpu", get("processor")),
                ("vendor", get("vendor_id")),
                ("family", get("cpu family")),
                ("model", get("model")),
                ("model_name", get("model name")),
                ("microcode", get("microcode")),
                ("stepping", get("stepping")),
                ("cachesize", get("cache size")),
            ],
            1.0,
        );
    }
    let mut out = vec![info];
    for (field, label, re) in [("flags", "flag", flags), ("bugs", "bug", bugs)] {
        let (Some(re), Some(first)) = (re, cpus.first()) else {
            continue;
        };
        let mut f = Family::gauge(
            format!("node_cpu_{label}_info"),
            format!("The `{field}` field of CPU information from /proc/cpuinfo taken from the first core."),
        );
        let list = first.get(field).map_or("", String::as_str);
        for v in list.split_whitespace().filter(|v| re.is_match(v)) {
            f.add(&[(label, v)], 1.0);
        }
        out.push(f);
    }
    out
}

/// The `cpuN` lines of /proc/stat, indexed by N. Like node_exporter 1.5 (whose list is indexed
/// by CPU number), a CPU missing from the file below the highest one is reported as zeros.
pub fn parse_stat_cpus(text: &str) -> Result<Vec<CpuTimes>, String> {
    let mut cpus: Vec<CpuTimes> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(id) = fields.next().and_then(|f| f.strip_prefix("cpu")) else {
            continue;
        };
        let mut times = [0.0; 10];
        for (slot, field) in times.iter_mut().zip(fields) {
            let v: f64 = field
                .parse()
                .map_err(|_| format!("invalid cpu line in stat: {line:?}"))?;
            *slot = v / USER_HZ;
        }
        if id.is_empty() {
            continue; // the all-CPU total line: checked, as procfs does, but not reported
        }
        let id: usize = id
            .parse()
            .map_err(|_| format!("invalid cpu line in stat: {line:?}"))?;
        if cpus.len() <= id {
            cpus.resize(id + 1, [0.0; 10]);
        }
        cpus[id] = times;
    }
    Ok(cpus)
}

/// Folds a fresh reading into the cache the way node_exporter 1.5 does: a changed CPU count
/// resets the cache, an idle drop of 3 s or more resets that CPU, and otherwise each counter
/// only moves forward.
pub fn merge_monotonic(cache: &mut Vec<CpuTimes>, fresh: &[CpuTimes]) {
    if cache.len() != fresh.len() {
        *cache = vec![[0.0; 10]; fresh.len()];
    }
    for (old, new) in cache.iter_mut().zip(fresh) {
        if old[IDLE] - new[IDLE] >= JUMP_BACK_SECONDS {
            *old = [0.0; 10];
        }
        for (o, n) in old.iter_mut().zip(new) {
            if *n >= *o {
                *o = *n;
            }
        }
    }
}

fn times_families(stats: &[CpuTimes], guest: bool) -> Vec<Family> {
    let mut secs = Family::counter(
        "node_cpu_seconds_total",
        "Seconds the CPUs spent in each mode.",
    );
    let mut guest_fam = Family::counter(
        "node_cpu_guest_seconds_total",
        "Seconds the CPUs spent in guests (VMs) for each mode.",
    );
    for (id, t) in stats.iter().enumerate() {
        let cpu = id.to_string();
        for (mode, v) in MODES.iter().zip(t) {
            secs.add(&[("cpu", &cpu), ("mode", mode)], *v);
        }
        guest_fam.add(&[("cpu", &cpu), ("mode", "user")], t[8]);
        guest_fam.add(&[("cpu", &cpu), ("mode", "nice")], t[9]);
    }
    let mut out = vec![secs];
    if guest {
        out.push(guest_fam);
    }
    out
}

/// A sysfs CPU list such as `0-2,5` (empty means none).
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let bad = || format!("invalid cpu list {text:?}");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(out)
}

/// What one `cpuN` directory says: package, core and its two throttle counters when readable.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleReading {
    pub package: u64,
    pub core: u64,
    pub core_count: Option<u64>,
    pub package_count: Option<u64>,
}

fn read_u64(path: &Path) -> Option<u64> {
    read_trim(path).ok()?.parse().ok()
}

/// Reads `cpu[0-9]*` directories in name order (as Go's glob sorts them); a CPU without
/// topology is skipped, as node_exporter does.
fn throttle_readings(cpu_dir: &Path) -> Vec<ThrottleReading> {
    let Ok(entries) = std::fs::read_dir(cpu_dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.strip_prefix("cpu")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let dir = cpu_dir.join(name);
        let (Some(package), Some(core)) = (
            read_u64(&dir.join("topology/physical_package_id")),
            read_u64(&dir.join("topology/core_id")),
        ) else {
            continue;
        };
        out.push(ThrottleReading {
            package,
            core,
            core_count: read_u64(&dir.join("thermal_throttle/core_throttle_count")),
            package_count: read_u64(&dir.join("thermal_throttle/package_throttle_count")),
        });
    }
    out
}

/// One value per core and per package: the first CPU (in name order) that has the counter wins.
pub fn throttle_families(readings: &[ThrottleReading]) -> Vec<Family> {
    let mut cores: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let mut packages: BTreeMap<u64, u64> = BTreeMap::new();
    for r in readings {
        if let Some(c) = r.core_count {
            cores.entry((r.package, r.core)).or_insert(c);
        }
        if let Some(p) = r.package_count {
            packages.entry(r.package).or_insert(p);
        }
    }
    let mut core_fam = Family::counter(
        "node_cpu_core_throttles_total",
        "Number of times this CPU core has been throttled.",
    );
    for ((package, core), v) in cores {
        core_fam.add(
            &[
                ("core", &core.to_string()),
                ("package", &package.to_string()),
            ],
            v as f64,
        );
    }
    let mut pkg_fam = Family::counter(
        "node_cpu_package_throttles_total",
        "Number of times this CPU package has been throttled.",
    );
    for (package, v) in packages {
        pkg_fam.add(&[("package", &package.to_string())], v as f64);
    }
    vec![core_fam, pkg_fam]
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  10 0 4 200 4 0 5 8 6 1\n\
cpu0 500 20 300 10000 7 1 2 3 40 5\n\
cpu2 100 0 0 900\n\
intr 5 0\nctxt 9\n";

    #[test]
    fn cpu_lines_are_indexed_and_scaled() {
        let cpus = parse_stat_cpus(STAT).unwrap();
        assert_eq!(
            cpus.len(),
            3,
            "cpu1 is missing but below cpu2, so it is zero-filled"
        );
        assert_eq!(
            cpus[0],
            [5.0, 0.2, 3.0, 100.0, 0.07, 0.01, 0.02, 0.03, 0.4, 0.05]
        );
        assert_eq!(cpus[1], [0.0; 10]);
        assert_eq!(cpus[2][3], 9.0);
        assert_eq!(cpus[2][8], 0.0, "absent guest columns read as zero");
        assert!(parse_stat_cpus("cpuX 1 2 3").is_err());
        assert!(parse_stat_cpus("cpu0 1 x 3").is_err());
        assert!(
            parse_stat_cpus("cpu  1 x 3").is_err(),
            "the total line is checked too"
        );
    }

    #[test]
    fn counters_never_go_backwards_and_hotplug_resets() {
        let mut cache = Vec::new();
        let mut a = [1.0; 10];
        a[IDLE] = 100.0;
        merge_monotonic(&mut cache, &[a]);
        assert_eq!(cache[0], a);
        // user drops a little: keep the old value; idle grows.
        let mut b = a;
        b[0] = 0.5;
        b[IDLE] = 101.0;
        merge_monotonic(&mut cache, &[b]);
        assert_eq!(cache[0][0], 1.0);
        assert_eq!(cache[0][IDLE], 101.0);
        // idle falls back 3 s or more: the CPU starts afresh with the new values.
        let mut c = [0.25; 10];
        c[IDLE] = 98.0;
        merge_monotonic(&mut cache, &[c]);
        assert_eq!(cache[0], c);
        // a changed CPU count resets the whole cache.
        merge_monotonic(&mut cache, &[c, c]);
        assert_eq!(cache, vec![c, c]);
    }

    #[test]
    fn guest_family_follows_the_option() {
        let stats = parse_stat_cpus(STAT).unwrap();
        let fams = times_families(&stats, true);
        assert_eq!(fams[0].samples.len(), 24);
        assert_eq!(fams[1].name, "node_cpu_guest_seconds_total");
        assert_eq!(fams[1].samples[0].value, 0.4);
        assert_eq!(times_families(&stats, false).len(), 1);
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn cpu_lists_expand_ranges() {
        assert_eq!(parse_cpu_list("0-2,5\n").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<u32>::new());
        assert!(parse_cpu_list("a-b").is_err());
    }

    #[test]
    fn throttles_take_the_first_cpu_per_core_and_package() {
        let r = |package, core, cc, pc| ThrottleReading {
            package,
            core,
            core_count: cc,
            package_count: pc,
        };
        let fams = throttle_families(&[
            r(0, 0, None, Some(7)),
            r(0, 0, Some(3), Some(9)),
            r(0, 1, Some(4), None),
            r(1, 0, Some(5), None),
        ]);
        let core: Vec<(String, f64)> = fams[0]
            .samples
            .iter()
            .map(|s| (format!("{}/{}", s.labels[1].1, s.labels[0].1), s.value))
            .collect();
        assert_eq!(
            core,
            vec![
                ("0/0".into(), 3.0),
                ("0/1".into(), 4.0),
                ("1/0".into(), 5.0)
            ]
        );
        assert_eq!(fams[1].samples.len(), 1);
        assert_eq!(fams[1].samples[0].value, 7.0);
    }

    #[test]
    fn cpuinfo_blocks_and_first_core_flags() {
        let t = "processor\t: 0\nvendor_id\t: X\ncore id\t\t: 0\nflags\t\t: fpu aes avx2\nbugs\t: a b\n\n\
                 processor\t: 1\nvendor_id\t: X\nflags\t\t: fpu\n\nbogus line\n";
        let cpus = parse_cpuinfo(t);
        assert_eq!(cpus.len(), 2);
        let re = regex::Regex::new("^a").unwrap();
        let f = info_families(&cpus, Some(&re), None);
        assert_eq!(f.len(), 2, "no bug filter, no bug family");
        assert_eq!(f[0].samples.len(), 2);
        let flags: Vec<&str> = f[1]
            .samples
            .iter()
            .map(|s| s.labels[0].1.as_str())
            .collect();
        assert_eq!(flags, ["aes", "avx2"]);
    }
}
