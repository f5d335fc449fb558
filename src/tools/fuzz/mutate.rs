//! The mutator and its PRNG (splitmix64: small, seedable, reproducible).

/// A seeded generator; the same seed gives the same run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"\x00\xff\x7f\x80\n\r\t \"'\\{}[]:,-#&*$@0123456789.eE+";

/// Where lines start in `v`.
fn line_starts(v: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            v.iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i <= v.len())
        .collect()
}

/// One to four stacked mutations of `base` (`other` is for splicing).
pub fn mutate(rng: &mut Rng, base: &[u8], other: &[u8], dict: &[&str], max_len: usize) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(12) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                v.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let chunk = v[i..i + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, chunk);
            }
            4 | 5 if !dict.is_empty() => {
                let tok = dict[rng.below(dict.len())].as_bytes();
                let at = rng.below(len + 1);
                v.splice(at..at, tok.iter().copied());
            }
            6 if !other.is_empty() => {
                let a = rng.below(len + 1);
                let b = rng.below(other.len());
                v.truncate(a);
                v.extend_from_slice(&other[b..]);
            }
            7 if len > 0 => v.truncate(rng.below(len)),
            8 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            9..=11 if len > 0 => {
                // Line edits keep YAML and text formats mostly well-formed.
                let starts = line_starts(&v);
                let i = rng.below(starts.len());
                let s = starts[i];
                let e = starts.get(i + 1).copied().unwrap_or(len);
                match rng.below(3) {
                    0 => {
                        let line = v[s..e].to_vec();
                        v.splice(e..e, line);
                    }
                    1 => {
                        v.drain(s..e);
                    }
                    _ => {
                        v.splice(s..s, *b"  ");
                    }
                }
            }
            _ => {}
        }
    }
    v.truncate(max_len);
    v
}
