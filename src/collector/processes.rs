//! `processes` (off by default): process and thread counts by state from /proc/<pid>/stat and
//! /proc/<pid>/task/<tid>/stat, and the pid/thread limits, as node_exporter 1.5. Processes that
//! vanish (or whose stat does not parse) while being read are skipped.

use std::collections::BTreeMap;
use std::path::Path;

use super::{dir_names, read, read_trim, Paths};
use crate::model::Family;

super::paths_collector!("processes", false);

/// The state and thread count of a `stat` line (the command may hold spaces and parentheses:
/// the fields start after the last `)`).
pub fn parse_stat(text: &str) -> Option<(String, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.first()?.to_string(), f.get(17)?.parse().ok()?))
}

fn numeric_dirs(dir: &Path) -> Vec<String> {
    dir_names(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

#[derive(Debug, Default, PartialEq)]
pub struct Counts {
    pub pids: u64,
    pub threads: u64,
    pub states: BTreeMap<String, u64>,
    pub thread_states: BTreeMap<String, u64>,
}

pub fn families(c: &Counts, max_threads: u64, pid_max: u64) -> Vec<Family> {
    let g = |n: &str, h: &str| Family::gauge(format!("node_processes_{n}"), h);
    let mut state = g("state", "Number of processes in each state.");
    for (s, n) in &c.states {
        state.add(&[("state", s)], *n as f64);
    }
    let mut tstate = g("threads_state", "Number of threads in each state.");
    for (s, n) in &c.thread_states {
        tstate.add(&[("thread_state", s)], *n as f64);
    }
    vec![
        g("threads", "Allocated threads in system").with(&[], c.threads as f64),
        g("max_threads", "Limit of threads in the system").with(&[], max_threads as f64),
        state,
        tstate,
        g("pids", "Number of PIDs").with(&[], c.pids as f64),
        g("max_processes", "Number of max PIDs limit").with(&[], pid_max as f64),
    ]
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let mut c = Counts::default();
    for pid in numeric_dirs(&paths.procfs) {
        let dir = paths.proc(&pid);
        let Some((state, threads)) = read(&dir.join("stat")).ok().and_then(|t| parse_stat(&t))
        else {
            continue;
        };
        c.pids += 1;
        c.threads += threads;
        *c.states.entry(state).or_default() += 1;
        for tid in numeric_dirs(&dir.join("task")) {
            if let Some((s, _)) = read(&dir.join("task").join(tid).join("stat"))
                .ok()
                .and_then(|t| parse_stat(&t))
            {
                *c.thread_states.entry(s).or_default() += 1;
            }
        }
    }
    let limit = |f: &str| -> Result<u64, String> {
        let p = paths.proc(f);
        read_trim(&p)?
            .parse()
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    out.extend(families(
        &c,
        limit("sys/kernel/threads-max")?,
        limit("sys/kernel/pid_max")?,
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_parentheses_in_the_command() {
        let t = "42 (my app (x)) S 1 42 42 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 7 0 10\n";
        assert_eq!(parse_stat(t), Some(("S".into(), 7)));
        assert_eq!(parse_stat("42 (x) S 1 2"), None);
    }
}
