//! Prometheus remote-write 1.0 on the wire: a protobuf `WriteRequest` encoded by hand (three
//! small messages need no code generator) and compressed with snappy's block format.
//!
//! ```text
//! WriteRequest { repeated TimeSeries timeseries = 1; }
//! TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! Label        { string name = 1; string value = 2; }
//! Sample       { double value = 1; int64 timestamp = 2; }   // timestamp in ms
//! ```
//! Labels are sorted by name with `__name__` among them, as the spec requires.

/// One series of a request: its complete label set (`__name__` included, sorted) and samples.
/// Labels are borrowed when sending (`&str`) and owned when decoding in tests.
#[derive(Clone, Debug, PartialEq)]
pub struct Series<S = String> {
    pub labels: Vec<(S, S)>,
    pub samples: Vec<(i64, f64)>,
}

const LEN: u8 = 2;
const I64: u8 = 1;
const VARINT: u8 = 0;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, field: u8, wire: u8) {
    out.push((field << 3) | wire);
}

fn bytes_field(out: &mut Vec<u8>, field: u8, b: &[u8]) {
    tag(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The protobuf encoding of a `WriteRequest` holding `series`.
pub fn encode<S: AsRef<str>>(series: &[Series<S>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(series.len() * 96);
    let mut ts_buf = Vec::with_capacity(256);
    for s in series {
        ts_buf.clear();
        for (k, v) in &s.labels {
            let (k, v) = (k.as_ref(), v.as_ref());
            let inner =
                2 + varint_len(k.len() as u64) + k.len() + varint_len(v.len() as u64) + v.len();
            tag(&mut ts_buf, 1, LEN);
            varint(&mut ts_buf, inner as u64);
            bytes_field(&mut ts_buf, 1, k.as_bytes());
            bytes_field(&mut ts_buf, 2, v.as_bytes());
        }
        for (t, v) in &s.samples {
            tag(&mut ts_buf, 2, LEN);
            varint(&mut ts_buf, (1 + 8 + 1 + varint_len(*t as u64)) as u64);
            tag(&mut ts_buf, 1, I64);
            ts_buf.extend_from_slice(&v.to_bits().to_le_bytes());
            tag(&mut ts_buf, 2, VARINT);
            // int64 is two's complement on the wire: a negative time takes ten bytes.
            varint(&mut ts_buf, *t as u64);
        }
        bytes_field(&mut out, 1, &ts_buf);
    }
    out
}

/// `encode` compressed with snappy's block format, ready for the request body.
pub fn encode_compressed<S: AsRef<str>>(series: &[Series<S>]) -> Result<Vec<u8>, String> {
    snap::raw::Encoder::new()
        .compress_vec(&encode(series))
        .map_err(|e| format!("snappy: {e}"))
}

#[cfg(test)]
pub mod decode {
    //! A decoder for the tests: reads what `encode` writes, as a receiver would.
    use super::Series;

    fn varint(b: &[u8], i: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*i];
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }

    /// (field, wire type, payload) of each field of a message.
    fn fields(b: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
        let mut i = 0;
        let mut out = Vec::new();
        while i < b.len() {
            let key = varint(b, &mut i);
            let (field, wire) = (key >> 3, key & 7);
            let payload = match wire {
                0 => varint(b, &mut i).to_le_bytes().to_vec(),
                1 => {
                    i += 8;
                    b[i - 8..i].to_vec()
                }
                2 => {
                    let n = varint(b, &mut i) as usize;
                    i += n;
                    b[i - n..i].to_vec()
                }
                w => panic!("unexpected wire type {w}"),
            };
            out.push((field, wire, payload));
        }
        out
    }

    fn string(b: &[u8]) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    pub fn write_request(b: &[u8]) -> Vec<Series> {
        fields(b)
            .into_iter()
            .map(|(f, _, ts)| {
                assert_eq!(f, 1, "WriteRequest field");
                let mut s = Series {
                    labels: vec![],
                    samples: vec![],
                };
                for (f, _, p) in fields(&ts) {
                    match f {
                        1 => {
                            let l = fields(&p);
                            s.labels.push((string(&l[0].2), string(&l[1].2)));
                        }
                        2 => {
                            let mut v = 0.0;
                            let mut t = 0i64;
                            for (f, _, x) in fields(&p) {
                                match f {
                                    1 => v = f64::from_le_bytes(x.try_into().unwrap()),
                                    _ => t = u64::from_le_bytes(x.try_into().unwrap()) as i64,
                                }
                            }
                            s.samples.push((t, v));
                        }
                        other => panic!("unexpected TimeSeries field {other}"),
                    }
                }
                s
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        let mut out = Labels::new();
        for (k, v) in pairs {
            out.push((k.to_string(), v.to_string()));
        }
        out
    }

    #[test]
    fn known_bytes_of_one_small_request() {
        let s = Series {
            labels: l(&[("__name__", "up")]),
            samples: vec![(1, 1.0)],
        };
        let want: Vec<u8> = vec![
            0x0a, 0x1d, // timeseries, 29 bytes
            0x0a, 0x0e, 0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x12, 0x02,
            b'u', b'p', 0x12, 0x0b, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0x01,
        ];
        assert_eq!(encode(&[s]), want);
    }

    #[test]
    fn round_trip_through_snappy_with_negative_times_and_long_strings() {
        let long = "v".repeat(300);
        let series = vec![
            Series {
                labels: l(&[("__name__", "a"), ("job", &long)]),
                samples: vec![
                    (1_705_314_600_000, 42.5),
                    (-5, f64::from_bits(0x7ff0_0000_0000_0002)),
                ],
            },
            Series {
                labels: l(&[("__name__", "b")]),
                samples: vec![(0, -1.0)],
            },
        ];
        let body = encode_compressed(&series).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let back = decode::write_request(&raw);
        assert_eq!(back[0].labels, series[0].labels);
        assert_eq!(back[0].samples[0], (1_705_314_600_000, 42.5));
        assert_eq!(back[0].samples[1].0, -5);
        assert_eq!(back[0].samples[1].1.to_bits(), 0x7ff0_0000_0000_0002);
        assert_eq!(back[1], series[1]);
    }

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut b = Vec::new();
            varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
    }
}
