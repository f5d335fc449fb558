//! A short deterministic pass over every target (the CI pass runs longer through
//! `scripts/fuzz.sh`), the mutator's reproducibility, and regressions found by fuzzing.

use std::path::PathBuf;

use super::targets::{self, TARGETS};
use super::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_target_survives_a_short_deterministic_pass() {
    for t in TARGETS {
        let mut seeds = load_seeds(&root(), t.seeds);
        assert!(!seeds.is_empty(), "{}: no seeds", t.name);
        seeds.extend(load_seeds(&root().join("fuzz/corpus").join(t.name), &["."]));
        let n = seeds.len() as u64 + 300;
        let r = fuzz(t, seeds, 7, |execs| execs >= n, |_| {});
        if let Some((input, why)) = &r.failure {
            panic!("{}: {why} on {:?}", t.name, String::from_utf8_lossy(input));
        }
        assert!(r.features > 1, "{}: one outcome only: {r:?}", t.name);
    }
}

#[test]
fn the_same_seed_gives_the_same_mutations() {
    let run = |seed| {
        let mut rng = Rng::new(seed);
        (0..50)
            .map(|_| {
                mutate::mutate(
                    &mut rng,
                    b"a: 1\nb: [x, y]\n",
                    b"c: {d: e}\n",
                    &["&a "],
                    1024,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
    assert!(run(3).iter().all(|m| m.len() <= 1024));
}

#[test]
fn error_classes_fold_numbers_and_quoted_text() {
    assert_eq!(
        targets::class("err", "line 12: unknown field \"abc\" at 345 in Foo_bar"),
        "err:line 0: unknown field \"…\" at 0 in *"
    );
}

#[test]
fn panics_and_slow_inputs_are_failures() {
    fn boom(i: &[u8]) -> Vec<String> {
        assert!(i != b"boom", "boom");
        vec![String::from_utf8_lossy(i).into_owned()]
    }
    let t = targets::Target {
        name: "t",
        run: boom,
        seeds: &[],
        dict: &["boom"],
    };
    let r = fuzz(
        &t,
        vec![b"boo".to_vec(), b"boom".to_vec()],
        1,
        |_| false,
        |_| {},
    );
    let (input, why) = r.failure.expect("the panic is a failure");
    assert_eq!(input, b"boom");
    assert!(why.contains("boom"), "{why}");
}
