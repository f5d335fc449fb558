//! The statistics of `correlation:` as pure functions over `(timestamp ms, value)` samples:
//! Pearson and Spearman coefficients, timestamp alignment (nearest sample within a
//! tolerance) and the search for the best lag.

/// `pearson` or `spearman`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Pearson,
    Spearman,
}

impl Method {
    pub fn parse(s: &str) -> Result<Method, String> {
        match s {
            "pearson" => Ok(Method::Pearson),
            "spearman" => Ok(Method::Spearman),
            _ => Err(format!("unknown method {s:?} (want pearson or spearman)")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Pearson => "pearson",
            Method::Spearman => "spearman",
        }
    }

    /// The coefficient; `None` with fewer than two points or a constant side (where r is
    /// undefined, not 0).
    pub fn r(self, x: &[f64], y: &[f64]) -> Option<f64> {
        match self {
            Method::Pearson => pearson(x, y),
            Method::Spearman => pearson(&ranks(x), &ranks(y)),
        }
    }
}

/// Pearson's r, two-pass (mean first) for accuracy; clamped to [-1, 1] against rounding.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let mean = |v: &[f64]| v[..n].iter().sum::<f64>() / n as f64;
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (x[i] - mx, y[i] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    // A constant side, also one whose mean carries rounding noise (0.1 ten times): r is
    // undefined, not whatever the noise says.
    let flat = |v: &[f64], ss: f64, m: f64| {
        v[..n].iter().all(|a| *a == v[0]) || ss <= n as f64 * (1e-12 * m).powi(2)
    };
    if flat(x, sxx, mx) || flat(y, syy, my) {
        return None;
    }
    // sqrt(sxx * syy) keeps r exactly 1 for identical sides; the split form only on overflow.
    let den = match (sxx * syy).sqrt() {
        d if d.is_finite() => d,
        _ => sxx.sqrt() * syy.sqrt(),
    };
    let r = sxy / den;
    r.is_finite().then(|| r.clamp(-1.0, 1.0))
}

/// Ranks from 1, ties sharing the average of their ranks (the usual Spearman convention).
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = avg;
        }
        i = j + 1;
    }
    out
}

/// Pairs each `x` sample at `t` with the `y` sample nearest to `t + lag_ms`, if one lies
/// within `tol_ms` (the earlier one on a tie). Non-finite values pair with nothing.
pub fn align(x: &[(i64, f64)], y: &[(i64, f64)], lag_ms: i64, tol_ms: i64) -> (Vec<f64>, Vec<f64>) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &(t, vx) in x {
        if !vx.is_finite() {
            continue;
        }
        let want = t + lag_ms;
        let i = y.partition_point(|(ty, _)| *ty < want);
        let near = [i.checked_sub(1), Some(i)]
            .into_iter()
            .flatten()
            .filter_map(|j| y.get(j))
            .filter(|(ty, _)| (ty - want).abs() <= tol_ms)
            .min_by_key(|(ty, _)| (ty - want).abs());
        if let Some(&(_, vy)) = near {
            if vy.is_finite() {
                xs.push(vx);
                ys.push(vy);
            }
        }
    }
    (xs, ys)
}

/// The median spacing of consecutive samples: the series' sample interval.
pub fn median_step(s: &[(i64, f64)]) -> Option<i64> {
    let mut gaps: Vec<i64> = s
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|g| *g > 0)
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

/// The coefficient at the best lag.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Best {
    pub r: f64,
    /// How far `y` follows `x` (negative: `y` leads).
    pub lag_ms: i64,
    /// The number of aligned pairs it was computed from.
    pub points: usize,
}

/// What to search.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub method: Method,
    /// The sample interval: lags are multiples of it, alignment tolerates half of it.
    pub step_ms: i64,
    pub max_lag_ms: i64,
    /// Rank by |r| instead of r.
    pub abs: bool,
    /// Lags with fewer aligned pairs are skipped.
    pub min_points: usize,
}

/// The best coefficient over the lags `k * step` within ±`max_lag` (the highest r, or the
/// highest |r| with `abs`; on a tie the smaller lag). `None` when no lag has enough points
/// or a varying pair.
pub fn best_lag(x: &[(i64, f64)], y: &[(i64, f64)], s: Search) -> Option<Best> {
    let steps = if s.step_ms > 0 {
        s.max_lag_ms / s.step_ms
    } else {
        0
    };
    let score = |r: f64| if s.abs { r.abs() } else { r };
    let mut best: Option<Best> = None;
    for k in (0..=steps).flat_map(|k| if k == 0 { vec![0] } else { vec![-k, k] }) {
        let lag_ms = k * s.step_ms;
        let (xs, ys) = align(x, y, lag_ms, s.step_ms / 2);
        if xs.len() < s.min_points {
            continue;
        }
        let Some(r) = s.method.r(&xs, &ys) else {
            continue;
        };
        if best.is_none_or(|b| score(r) > score(b.r)) {
            best = Some(Best {
                r,
                lag_ms,
                points: xs.len(),
            });
        }
    }
    best
}
