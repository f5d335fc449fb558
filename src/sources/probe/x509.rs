//! Just enough DER to read a certificate's validity period: probes need the leaf's notAfter for
//! `probe_ssl_earliest_cert_expiry`, and a full X.509 crate for one date is not worth the weight.
//! Every length is checked against the bytes that remain; malformed input is an error, never a
//! panic.

/// The validity period of a certificate, in unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const EXPLICIT_0: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// One DER element: its tag and contents, plus whatever follows it.
fn next(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let (&tag, rest) = input.split_first().ok_or("truncated: expected a tag")?;
    if tag & 0x1f == 0x1f {
        return Err(format!("unsupported multi-byte tag 0x{tag:02x}"));
    }
    let (&first, rest) = rest.split_first().ok_or("truncated: expected a length")?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 {
            return Err("indefinite length is not DER".into());
        }
        if n > 4 || n > rest.len() {
            return Err(format!("bad length of {n} bytes"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if len > rest.len() {
        return Err(format!(
            "element of {len} bytes overruns the {} that remain",
            rest.len()
        ));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// The next element, which must have tag `want`.
fn expect<'a>(input: &'a [u8], want: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let (tag, body, rest) = next(input)?;
    if tag != want {
        return Err(format!(
            "expected {what} (tag 0x{want:02x}), found tag 0x{tag:02x}"
        ));
    }
    Ok((body, rest))
}

/// Reads TBSCertificate.validity from a DER certificate.
pub fn validity(der: &[u8]) -> Result<Validity, String> {
    let (cert, _) = expect(der, SEQUENCE, "Certificate")?;
    let (tbs, _) = expect(cert, SEQUENCE, "TBSCertificate")?;
    let mut rest = tbs;
    // version [0] EXPLICIT is absent in v1 certificates.
    if rest.first() == Some(&EXPLICIT_0) {
        rest = next(rest)?.2;
    }
    rest = expect(rest, INTEGER, "serialNumber")?.1;
    rest = expect(rest, SEQUENCE, "signature AlgorithmIdentifier")?.1;
    rest = expect(rest, SEQUENCE, "issuer Name")?.1;
    let (validity, _) = expect(rest, SEQUENCE, "Validity")?;
    let (tag, before, rest) = next(validity)?;
    let not_before = time(tag, before)?;
    let (tag, after, _) = next(rest)?;
    let not_after = time(tag, after)?;
    Ok(Validity {
        not_before,
        not_after,
    })
}

/// A `Time` (RFC 5280 4.1.2.5): UTCTime `YYMMDDHHMMSSZ` (years 1950-2049) or GeneralizedTime
/// `YYYYMMDDHHMMSSZ`, both in UTC with seconds and no fraction.
fn time(tag: u8, body: &[u8]) -> Result<i64, String> {
    if !body.is_ascii() {
        return Err("time is not ASCII".into());
    }
    let text = std::str::from_utf8(body).map_err(|_| "time is not ASCII".to_string())?;
    let (year, rest) = match tag {
        UTC_TIME if text.len() == 13 => {
            let yy = digits(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 15 => (digits(&text[..4])?, &text[4..]),
        UTC_TIME | GENERALIZED_TIME => return Err(format!("malformed time {text:?}")),
        _ => return Err(format!("expected a time, found tag 0x{tag:02x}")),
    };
    if !rest.ends_with('Z') {
        return Err(format!("time {text:?} is not in UTC"));
    }
    let month = digits(&rest[0..2])?;
    let day = digits(&rest[2..4])?;
    let hour = digits(&rest[4..6])?;
    let minute = digits(&rest[6..8])?;
    let second = digits(&rest[8..10])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(format!("time {text:?} out of range"));
    }
    Ok(days_since_epoch(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn digits(s: &str) -> Result<i64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected digits, found {s:?}"));
    }
    s.parse()
        .map_err(|_| format!("expected digits, found {s:?}"))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    // Count whole years, then whole months of the final year; certificate years are 1950..=9999
    // so a loop over years is cheap and obviously right.
    let mut days = 0;
    if year >= 1970 {
        for y in 1970..year {
            days += if is_leap(y) { 366 } else { 365 };
        }
    } else {
        for y in year..1970 {
            days -= if is_leap(y) { 366 } else { 365 };
        }
    }
    for m in 1..month {
        days += days_in_month(year, m);
    }
    days + day - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Self-signed P-256 certificates made with `openssl ca` (see tests/fixtures/tls/README.md);
    /// the expected values come from `date -u -d ... +%s`.
    const CERT_2049: &[u8] = include_bytes!("../../../tests/fixtures/tls/cert.der");
    const CERT_2100: &[u8] = include_bytes!("../../../tests/fixtures/tls/cert-2100.der");

    #[test]
    fn reads_utc_time_validity_from_a_real_certificate() {
        let v = validity(CERT_2049).unwrap();
        assert_eq!(v.not_before, 1_735_689_600); // 2025-01-01T00:00:00Z
        assert_eq!(v.not_after, 2_524_607_999); // 2049-12-31T23:59:59Z
    }

    #[test]
    fn reads_generalized_time_validity_from_a_real_certificate() {
        let v = validity(CERT_2100).unwrap();
        assert_eq!(v.not_before, 1_735_689_600);
        assert_eq!(v.not_after, 4_107_585_600); // 2100-03-01T12:00:00Z (2100 is not leap)
    }

    #[test]
    fn times() {
        assert_eq!(time(UTC_TIME, b"700101000000Z"), Ok(0));
        assert_eq!(time(UTC_TIME, b"500101000000Z"), Ok(-631_152_000)); // 1950
        assert_eq!(time(UTC_TIME, b"380119031408Z"), Ok(2_147_483_648));
        assert_eq!(time(GENERALIZED_TIME, b"20000229120000Z"), Ok(951_825_600));
        assert_eq!(
            time(GENERALIZED_TIME, b"99991231235959Z"),
            Ok(253_402_300_799)
        );
        assert!(time(GENERALIZED_TIME, b"21000229000000Z").is_err()); // not a leap year
        assert!(time(UTC_TIME, b"491231235959").is_err()); // no Z
        assert!(time(UTC_TIME, b"4912312359+0100").is_err());
        assert!(time(UTC_TIME, b"491331235959Z").is_err()); // month 13
        assert!(time(GENERALIZED_TIME, b"20491231235959.5Z").is_err());
        assert!(time(GENERALIZED_TIME, b"2049-2-31235959Z").is_err());
        assert!(time(INTEGER, b"491231235959Z").is_err());
        assert!(time(UTC_TIME, "4912312359\u{e9}Z".as_bytes()).is_err()); // 13 bytes, not ASCII
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(validity(&[]).is_err());
        assert!(validity(&[0x30]).is_err());
        assert!(validity(&[0x30, 0x80, 0, 0]).is_err()); // indefinite length
        assert!(validity(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_err()); // 5 length bytes
        assert!(validity(&[0x30, 0x82, 0xff, 0xff, 0x30]).is_err()); // overrun
        assert!(validity(&[0x04, 0x00]).is_err()); // not a SEQUENCE
                                                   // Every truncation of a real certificate fails cleanly.
        for n in 0..CERT_2049.len() {
            assert!(validity(&CERT_2049[..n]).is_err(), "prefix of {n} bytes");
        }
    }

    #[test]
    fn v1_certificates_without_a_version_field() {
        // SEQUENCE { SEQUENCE { INTEGER 1, SEQUENCE {}, SEQUENCE {}, SEQUENCE { UTCTime, UTCTime } } }
        let mut validity_seq = vec![0x30, 30];
        validity_seq.extend([0x17, 13]);
        validity_seq.extend(b"700101000000Z");
        validity_seq.extend([0x17, 13]);
        validity_seq.extend(b"700102000000Z");
        let mut tbs = vec![0x02, 1, 1, 0x30, 0, 0x30, 0];
        tbs.extend(&validity_seq);
        let mut cert = vec![0x30, tbs.len() as u8 + 2, 0x30, tbs.len() as u8];
        cert.extend(&tbs);
        let v = validity(&cert).unwrap();
        assert_eq!((v.not_before, v.not_after), (0, 86_400));
    }
}
