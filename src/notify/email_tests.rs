use super::*;
use crate::notify::config::ReceiverCommon;
use crate::notify::group::GroupSettings;
use crate::notify::OutAlert;

fn cfg(subject: Option<&str>) -> EmailConfig {
    EmailConfig {
        common: ReceiverCommon {
            name: "mail".into(),
            group: GroupSettings::default(),
            max_alerts: 0,
        },
        host: "127.0.0.1".into(),
        port: 25,
        from: "telltale@example.org".into(),
        to: vec![
            "ops@example.org".into(),
            "Oncall <oncall@example.org>".into(),
        ],
        hello: "localhost".into(),
        tls: SmtpTls::None,
        auth: None,
        ca_file: None,
        insecure_skip_verify: false,
        timeout: Duration::from_secs(5),
        subject: subject.map(String::from),
    }
}

fn message() -> Message {
    let a = |inst: &str, resolved: bool| OutAlert {
        labels: vec![
            ("alertname".into(), "DiskFull".into()),
            ("instance".into(), inst.into()),
        ],
        annotations: vec![("summary".into(), format!("disk <full> on {inst}"))],
        starts_at_ms: 1_705_314_600_000,
        ends_at_ms: if resolved {
            1_705_314_660_000
        } else {
            1_705_315_000_000
        },
        generator_url: "http://t/graph?g0.expr=x&g0.tab=1".into(),
        resolved,
    };
    Message {
        group_key: "{}:{alertname=\"DiskFull\"}".into(),
        group_labels: vec![("alertname".into(), "DiskFull".into())],
        at_ms: 1_705_314_700_000,
        ..Message::batch(vec![a("h1", false), a("h2", true)])
    }
}

#[test]
fn text_body_lists_alerts_by_status() {
    let t = text_body(&message(), 0, "http://telltale");
    let want = "[FIRING:1] DiskFull\n\nFiring (1)\n\n- DiskFull\n  Labels: alertname=DiskFull, instance=h1\n  summary: disk <full> on h1\n  Started: 2024-01-15T10:30:00.000Z\n  Source: http://t/graph?g0.expr=x&g0.tab=1\n\nResolved (1)\n\n- DiskFull\n  Labels: alertname=DiskFull, instance=h2\n  summary: disk <full> on h2\n  Started: 2024-01-15T10:30:00.000Z\n  Ended: 2024-01-15T10:31:00.000Z\n  Source: http://t/graph?g0.expr=x&g0.tab=1\n\nSent by telltale: http://telltale\n";
    assert_eq!(t, want);
}

#[test]
fn html_body_escapes_and_links() {
    let h = html_body(&message(), 2, "");
    assert!(h.contains("<h2>[FIRING:1] DiskFull</h2>"), "{h}");
    assert!(
        h.contains("<td>summary</td><td>disk &lt;full&gt; on h1</td>"),
        "{h}"
    );
    assert!(
        h.contains("<a href=\"http://t/graph?g0.expr=x&amp;g0.tab=1\">"),
        "{h}"
    );
    assert!(h.contains("2 more alert(s) not shown"));
    assert!(!h.contains("<full>"));
}

#[test]
fn composed_message_has_headers_and_both_parts() {
    let e = Email::new(&cfg(None), "").unwrap();
    let raw = String::from_utf8(e.compose(&message()).unwrap().formatted()).unwrap();
    assert!(raw.contains("Subject: [FIRING:1] DiskFull\r\n"), "{raw}");
    assert!(raw.contains("From: telltale@example.org\r\n"), "{raw}");
    assert!(raw.contains("ops@example.org"), "{raw}");
    assert!(raw.contains("oncall@example.org"), "{raw}");
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(
        raw.contains("text/plain") && raw.contains("text/html"),
        "{raw}"
    );
    let e = Email::new(
        &cfg(Some(
            "{{ $labels.alertname }}: {{ $externalLabels.status }} ({{ $value }})",
        )),
        "",
    )
    .unwrap();
    let raw = String::from_utf8(e.compose(&message()).unwrap().formatted()).unwrap();
    assert!(raw.contains("Subject: DiskFull: firing (2)\r\n"), "{raw}");
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = cfg(None);
    c.port = port;
    let e = Email::new(&c, "").unwrap();
    let err = e.send(&message()).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert_eq!(err.reason, "connect", "{err:?}");
}
