//! Bounded sliding windows the detectors share: a sorted window for order statistics (median,
//! quantiles, MAD) and running moments (mean, standard deviation). Both keep at most `cap`
//! samples, so a series costs a fixed amount of memory whatever its length.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The last `cap` samples in arrival order plus the same samples sorted. Insert and evict find
/// their slot by binary search (O(log cap)); the shift inside the `Vec` is a memmove of at most
/// `cap` floats. Serialised as the arrival order only; the sorted copy is rebuilt on load.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(from = "WindowRepr", into = "WindowRepr")]
pub struct SortedWindow {
    cap: usize,
    ring: VecDeque<f64>,
    sorted: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct WindowRepr {
    cap: usize,
    values: Vec<f64>,
}

impl From<WindowRepr> for SortedWindow {
    fn from(r: WindowRepr) -> Self {
        let mut w = SortedWindow::new(r.cap);
        for v in r.values {
            w.push(v);
        }
        w
    }
}

impl From<SortedWindow> for WindowRepr {
    fn from(w: SortedWindow) -> Self {
        WindowRepr {
            cap: w.cap,
            values: w.ring.into_iter().collect(),
        }
    }
}

impl SortedWindow {
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        SortedWindow {
            cap,
            ring: VecDeque::with_capacity(cap),
            sorted: Vec::with_capacity(cap),
        }
    }

    pub fn is_full(&self) -> bool {
        self.ring.len() == self.cap
    }

    /// Adds a finite sample, evicting the oldest when full.
    pub fn push(&mut self, v: f64) {
        if self.ring.len() == self.cap {
            if let Some(old) = self.ring.pop_front() {
                let i = self.sorted.partition_point(|x| *x < old);
                self.sorted.remove(i);
            }
        }
        self.ring.push_back(v);
        let i = self.sorted.partition_point(|x| *x < v);
        self.sorted.insert(i, v);
    }

    /// The `p` quantile (0..=1) with linear interpolation; 0 when empty.
    pub fn quantile(&self, p: f64) -> f64 {
        let n = self.sorted.len();
        if n == 0 {
            return 0.0;
        }
        let pos = p.clamp(0.0, 1.0) * (n - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = (lo + 1).min(n - 1);
        let f = pos - lo as f64;
        self.sorted[lo] * (1.0 - f) + self.sorted[hi] * f
    }

    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    /// Median absolute deviation from `m` (upper median of the distances), in O(log cap): the
    /// distances below and above `m` are two sorted runs, and the k-th smallest of two sorted runs
    /// is found by bisecting how many come from the first.
    pub fn mad(&self, m: f64) -> f64 {
        let s = &self.sorted;
        let n = s.len();
        if n == 0 {
            return 0.0;
        }
        let split = s.partition_point(|x| *x < m);
        // a(i): i-th smallest distance below m; b(j): above (both ascending).
        let a = |i: usize| m - s[split - 1 - i];
        let b = |j: usize| s[split + j] - m;
        let (na, nb) = (split, n - split);
        let k = n / 2 + 1; // 1-based rank of the upper median
                           // Find i (taken from a) with a(i-1) <= b(k-i) and b(k-i-1) <= a(i).
        let (mut lo, mut hi) = (k.saturating_sub(nb), k.min(na));
        while lo < hi {
            let i = (lo + hi) / 2;
            // Too few from a when a(i) < b(k-i-1).
            if a(i) < b(k - i - 1) {
                lo = i + 1;
            } else {
                hi = i;
            }
        }
        let i = lo;
        let from_a = if i > 0 { a(i - 1) } else { f64::NEG_INFINITY };
        let from_b = if k - i > 0 {
            b(k - i - 1)
        } else {
            f64::NEG_INFINITY
        };
        from_a.max(from_b)
    }
}

/// Mean and population standard deviation of the last `cap` samples, O(1) per sample. Sums are
/// kept relative to an offset (re-centred on every full pass) so that large values with small
/// spread (bytes counters) do not lose their variance to cancellation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RollingMoments {
    cap: usize,
    ring: VecDeque<f64>,
    offset: f64,
    sum: f64,
    sumsq: f64,
    since_recentre: usize,
}

impl RollingMoments {
    pub fn new(cap: usize) -> Self {
        RollingMoments {
            cap: cap.max(1),
            ring: VecDeque::with_capacity(cap.max(1)),
            offset: 0.0,
            sum: 0.0,
            sumsq: 0.0,
            since_recentre: 0,
        }
    }

    pub fn is_full(&self) -> bool {
        self.ring.len() == self.cap
    }

    /// Adds a sample; returns the one evicted to make room, if any.
    pub fn push(&mut self, v: f64) -> Option<f64> {
        if self.ring.is_empty() {
            self.offset = v;
        }
        let mut evicted = None;
        if self.ring.len() == self.cap {
            if let Some(old) = self.ring.pop_front() {
                let d = old - self.offset;
                self.sum -= d;
                self.sumsq -= d * d;
                evicted = Some(old);
            }
        }
        self.ring.push_back(v);
        let d = v - self.offset;
        self.sum += d;
        self.sumsq += d * d;
        self.since_recentre += 1;
        if self.since_recentre >= self.cap {
            self.recentre();
        }
        evicted
    }

    fn recentre(&mut self) {
        self.offset = self.mean();
        self.sum = 0.0;
        self.sumsq = 0.0;
        for v in &self.ring {
            let d = v - self.offset;
            self.sum += d;
            self.sumsq += d * d;
        }
        self.since_recentre = 0;
    }

    pub fn mean(&self) -> f64 {
        if self.ring.is_empty() {
            return 0.0;
        }
        self.offset + self.sum / self.ring.len() as f64
    }

    pub fn std(&self) -> f64 {
        let n = self.ring.len() as f64;
        if n == 0.0 {
            return 0.0;
        }
        let m = self.sum / n;
        (self.sumsq / n - m * m).max(0.0).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_window_quantiles_follow_the_last_cap_samples() {
        let mut w = SortedWindow::new(5);
        for v in [5.0, 1.0, 4.0, 2.0, 3.0] {
            w.push(v);
        }
        assert_eq!(w.median(), 3.0);
        assert_eq!(w.quantile(0.0), 1.0);
        assert_eq!(w.quantile(1.0), 5.0);
        assert_eq!(w.quantile(0.25), 2.0);
        // Evicts 5 then 1: window is 4 2 3 10 11.
        w.push(10.0);
        w.push(11.0);
        assert!(w.is_full());
        assert_eq!(w.median(), 4.0);
        assert_eq!(w.quantile(0.125), 2.5);
    }

    #[test]
    fn mad_matches_a_direct_computation() {
        let mut seed = 7u64;
        let mut w = SortedWindow::new(31);
        let mut all = Vec::new();
        for i in 0..200 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let v = (seed % 1000) as f64 / 10.0 + if i % 17 == 0 { 500.0 } else { 0.0 };
            w.push(v);
            all.push(v);
            let win: Vec<f64> = all.iter().rev().take(31).copied().collect();
            let m = w.median();
            let mut dev: Vec<f64> = win.iter().map(|x| (x - m).abs()).collect();
            dev.sort_by(f64::total_cmp);
            let want = dev[dev.len() / 2];
            let got = w.mad(m);
            assert!(
                (got - want).abs() < 1e-9,
                "step {i}: got {got}, want {want}"
            );
        }
    }

    #[test]
    fn sorted_window_round_trips_through_serde() {
        let mut w = SortedWindow::new(3);
        for v in [3.0, 1.0, 2.0, 7.0] {
            w.push(v);
        }
        let back: SortedWindow = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(back.median(), 2.0);
        assert_eq!(back.quantile(1.0), 7.0);
        assert!(back.is_full());
    }

    #[test]
    fn moments_keep_precision_on_large_offsets() {
        let mut m = RollingMoments::new(4);
        for v in [1e12 + 1.0, 1e12 + 2.0, 1e12 + 3.0, 1e12 + 4.0, 1e12 + 5.0] {
            m.push(v);
        }
        assert!((m.mean() - (1e12 + 3.5)).abs() < 1e-3);
        assert!((m.std() - 1.25f64.sqrt()).abs() < 1e-6, "{}", m.std());
        for _ in 0..20 {
            m.push(1e12);
        }
        assert!(m.std().abs() < 1e-6);
    }
}
