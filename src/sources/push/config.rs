//! The `push:` section: push ingest is off without it (`push: {}` turns it on with the
//! defaults below). Limits are read per request, so a reload changes them at once.

use std::time::Duration;

use crate::config::common::{positive_count, positive_duration};
use crate::config::yaml::{Decoder, Node};
use crate::http_client::decode_size;

#[derive(Clone, Debug, PartialEq)]
pub struct PushConfig {
    /// Bytes of one request body (after any decompression).
    pub max_body_size: usize,
    pub max_samples_per_request: usize,
    pub max_series_per_group: usize,
    pub max_series_per_job: usize,
    /// Series held by all push groups together.
    pub max_series: usize,
    /// A group not pushed to for this long is deleted (for `/api/v1/metrics`, a series).
    pub expire_after: Option<Duration>,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            max_body_size: 16 << 20,
            max_samples_per_request: 100_000,
            max_series_per_group: 10_000,
            max_series_per_job: 50_000,
            max_series: 100_000,
            expire_after: None,
        }
    }
}

pub fn decode(d: &mut Decoder, n: &Node, path: &str) -> PushConfig {
    let mut c = PushConfig::default();
    let Some(mut f) = d.map(n, path) else {
        return c;
    };
    if let Some(v) = decode_size(d, &mut f, "max_body_size") {
        c.max_body_size = v;
    }
    for (key, into) in [
        ("max_samples_per_request", &mut c.max_samples_per_request),
        ("max_series_per_group", &mut c.max_series_per_group),
        ("max_series_per_job", &mut c.max_series_per_job),
        ("max_series", &mut c.max_series),
    ] {
        positive_count(d, &mut f, key, into);
    }
    if let Some(v) = positive_duration(d, &mut f, "expire_after") {
        c.expire_after = Some(v);
    }
    f.finish(d, "push");
    c
}

#[cfg(test)]
mod tests {
    use crate::app::config::parse;
    use crate::app::config::tests::errors;

    #[test]
    fn push_is_off_without_the_section_and_defaults_with_it() {
        assert_eq!(parse("c", "global: {}\n").unwrap().push, None);
        // A bare `push:` is null, which counts as absent: `push: {}` turns push on.
        assert_eq!(parse("c", "push:\n").unwrap().push, None);
        let c = parse("c", "push: {}\n").unwrap().push.unwrap();
        assert_eq!(c, super::PushConfig::default());
        let c = parse(
            "c",
            "push: {max_body_size: 1MiB, max_series: 7, expire_after: 10m}\n",
        )
        .unwrap()
        .push
        .unwrap();
        assert_eq!(
            (c.max_body_size, c.max_series, c.expire_after),
            (1 << 20, 7, Some(std::time::Duration::from_secs(600)))
        );
    }

    #[test]
    fn bad_values_are_reported_with_positions() {
        assert_eq!(
            errors("push:\n  max_body_size: lots\n  max_series_per_job: 0\n  expire_after: 0s\n  bogus: 1\n"),
            [
                "c.yml:2:18: push.max_body_size: not a size: \"lots\" (e.g. 4MiB, 512KiB, 1048576)",
                "c.yml:3:23: push.max_series_per_job: must be greater than 0",
                "c.yml:4:17: push.expire_after: must be greater than 0",
                "c.yml:5:3: push: unknown field \"bogus\" in push",
            ]
        );
    }
}
