//! Go's `math` functions where they are not correctly rounded and Prometheus' results
//! therefore differ from Rust's in the last bit: `Pow`, `Atan2`, and on amd64 `Exp` and `Log`.
//! The answers are checked against promtool 2.42 in the tests.

/// Go's `math.Pow`, which Prometheus uses for `^`. It is not correctly rounded: the fractional
/// part of the exponent goes through `exp(yf * ln x)` and the integer part through repeated
/// squaring, so `2 ^ 2.5` is 5.65685424949238, not `powf`'s 5.656854249492381.
pub(super) fn pow(x: f64, y: f64) -> f64 {
    let odd_int = |v: f64| v.abs() < (1u64 << 53) as f64 && v.fract() == 0.0 && (v as i64) & 1 == 1;
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if y == 1.0 {
        return x;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 {
        let neg_odd = x.is_sign_negative() && odd_int(y);
        return match (y < 0.0, neg_odd) {
            (true, true) => f64::NEG_INFINITY,
            (true, false) => f64::INFINITY,
            (false, true) => x,
            (false, false) => 0.0,
        };
    }
    if y.is_infinite() {
        return if x == -1.0 {
            1.0
        } else if (x.abs() < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if x.is_infinite() {
        if x < 0.0 {
            return pow(1.0 / x, -y);
        }
        return if y < 0.0 { 0.0 } else { f64::INFINITY };
    }
    if y == 0.5 {
        return x.sqrt();
    }
    if y == -0.5 {
        return 1.0 / x.sqrt();
    }
    let ay = y.abs();
    let (mut yi, mut yf) = (ay.trunc(), ay.fract());
    if yf != 0.0 && x < 0.0 {
        return f64::NAN;
    }
    if yi >= 9.223_372_036_854_776e18 {
        return if x == -1.0 {
            1.0
        } else if (x.abs() < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let mut a1 = 1.0;
    let mut ae: i64 = 0;
    if yf != 0.0 {
        if yf > 0.5 {
            yf -= 1.0;
            yi += 1.0;
        }
        a1 = exp(yf * ln(x));
    }
    let (mut x1, mut xe) = frexp(x);
    let mut i = yi as i64;
    while i != 0 {
        if !(-(1 << 12)..=(1 << 12)).contains(&xe) {
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if y < 0.0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

/// Go's `math.Frexp`: `x = frac * 2^exp` with `0.5 <= |frac| < 1`.
fn frexp(x: f64) -> (f64, i64) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (x, bias) = if x.abs() < f64::MIN_POSITIVE {
        (x * (1u64 << 52) as f64, -52)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64 - 1022 + bias;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// `frac * 2^exp` with a single rounding, as Go's `math.Ldexp`.
fn ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || !frac.is_finite() {
        return frac;
    }
    let (f, fe) = frexp(frac);
    let total = fe + exp; // the result is f * 2^total with 0.5 <= |f| < 1
    if total > 1024 {
        return f64::INFINITY.copysign(f);
    }
    if total >= -1021 {
        return (f * 2.0) * pow2(total - 1); // normal: exact
    }
    if total < -1080 {
        return 0.0f64.copysign(f);
    }
    // Subnormal: an exact scaling, then the one rounding.
    (f * pow2(-1000)) * pow2(total + 1000)
}

/// 2^e for -1022 <= e <= 1023, built from its bits.
fn pow2(e: i64) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// Go's `math.Exp` on amd64: its assembly version, FMA path (promtool takes it on any x86-64
/// with AVX2 and FMA). Reduce by ln 2 (rounding to nearest), a degree-8 Taylor series for
/// `expm1` at r/16, four doublings via `y(2 + y)` with the last fused with `+ 1`, then the
/// power of two. Checked against promtool on a few hundred arguments, subnormal results included.
pub(super) fn exp(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2U: f64 = 0.693_147_180_559_662_956_511_601_805_686_950_683_593_75;
    const LN2L: f64 = 0.282_352_905_630_315_771_225_884_481_750_134_360_255_254_120_68e-12;
    const OVERFLOW: f64 = 7.097_827_128_933_84e2;
    const TAYLOR: [f64; 7] = [
        1.984_126_984_126_984e-4,
        1.388_888_888_888_889e-3,
        8.333_333_333_333_333e-3,
        4.166_666_666_666_666_4e-2,
        1.666_666_666_666_666_6e-1,
        0.5,
        1.0,
    ];
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == f64::NEG_INFINITY {
        return 0.0;
    }
    if x > OVERFLOW {
        return f64::INFINITY;
    }
    // CVTSD2SL rounds to nearest even; out of range it gives i32::MIN ("integer indefinite").
    let t = (LOG2E * x).round_ties_even();
    let k = if t < i32::MIN as f64 {
        i32::MIN
    } else {
        t as i32
    } as i64;
    let kf = k as f64;
    let r = (-kf).mul_add(LN2L, (-kf).mul_add(LN2U, x)) * 0.0625;
    let mut p: f64 = 2.480_158_730_158_73e-5;
    for c in TAYLOR {
        p = p.mul_add(r, c);
    }
    let mut y = r * p;
    for _ in 0..3 {
        y *= y + 2.0;
    }
    let y = (y + 2.0).mul_add(y, 1.0);
    let e = k + 1023;
    if e <= 0 {
        if e < -52 {
            return 0.0;
        }
        return y * pow2(e + 0x3fe - 1023) * pow2(-1022);
    }
    if e >= 0x7ff {
        return f64::INFINITY;
    }
    y * pow2(k)
}

/// Go's `math.Log` on amd64 (assembly): fdlibm's method, with the exponent taken straight from
/// the bits (so subnormal arguments come out as Go computes them, not as glibc does).
pub(super) fn ln(x: f64) -> f64 {
    const HSQRT2: f64 = std::f64::consts::FRAC_1_SQRT_2;
    const LN2HI: f64 = 6.931_471_803_691_238e-1;
    const LN2LO: f64 = 1.908_214_929_270_587_7e-10;
    const L: [f64; 7] = [
        6.666_666_666_666_735e-1,
        3.999_999_999_940_942e-1,
        2.857_142_874_366_239e-1,
        2.222_219_843_214_978_4e-1,
        1.818_357_216_161_805e-1,
        1.531_383_769_920_937_3e-1,
        1.479_819_860_511_658_6e-1,
    ];
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_sign_negative() {
        return f64::NAN;
    }
    if !x.is_finite() {
        return x;
    }
    let bits = x.to_bits();
    let f1 = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3fe0_0000_0000_0000);
    let mut k = (((bits >> 52) & 0x7ff) as i64 - 0x3fe) as f64;
    // CMPSD NLT: the branch is taken for f1 <= sqrt(2)/2, equality included.
    let scale = if f1 <= HSQRT2 {
        k -= 1.0;
        2.0
    } else {
        1.0
    };
    let f = f1 * scale - 1.0;
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (((L[6] * s4 + L[4]) * s4 + L[2]) * s4 + L[0]);
    let t2 = s4 * ((L[5] * s4 + L[3]) * s4 + L[1]);
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * LN2HI - ((hfsq - (s * (hfsq + r) + k * LN2LO)) - f)
}

/// Go's `math.Atan2` (pure Go on amd64): the quadrant logic around Cephes' `atan`, whose
/// rational approximation differs from glibc's `atan2` in the last bit for about a quarter of
/// arguments.
pub(super) fn atan2(y: f64, x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};
    if y.is_nan() || x.is_nan() {
        return f64::NAN;
    }
    if y == 0.0 {
        return if x >= 0.0 && !x.is_sign_negative() {
            0.0f64.copysign(y)
        } else {
            PI.copysign(y)
        };
    }
    if x == 0.0 {
        return FRAC_PI_2.copysign(y);
    }
    if x.is_infinite() {
        let v = match (x > 0.0, y.is_infinite()) {
            (true, true) => FRAC_PI_4,
            (true, false) => 0.0,
            (false, true) => 3.0 * FRAC_PI_4, // also Go's rounded constant 3*Pi/4
            (false, false) => PI,
        };
        return v.copysign(y);
    }
    if y.is_infinite() {
        return FRAC_PI_2.copysign(y);
    }
    let q = atan(y / x);
    if x < 0.0 {
        return if q <= 0.0 { q + PI } else { q - PI };
    }
    q
}

fn atan(x: f64) -> f64 {
    if x == 0.0 {
        x
    } else if x > 0.0 {
        satan(x)
    } else {
        -satan(-x)
    }
}

/// Reduces a positive argument to [0, 0.66] (Cephes).
fn satan(x: f64) -> f64 {
    const MOREBITS: f64 = 6.123_233_995_736_766e-17; // pi/2 = FRAC_PI_2 + MOREBITS
    const TAN3PIO8: f64 = 2.414_213_562_373_095; // tan(3 pi / 8)
    if x <= 0.66 {
        xatan(x)
    } else if x > TAN3PIO8 {
        std::f64::consts::FRAC_PI_2 - xatan(1.0 / x) + MOREBITS
    } else {
        std::f64::consts::FRAC_PI_4 + xatan((x - 1.0) / (x + 1.0)) + 0.5 * MOREBITS
    }
}

/// Cephes' rational approximation `x + x^3 P(x^2)/Q(x^2)` on [0, 0.66].
fn xatan(x: f64) -> f64 {
    const P: [f64; 5] = [
        -8.750_608_600_031_904e-1,
        -1.615_753_718_733_365_2e1,
        -7.500_855_792_314_705e1,
        -1.228_866_684_490_136_1e2,
        -6.485_021_904_942_025e1,
    ];
    const Q: [f64; 5] = [
        2.485_846_490_142_306_3e1,
        1.650_270_098_316_988_6e2,
        4.328_810_604_912_902_7e2,
        4.853_903_996_359_137e2,
        1.945_506_571_482_614e2,
    ];
    let z = x * x;
    let num = (((P[0] * z + P[1]) * z + P[2]) * z + P[3]) * z + P[4];
    let den = ((((z + Q[0]) * z + Q[1]) * z + Q[2]) * z + Q[3]) * z + Q[4];
    let z = z * num / den;
    x * z + x
}

/// The shortest decimal digits that read back as |v| (finite, non-zero), and the decimal
/// exponent of the first digit, as Go's `strconv` (and Python's `repr`) choose them: when two
/// shortest candidates are exactly equally close, the even one. Rust's formatter takes the
/// upper one, so `-794854348598031.25` would print as `...031.3` where Go prints `...031.2`.
pub(crate) fn shortest_digits(v: f64) -> (Vec<u8>, i32) {
    let split = |s: &str| -> (Vec<u8>, i32) {
        let (m, e) = s.split_once('e').unwrap_or((s, "0"));
        let mut d: Vec<u8> = m.bytes().filter(u8::is_ascii_digit).collect();
        while d.len() > 1 && d.last() == Some(&b'0') {
            d.pop();
        }
        (d, e.parse().unwrap_or(0))
    };
    let v = v.abs();
    let (mut d, e) = split(&format!("{v:e}"));
    let last = d.len() - 1;
    if (d[last] - b'0') % 2 == 1 && (last > 0 || d[0] > b'1') {
        let mut lower = d.clone();
        lower[last] -= 1;
        // A tie: v is exactly the midpoint `lower`5 (800 digits cover any double exactly).
        let (exact, ee) = split(&format!("{v:.800e}"));
        let mut mid = lower.clone();
        mid.push(b'5');
        let lower_text = format!(
            "{}.{}e{e}",
            lower[0] as char,
            std::str::from_utf8(&lower[1..]).unwrap_or("")
        );
        if ee == e && exact == mid && lower_text.parse::<f64>() == Ok(v) {
            d = lower;
            while d.len() > 1 && d.last() == Some(&b'0') {
                d.pop();
            }
        }
    }
    (d, e)
}
