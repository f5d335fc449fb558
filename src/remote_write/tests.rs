use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A receiver on loopback answering each request with the next status of `statuses` (the last
/// one repeated); keeps every request's headers and decoded series.
/// Each request's (lower-cased) head and the series in its body.
type Requests = Arc<Mutex<Vec<(String, Vec<Series>)>>>;

struct Receiver {
    url: String,
    got: Requests,
}

async fn receiver(statuses: Vec<u16>) -> Receiver {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/write", l.local_addr().unwrap());
    let got: Requests = Arc::default();
    let g = Arc::clone(&got);
    let count = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let g = Arc::clone(&g);
            let statuses = statuses.clone();
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                loop {
                    let mut buf = Vec::new();
                    let head_end = loop {
                        let mut chunk = [0u8; 4096];
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        let n = s.read(&mut chunk).await.unwrap();
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let raw = snap::raw::Decoder::new()
                        .decompress_vec(&buf[head_end..head_end + len])
                        .unwrap();
                    g.lock()
                        .unwrap()
                        .push((head, proto::decode::write_request(&raw)));
                    let seen = count.fetch_add(1, Ordering::SeqCst);
                    let status = statuses[seen.min(statuses.len() - 1)];
                    let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    s.write_all(resp.as_bytes()).await.unwrap();
                }
            });
        }
    });
    Receiver { url, got }
}

fn cfg(url: &str, batch: usize, capacity: usize) -> RemoteWriteConfig {
    RemoteWriteConfig {
        name: "r".into(),
        url: url.into(),
        http: Default::default(),
        queue_capacity: capacity,
        batch_size: batch,
        flush_interval: Duration::from_millis(50),
        external_labels: vec![("replica".into(), "a".into())],
    }
}

fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey {
        name: Arc::from(name),
        labels: Arc::new(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
    }
}

async fn until(what: &str, ok: impl Fn() -> bool) {
    for _ in 0..400 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn batches_carry_sorted_labels_external_ones_and_headers() {
    let r = receiver(vec![204]).await;
    let global = vec![
        ("site".to_string(), "lab".to_string()),
        ("replica".to_string(), "g".to_string()),
    ];
    let rw = RemoteWrite::build(&[cfg(&r.url, 3, 100)], &global, None).unwrap();
    let tap = rw.start().unwrap();
    let up = key("up", &[("job", "x"), ("Zone", "1")]);
    let own_site = key("m", &[("site", "own")]);
    tap.written(vec![
        (up.clone(), 1000, 1.0),
        (own_site, 1000, 5.0),
        (up, 2000, 0.0),
    ]);
    until("one request", || r.got.lock().unwrap().len() == 1).await;
    let (head, series) = r.got.lock().unwrap()[0].clone();
    assert!(head.contains("content-encoding: snappy"), "{head}");
    assert!(head.contains("content-type: application/x-protobuf"));
    assert!(head.contains("x-prometheus-remote-write-version: 0.1.0"));
    assert_eq!(series.len(), 2);
    let names: Vec<String> = series[0]
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    // Upper case sorts before `__name__`; the entry's replica wins over the global one.
    assert_eq!(
        names,
        ["Zone=1", "__name__=up", "job=x", "replica=a", "site=lab"]
    );
    assert_eq!(series[0].samples, vec![(1000, 1.0), (2000, 0.0)]);
    assert!(series[1].labels.contains(&("site".into(), "own".into())));
    until("sent counted", || {
        rw.handles[0].writer.n.sent.load(Ordering::Relaxed) == 3
    })
    .await;
    assert_eq!(rw.handles[0].writer.pending(), 0);
}

#[tokio::test]
async fn a_partial_batch_goes_after_the_flush_interval() {
    let r = receiver(vec![200]).await;
    let rw = RemoteWrite::build(&[cfg(&r.url, 1000, 5000)], &vec![], None).unwrap();
    let tap = rw.start().unwrap();
    tap.written(vec![(key("a", &[]), 1, 1.0)]);
    until("the flush", || r.got.lock().unwrap().len() == 1).await;
}

#[tokio::test]
async fn retries_on_5xx_and_429_until_delivered_in_order() {
    let r = receiver(vec![503, 429, 200]).await;
    let rw = RemoteWrite::build(&[cfg(&r.url, 2, 100)], &vec![], None).unwrap();
    let tap = rw.start().unwrap();
    // One key for the series, as the store hands its stored key to every sample.
    let a = key("a", &[]);
    tap.written(vec![(a.clone(), 1, 1.0), (a.clone(), 2, 2.0)]);
    tap.written(vec![(a, 3, 3.0)]);
    let w = &rw.handles[0].writer;
    until("all sent", || w.n.sent.load(Ordering::Relaxed) == 3).await;
    assert_eq!(w.n.retried.load(Ordering::Relaxed), 4);
    assert_eq!(w.n.failed.load(Ordering::Relaxed), 0);
    let got = r.got.lock().unwrap();
    let times: Vec<i64> = got
        .iter()
        .flat_map(|(_, s)| s[0].samples.iter().map(|x| x.0))
        .collect();
    assert_eq!(times, vec![1, 2, 1, 2, 1, 2, 3]);
}

#[tokio::test]
async fn other_4xx_fail_the_batch_without_retry() {
    let r = receiver(vec![400, 200]).await;
    let rw = RemoteWrite::build(&[cfg(&r.url, 1, 100)], &vec![], None).unwrap();
    let tap = rw.start().unwrap();
    tap.written(vec![(key("a", &[]), 1, 1.0), (key("a", &[]), 2, 2.0)]);
    let w = &rw.handles[0].writer;
    until("both settled", || w.n.sent.load(Ordering::Relaxed) == 1).await;
    assert_eq!(w.n.failed.load(Ordering::Relaxed), 1);
    assert_eq!(w.n.retried.load(Ordering::Relaxed), 0);
    assert_eq!(r.got.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_and_counts_them() {
    let rw = RemoteWrite::build(&[cfg("http://127.0.0.1:9/w", 2, 5)], &vec![], None).unwrap();
    let w = Arc::clone(&rw.handles[0].writer);
    let samples: Vec<Written> = (0..8).map(|i| (key("a", &[]), i, i as f64)).collect();
    w.enqueue(&samples);
    assert_eq!(w.n.dropped.load(Ordering::Relaxed), 3);
    let kept: Vec<i64> = lock(&w.queue).iter().map(|s| s.1).collect();
    assert_eq!(kept, vec![3, 4, 5, 6, 7]);
    let mut fams = Vec::new();
    rw.families(&mut fams);
    let text = crate::model::encode(&crate::model::normalize(fams), crate::model::Format::Text);
    assert!(
        text.contains("telltale_remote_write_samples_dropped_total{remote=\"r\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("telltale_remote_write_queue_length{remote=\"r\"} 5\n"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unchanged_entry_keeps_its_writer_across_a_rebuild() {
    let a = RemoteWrite::build(&[cfg("http://127.0.0.1:9/w", 2, 5)], &vec![], None).unwrap();
    let same = RemoteWrite::build(&[cfg("http://127.0.0.1:9/w", 2, 5)], &vec![], Some(&a)).unwrap();
    assert!(Arc::ptr_eq(&a.handles[0], &same.handles[0]));
    let other =
        RemoteWrite::build(&[cfg("http://127.0.0.1:9/w", 3, 5)], &vec![], Some(&a)).unwrap();
    assert!(!Arc::ptr_eq(&a.handles[0], &other.handles[0]));
    let relabelled = vec![("site".to_string(), "b".to_string())];
    let moved =
        RemoteWrite::build(&[cfg("http://127.0.0.1:9/w", 2, 5)], &relabelled, Some(&a)).unwrap();
    assert!(!Arc::ptr_eq(&a.handles[0], &moved.handles[0]));
}
