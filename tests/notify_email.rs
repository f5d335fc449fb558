//! Email against a real SMTP server (aiosmtpd from PyPI, as CI installs it): the message arrives
//! with the expected subject, recipients and alert content, in plain SMTP and through STARTTLS
//! with a self-signed certificate trusted through `tls_config.ca_file`; an untrusted
//! certificate is refused and counted. Ports 19325-19326.

mod common;
mod notify_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use notify_support::{alert, now_ms, tmpdir, wait_until, Driver};

/// `python3 -m aiosmtpd` writing what it receives into a maildir; killed when dropped.
struct Smtp {
    proc: common::Proc,
    maildir: PathBuf,
}

impl Smtp {
    fn start(port: u16, dir: &Path, tls: Option<(&Path, &Path)>) -> Smtp {
        let maildir = dir.join(format!("maildir-{port}"));
        let log = dir.join(format!("smtp-{port}.log"));
        let proc = common::aiosmtpd(port, &maildir, log, tls);
        Smtp { proc, maildir }
    }

    /// The raw messages received so far.
    fn messages(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// The decoded text of the message (quoted-printable soft breaks joined).
fn decoded(msg: &str) -> String {
    msg.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

#[test]
fn email_arrives_over_plain_smtp_and_starttls() {
    let dir = tmpdir("notify-email");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let ok = Command::new(common::peer("/usr/bin/openssl"))
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl could not make a certificate");
    let plain = Smtp::start(19325, &dir, None);
    let secure = Smtp::start(19326, &dir, Some((&cert, &key)));
    let cfg = dir.join("telltale.yml");
    std::fs::write(
        &cfg,
        format!(
            "alerting:\n  external_url: http://telltale.test:8465\n  email:\n\
             \x20   - name: plain\n      smarthost: 127.0.0.1:19325\n      tls: none\n\
             \x20     from: telltale@example.org\n      to: [ops@example.org, 'On Call <oncall@example.org>']\n\
             \x20     send_resolved: true\n      group_wait: 0s\n      group_interval: 1s\n\
             \x20   - name: secure\n      smarthost: localhost:19326\n      tls: starttls\n\
             \x20     tls_config: {{ca_file: {}}}\n\
             \x20     from: telltale@example.org\n      to: secure@example.org\n      group_wait: 0s\n\
             \x20   - name: untrusted\n      smarthost: localhost:19326\n      tls: starttls\n\
             \x20     from: telltale@example.org\n      to: nobody@example.org\n      group_wait: 0s\n",
            cert.display()
        ),
    )
    .unwrap();
    let mut d = Driver::start(&cfg, None, &dir.join("driver.log"));
    let start = now_ms() - 60_000;
    let extra = [("job", "node"), ("severity", "critical")];
    d.submit(vec![alert(
        "MailTest",
        &extra,
        start,
        now_ms() + 240_000,
        false,
    )]);
    let ctx = |d: &Driver| {
        format!(
            "driver:\n{}\nsmtp:\n{}\n{}",
            d.log_text(),
            plain.proc.log_text(),
            secure.proc.log_text()
        )
    };
    wait_until(
        20,
        "both messages",
        || !plain.messages().is_empty() && !secure.messages().is_empty(),
        || ctx(&d),
    );

    let m = &plain.messages()[0];
    assert_eq!(
        header(m, "Subject"),
        Some("[FIRING:1] MailTest (host-1:9100 node critical)"),
        "{m}"
    );
    assert_eq!(header(m, "From"), Some("telltale@example.org"), "{m}");
    let to = header(m, "To").unwrap();
    assert!(
        to.contains("ops@example.org") && to.contains("oncall@example.org"),
        "{m}"
    );
    let rcpt = header(m, "X-RcptTo").unwrap();
    assert!(
        rcpt.contains("ops@example.org") && rcpt.contains("oncall@example.org"),
        "{m}"
    );
    assert!(
        m.contains("multipart/alternative") && m.contains("text/html"),
        "{m}"
    );
    let body = decoded(m);
    for want in [
        "Firing (1)",
        "Labels: alertname=MailTest, instance=host-1:9100, job=node, severity=critical",
        "summary: MailTest on host-1",
        "Source: http://telltale.test:8465/graph?g0.expr=MailTest&g0.tab=1",
        "Sent by telltale: http://telltale.test:8465",
    ] {
        assert!(body.contains(want), "missing {want:?} in\n{body}");
    }
    let s = &secure.messages()[0];
    assert_eq!(header(s, "X-RcptTo"), Some("secure@example.org"), "{s}");
    assert_eq!(
        header(s, "Subject"),
        Some("[FIRING:1] MailTest (host-1:9100 node critical)"),
        "{s}"
    );

    // The self-signed certificate is not trusted without ca_file: not delivered, counted.
    let mut d_metric = |reason: &str| {
        d.metric(&format!(
            "telltale_notifications_failed_total{{notifier=\"untrusted\",reason=\"{reason}\"}}"
        ))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while d_metric("tls") == 0.0 {
        assert!(
            Instant::now() < deadline,
            "untrusted certificate not refused"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!secure
        .messages()
        .iter()
        .any(|m| m.contains("nobody@example.org")));

    // The resolution goes to the receiver with send_resolved (email's default is not to).
    d.submit(vec![alert("MailTest", &extra, start, now_ms() - 100, true)]);
    wait_until(
        20,
        "the resolution mail",
        || plain.messages().len() == 2,
        || ctx(&d),
    );
    let r = &plain.messages()[1];
    assert_eq!(
        header(r, "Subject"),
        Some("[RESOLVED] MailTest (host-1:9100 node critical)"),
        "{r}"
    );
    assert!(decoded(r).contains("Resolved (1)"), "{r}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        secure.messages().len(),
        1,
        "no resolution mail without send_resolved"
    );
}
