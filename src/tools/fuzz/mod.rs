//! `telltale fuzz` (hidden): a deterministic mutation fuzzer for the decoders that read input
//! telltale does not control. cargo-fuzz would need nightly and a library target (telltale is
//! one binary), so this is plain Rust run from the binary itself: seeds from the repository's
//! fixtures plus the kept corpus, mutated (bit flips, interesting bytes, deletions, duplication,
//! dictionary tokens, line edits, splicing, truncation), each run checked for panics, aborts
//! (stack overflow, out of memory) and time. Inputs that show a new outcome class are kept.
//! Debug builds are used on purpose: integer overflow panics there.

mod mutate;
pub mod targets;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use mutate::Rng;
use targets::Target;

/// One fuzzing run's budget and files.
pub struct Options {
    pub target: String,
    pub seconds: u64,
    pub corpus: Option<PathBuf>,
    pub crashes: PathBuf,
    pub seed: u64,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub execs: u64,
    pub corpus: usize,
    pub new_inputs: usize,
    pub features: usize,
    /// The input that failed and why (panic message or "slow: …").
    pub failure: Option<(Vec<u8>, String)>,
}

/// An input slower than this is a failure (debug build, one core).
pub const SLOW: Duration = Duration::from_secs(2);
const MAX_CORPUS: usize = 4000;
const PER_HEAD: usize = 8;
const MAX_LEN: usize = 32 * 1024;

/// Every seed file under `paths` (files, or directories walked), relative to `root`. A
/// `.lines` file holds one seed per line.
pub fn load_seeds(root: &Path, paths: &[&str]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.iter().map(|p| root.join(p)).collect();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
                entries.sort();
                stack.extend(entries.into_iter().rev());
            }
        } else if let Ok(bytes) = std::fs::read(&p) {
            if p.extension().is_some_and(|e| e == "lines") {
                out.extend(
                    bytes
                        .split(|&b| b == b'\n')
                        .filter(|l| !l.is_empty())
                        .map(<[u8]>::to_vec),
                );
            } else {
                out.push(bytes);
            }
        }
    }
    out
}

/// 64-bit FNV-1a, for corpus file names.
pub fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100000001b3)
    })
}

/// Runs one input; a panic or a slow run is a failure.
pub fn exec(t: &Target, input: &[u8]) -> Result<Vec<String>, String> {
    crash::set_current(input);
    let start = Instant::now();
    let got = std::panic::catch_unwind(|| (t.run)(input));
    crash::set_current(&[]);
    let took = start.elapsed();
    match got {
        Ok(features) if took <= SLOW => Ok(features),
        Ok(_) => Err(format!("slow: took {took:?}")),
        Err(p) => Err(LAST_PANIC
            .with(|l| l.borrow_mut().take())
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into())),
    }
}

thread_local! {
    /// The last panic's message and place, recorded by the quiet hook.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Panics are expected while fuzzing (some are caught by the code under test): record them
/// instead of printing each with a backtrace.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
    }));
}

/// Fuzzes `t` from `seeds` until `until` says stop; `keep` sees each new interesting input.
pub fn fuzz(
    t: &Target,
    seeds: Vec<Vec<u8>>,
    rng_seed: u64,
    mut until: impl FnMut(u64) -> bool,
    mut keep: impl FnMut(&[u8]),
) -> Report {
    let mut rng = Rng::new(rng_seed);
    let mut seen: HashSet<String> = HashSet::new();
    let mut heads: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // TELLTALE_FUZZ_SHOW=1 prints each new outcome class (to tune the classes).
    let show = std::env::var_os("TELLTALE_FUZZ_SHOW").is_some();
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    let mut report = Report::default();
    let max_len = seeds.iter().map(Vec::len).max().unwrap_or(0).max(MAX_LEN);
    for s in seeds {
        report.execs += 1;
        match exec(t, &s) {
            Ok(f) => {
                let mut new = false;
                for x in f {
                    new |= seen.insert(x);
                }
                if new || corpus.is_empty() {
                    corpus.push(s);
                }
            }
            Err(e) => {
                report.failure = Some((s, e));
                return report;
            }
        }
    }
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    report.corpus = corpus.len();
    while !until(report.execs) {
        let base = &corpus[rng.below(corpus.len())];
        let other = &corpus[rng.below(corpus.len())];
        let input = mutate::mutate(&mut rng, base, other, t.dict, max_len);
        report.execs += 1;
        match exec(t, &input) {
            Ok(f) => {
                let mut new = false;
                for x in f {
                    if !seen.contains(&x) {
                        // At most a few classes per message head and per message tail: a
                        // name that slips through the folding (at either end) must not turn
                        // every input into a "new" one.
                        let words: Vec<&str> = x.split(' ').collect();
                        let head = format!("^{}", words[..words.len().min(3)].join(" "));
                        let tail = format!("{}$", words[words.len().saturating_sub(3)..].join(" "));
                        let room = |k: &String| heads.get(k).copied().unwrap_or(0) < PER_HEAD;
                        if room(&head) && room(&tail) {
                            *heads.entry(head).or_insert(0) += 1;
                            *heads.entry(tail).or_insert(0) += 1;
                            if show {
                                eprintln!("new: {x}");
                            }
                            seen.insert(x);
                            new = true;
                        }
                    }
                }
                if new && corpus.len() < MAX_CORPUS {
                    keep(&input);
                    corpus.push(input);
                    report.new_inputs += 1;
                }
            }
            Err(e) => {
                report.failure = Some((input, e));
                break;
            }
        }
    }
    report.corpus = corpus.len();
    report.features = seen.len();
    report
}

/// `telltale fuzz`: exit 0 when nothing failed, 1 on a failure (the input saved under
/// `crashes`), 2 on bad arguments.
pub fn run(o: &Options) -> std::process::ExitCode {
    use std::process::ExitCode;
    let Some(t) = targets::by_name(&o.target) else {
        let names: Vec<&str> = targets::TARGETS.iter().map(|t| t.name).collect();
        eprintln!(
            "unknown fuzz target {:?} (targets: {})",
            o.target,
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let mut seeds = load_seeds(Path::new("."), t.seeds);
    if let Some(c) = &o.corpus {
        let _ = std::fs::create_dir_all(c);
        seeds.extend(load_seeds(c, &["."]));
    }
    let _ = std::fs::create_dir_all(&o.crashes);
    crash::install(&o.crashes.join(format!("{}-abort", t.name)));
    quiet_panics();
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let corpus = o.corpus.clone();
    let seed = o.seed;
    let worker = std::thread::Builder::new()
        .name("fuzz".into())
        // The stack of tokio's workers and blocking threads, where these decoders run.
        .stack_size(2 << 20)
        .spawn(move || {
            fuzz(
                t,
                seeds,
                seed,
                |_| Instant::now() >= deadline,
                |input| {
                    if let Some(dir) = &corpus {
                        let _ = std::fs::write(dir.join(format!("{:016x}", fnv(input))), input);
                    }
                },
            )
        });
    let Ok(worker) = worker else {
        eprintln!("cannot start the fuzz thread");
        return ExitCode::from(2);
    };
    crash::watch(&worker, &o.crashes.join(format!("{}-hang", t.name)));
    let report = match worker.join() {
        Ok(r) => r,
        Err(_) => return ExitCode::from(1),
    };
    println!(
        "fuzz {}: {} execs in {}s, corpus {} ({} new), {} outcome classes",
        t.name, report.execs, o.seconds, report.corpus, report.new_inputs, report.features
    );
    match report.failure {
        None => ExitCode::SUCCESS,
        Some((input, why)) => {
            let path = o.crashes.join(format!("{}-{:016x}", t.name, fnv(&input)));
            let _ = std::fs::write(&path, &input);
            eprintln!(
                "fuzz {}: FAILED ({why}); input saved to {}",
                t.name,
                path.display()
            );
            ExitCode::from(1)
        }
    }
}

mod crash;
#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests;
