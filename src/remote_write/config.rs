//! `remote_write:`, a list of receivers. The HTTP keys (`timeout`, `headers`, `basic_auth`,
//! `bearer_token[_file]`, `tls_config`) are the shared ones of every HTTP client in telltale.

use std::time::Duration;

use crate::config::common::{positive_count, positive_duration, required_url};
use crate::config::yaml::{Decoder, Node};
use crate::http_client::decode_http;
use crate::http_client::HttpConfig;

#[derive(Clone, Debug, PartialEq)]
pub struct RemoteWriteConfig {
    /// The `remote` label of the self-metrics; the URL when not given.
    pub name: String,
    pub url: String,
    pub http: HttpConfig,
    /// Samples held while waiting to be sent; past it the oldest are dropped.
    pub queue_capacity: usize,
    /// Samples per request at most.
    pub batch_size: usize,
    /// A partial batch is sent once its oldest sample has waited this long.
    pub flush_interval: Duration,
    /// Added to every series that lacks them, over `global.external_labels`.
    pub external_labels: Vec<(String, String)>,
}

impl RemoteWriteConfig {
    fn new(url: String) -> Self {
        RemoteWriteConfig {
            // The default name is shown (labels, logs): without the URL's credentials.
            name: crate::config::redact::url(&url),
            url,
            http: HttpConfig::default(),
            queue_capacity: 100_000,
            batch_size: 2_000,
            flush_interval: Duration::from_secs(1),
            external_labels: Vec::new(),
        }
    }
}

pub fn decode(d: &mut Decoder, n: &Node, path: &str) -> Vec<RemoteWriteConfig> {
    let mut out: Vec<RemoteWriteConfig> = Vec::new();
    for (i, item) in d.seq(n, path).iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(mut f) = d.map(item, &p) else {
            continue;
        };
        let url = required_url(d, &mut f, "a remote_write entry");
        let mut c = RemoteWriteConfig::new(url.clone().unwrap_or_default());
        if let Some(v) = f.get("name") {
            if let Some(name) = d.string(v, &f.at("name")) {
                if name.is_empty() {
                    d.error(v.pos, &f.at("name"), "must not be empty");
                }
                c.name = name;
            }
        }
        if out.iter().any(|o| o.name == c.name) {
            let pos = f.get("name").map_or(item.pos, |v| v.pos);
            d.error(pos, &p, format!("duplicate remote_write name {:?}", c.name));
        }
        positive_count(d, &mut f, "queue_capacity", &mut c.queue_capacity);
        positive_count(d, &mut f, "batch_size", &mut c.batch_size);
        if c.batch_size > c.queue_capacity {
            let pos = f.get("batch_size").map_or(item.pos, |v| v.pos);
            d.error(
                pos,
                &f.at("batch_size"),
                format!(
                    "batch_size ({}) is larger than queue_capacity ({})",
                    c.batch_size, c.queue_capacity
                ),
            );
        }
        if let Some(v) = positive_duration(d, &mut f, "flush_interval") {
            c.flush_interval = v;
        }
        if let Some(v) = f.get("external_labels") {
            let at = f.at("external_labels");
            c.external_labels = d.string_map(v, &at);
            for (k, _) in &c.external_labels {
                if !crate::model::labels::is_label_name(k) || k.starts_with("__") {
                    d.error(v.pos, &at, format!("invalid label name {k:?}"));
                }
            }
        }
        c.http = decode_http(d, &mut f);
        f.finish(d, "remote_write");
        if url.is_some() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::app::config::parse;
    use crate::app::config::tests::errors;

    #[test]
    fn entries_with_defaults_auth_and_labels() {
        let c = parse(
            "c",
            "remote_write:\n  - url: http://127.0.0.1:9090/api/v1/write\n  - url: https://m/push\n    name: mimir\n    basic_auth: {username: u, password: p}\n    batch_size: 10\n    flush_interval: 200ms\n    external_labels: {replica: a}\n",
        )
        .unwrap();
        let rw = &c.remote_write;
        assert_eq!(rw.len(), 2);
        assert_eq!(rw[0].name, "http://127.0.0.1:9090/api/v1/write");
        assert_eq!((rw[0].batch_size, rw[0].queue_capacity), (2_000, 100_000));
        assert_eq!(rw[1].name, "mimir");
        assert_eq!(rw[1].http.basic_auth, Some(("u".into(), "p".into())));
        assert_eq!(rw[1].flush_interval.as_millis(), 200);
        assert_eq!(rw[1].external_labels, vec![("replica".into(), "a".into())]);
        // The default name is a label and a log field: the URL without its credentials.
        let c = parse(
            "c",
            "remote_write:\n  - url: 'https://u:hunter2@m/push?apikey=k3y'\n",
        )
        .unwrap();
        assert_eq!(
            c.remote_write[0].name,
            "https://u:<secret>@m/push?apikey=<secret>"
        );
        assert!(c.remote_write[0].url.contains("hunter2"));
    }

    #[test]
    fn bad_entries_are_reported_with_positions() {
        assert_eq!(
            errors("remote_write:\n  - url: ftp://x\n  - {url: 'http://a', batch_size: 0, bogus: 1}\n  - {url: 'http://a'}\n  - {url: 'http://b', queue_capacity: 5, batch_size: 6}\n"),
            [
                "c.yml:2:10: remote_write[0].url: not an http(s) URL: \"ftp://x\"",
                "c.yml:3:35: remote_write[1].batch_size: must be greater than 0",
                "c.yml:3:38: remote_write[1]: unknown field \"bogus\" in remote_write",
                "c.yml:4:5: remote_write[2]: duplicate remote_write name \"http://a\"",
                "c.yml:5:54: remote_write[3].batch_size: batch_size (6) is larger than queue_capacity (5)",
            ]
        );
    }
}
