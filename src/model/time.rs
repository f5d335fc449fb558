//! Time: the wall clock in milliseconds (read in one place), RFC 3339 timestamps without a
//! date-time dependency (civil-from-days, proleptic Gregorian), the staleness marker, and the
//! one validation of sample timestamps every source applies ([`check_ms`], [`from_number`],
//! [`from_rfc3339`]).

use std::time::{SystemTime, UNIX_EPOCH};

/// Year, month, day of a count of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2024-01-15T10:30:00.123Z` for a millisecond timestamp.
pub fn format_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

pub fn rfc3339_millis(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    format_millis(ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of `civil_from_days`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch of an RFC 3339 date-time (`2024-01-15T10:30:00Z`,
/// `2024-01-15T12:30:00.5+02:00`); fractions past milliseconds are truncated.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || !b.is_ascii() {
        return None;
    }
    let digits = |t: &str| -> Option<i64> {
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let num = |r: std::ops::Range<usize>| digits(&s[r]);
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)? as u32, num(8..10)? as u32);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let month_days = [
        31,
        28 + u32::from(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d == 0
        || d > month_days[mo as usize - 1]
        || h > 23
        || mi > 59
        || sec > 59
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let digits = format!("{:0<3}", &frac[..n.min(3)]);
        ms = digits.parse().ok()?;
        rest = &frac[n..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (oh, om) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 60 + om)
        }
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + ms)
}

/// How far past the wall clock a sample's timestamp may be: clocks of senders drift, a bit.
/// Beyond it a sample is refused (`too_far_in_future`), as Prometheus' head and Mimir's
/// `creation_grace_period` (10m) refuse it, so one bad clock cannot freeze a series.
pub const FUTURE_TOLERANCE_MS: i64 = 10 * 60 * 1000;

/// A number below this is unix seconds (up to year 5138)...
pub const SECONDS_BELOW: f64 = 1e11;
/// ...at or above this, unix milliseconds (from 2001-09-09). Between the two the unit cannot be
/// told (year-9999 seconds and 1973–2001 milliseconds look alike): refused as ambiguous.
pub const MILLIS_FROM: f64 = 1e12;

/// Why a timestamp is refused; `Display` is the message the sender gets.
#[derive(Clone, Debug, PartialEq)]
pub enum TimeError {
    NotANumber,
    BeforeEpoch,
    OutOfRange,
    Ambiguous,
    /// More than [`FUTURE_TOLERANCE_MS`] after the wall clock.
    Future,
    NotRfc3339,
    LeapSecond,
}

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeError::NotANumber => "is not a finite number",
            TimeError::BeforeEpoch => "is before 1970-01-01T00:00:00Z",
            TimeError::OutOfRange => "is out of range (accepted: 1970-01-01T00:00:00Z to now+10m)",
            TimeError::Ambiguous => {
                "is ambiguous: 1e11..1e12 is neither plausible unix seconds nor milliseconds"
            }
            TimeError::Future => "is too far in the future (more than 10m after now)",
            TimeError::NotRfc3339 => "is not RFC 3339 (2024-01-15T10:30:00Z)",
            TimeError::LeapSecond => "is a leap second (:60), which unix time cannot hold",
        })
    }
}

/// The accepted range of every sample timestamp: from the epoch to `now_ms` plus the tolerance.
pub fn check_ms(ms: i64, now_ms: i64) -> Result<i64, TimeError> {
    if ms < 0 {
        return Err(TimeError::BeforeEpoch);
    }
    if ms > now_ms.saturating_add(FUTURE_TOLERANCE_MS) {
        return Err(TimeError::Future);
    }
    Ok(ms)
}

/// The unit of a numeric timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    /// Seconds below [`SECONDS_BELOW`], milliseconds from [`MILLIS_FROM`], refused between.
    SecondsOrMillis,
}

/// A numeric timestamp (fractions allowed) as milliseconds, checked by [`check_ms`].
pub fn from_number(v: f64, unit: Unit, now_ms: i64) -> Result<i64, TimeError> {
    if !v.is_finite() {
        return Err(TimeError::NotANumber);
    }
    if v < 0.0 {
        return Err(TimeError::BeforeEpoch);
    }
    let ms = match unit {
        _ if v < SECONDS_BELOW => v * 1000.0,
        Unit::Seconds => return Err(TimeError::OutOfRange),
        Unit::SecondsOrMillis if v < MILLIS_FROM => return Err(TimeError::Ambiguous),
        Unit::SecondsOrMillis => v,
    };
    // Far past any accepted time (year 2286 in ms is 1e13): no clamping to i64::MAX.
    if ms >= 1e15 {
        return Err(TimeError::OutOfRange);
    }
    check_ms(ms.round() as i64, now_ms)
}

/// An RFC 3339 timestamp as milliseconds, checked by [`check_ms`].
pub fn from_rfc3339(s: &str, now_ms: i64) -> Result<i64, TimeError> {
    match parse_rfc3339(s) {
        Some(ms) => check_ms(ms, now_ms),
        None if s.len() >= 19 && s.get(17..19) == Some("60") => Err(TimeError::LeapSecond),
        None => Err(TimeError::NotRfc3339),
    }
}

/// Milliseconds since the epoch: the only read of the wall clock outside the alert-free parts
/// (alert state takes its time as an argument).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Prometheus' staleness marker: a NaN with a distinct bit pattern, written when a series that a
/// source reported disappears from its next poll.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(1_705_314_600_123), "2024-01-15T10:30:00.123Z");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn rfc3339_parses_offsets_and_fractions() {
        assert_eq!(
            parse_rfc3339("2024-01-15T10:30:00Z"),
            Some(1_705_314_600_000)
        );
        assert_eq!(
            parse_rfc3339("2024-01-15T10:30:00.123456Z"),
            Some(1_705_314_600_123)
        );
        assert_eq!(
            parse_rfc3339("2024-01-15T12:30:00.5+02:00"),
            Some(1_705_314_600_500)
        );
        assert_eq!(
            parse_rfc3339("2024-01-15T05:30:00-05:00"),
            Some(1_705_314_600_000)
        );
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1000));
        for bad in [
            "2016-12-31T23:59:60Z",
            "2023-02-29T00:00:00Z",
            "2024-01-15 10:30:00",
            "2024-01-15T10:30:00",
            "2024-13-01T00:00:00Z",
            "2024-01-15T10:30:00.Z",
            "2024-01-15T10:30:00+0200",
            "x024-01-15T10:30:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        for days in [-800_000, -1, 0, 19_737, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn one_accepted_range_for_every_timestamp() {
        let now = 1_765_000_000_000; // 2025-12-06
        let n = |v: f64| from_number(v, Unit::SecondsOrMillis, now);
        assert_eq!(n(1_718_000_000.0), Ok(1_718_000_000_000));
        assert_eq!(n(1_718_000_000.25), Ok(1_718_000_000_250));
        assert_eq!(n(1_718_000_000_123.0), Ok(1_718_000_000_123));
        assert_eq!(n(0.0), Ok(0));
        assert_eq!(n(-1.0), Err(TimeError::BeforeEpoch));
        assert_eq!(n(f64::NAN), Err(TimeError::NotANumber));
        assert_eq!(n(1e308), Err(TimeError::OutOfRange));
        assert_eq!(n(18_446_744_073_709_551_615.0), Err(TimeError::OutOfRange));
        assert_eq!(n(1.23e29), Err(TimeError::OutOfRange));
        // Year 9999 in seconds is not read as 1978 in milliseconds.
        assert_eq!(n(253_402_300_799.0), Err(TimeError::Ambiguous));
        // Year 2100 in seconds or in milliseconds is in the future.
        assert_eq!(n(4_102_444_800.0), Err(TimeError::Future));
        assert_eq!(n(4_102_444_800_000.0), Err(TimeError::Future));
        let tol = FUTURE_TOLERANCE_MS as f64;
        assert_eq!(n(now as f64 + tol), Ok(now + FUTURE_TOLERANCE_MS));
        assert_eq!(n(now as f64 + tol + 1.0), Err(TimeError::Future));
        let s = |v: f64| from_number(v, Unit::Seconds, now);
        assert_eq!(s(1_718_000_000.5), Ok(1_718_000_000_500));
        assert_eq!(s(1_718_000_000_000.0), Err(TimeError::OutOfRange));
        let r = |t: &str| from_rfc3339(t, now);
        assert_eq!(r("2024-01-15T10:30:00Z"), Ok(1_705_314_600_000));
        assert_eq!(r("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(r("0000-01-01T00:00:00Z"), Err(TimeError::BeforeEpoch));
        assert_eq!(r("1969-12-31T23:59:59Z"), Err(TimeError::BeforeEpoch));
        assert_eq!(r("2016-12-31T23:59:60Z"), Err(TimeError::LeapSecond));
        assert_eq!(r("9999-12-31T23:59:59Z"), Err(TimeError::Future));
        assert_eq!(r("yesterday"), Err(TimeError::NotRfc3339));
        assert!(TimeError::Future.to_string().contains("future"));
    }
}
