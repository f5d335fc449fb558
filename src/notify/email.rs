//! Email over SMTP with lettre (STARTTLS, implicit TLS or none; optional auth): one message
//! per group notification, text and HTML alternatives listing every alert with its labels,
//! annotations, times and link, under Alertmanager's subject line (or a `subject` template).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use base64::Engine;
use crate::config::redact::Scrub;
use super::config::{template, ReceiverCommon};
use super::render;
use super::render::alert_status;
use super::webhook::{payload, truncate};
use super::{Message, Mode, Notifier, SendFuture};
use crate::config::common::{positive_duration, secret};
use crate::config::yaml::{Decoder, Fields, Node, Value};
use crate::http_client::retry::SendError;
use crate::model::time::format_millis;
use crate::template::Template;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    None,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EmailConfig {
    pub common: ReceiverCommon,
    pub host: String,
    pub port: u16,
    pub from: String,
    pub to: Vec<String>,
    pub hello: String,
    pub tls: SmtpTls,
    pub auth: Option<(String, String)>,
    pub ca_file: Option<String>,
    pub insecure_skip_verify: bool,
    pub timeout: Duration,
    pub subject: Option<String>,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pairs(l: &[(String, String)]) -> String {
    l.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plain-text body.
pub fn text_body(m: &Message, truncated: usize, external_url: &str) -> String {
    let mut out = format!("{}\n", render::subject(m));
    for want in ["firing", "resolved"] {
        let list: Vec<_> = m
            .alerts
            .iter()
            .filter(|a| alert_status(m, a) == want)
            .collect();
        if list.is_empty() {
            continue;
        }
        let title = if want == "firing" {
            "Firing"
        } else {
            "Resolved"
        };
        out.push_str(&format!("\n{title} ({})\n", list.len()));
        for a in list {
            out.push_str(&format!(
                "\n- {}\n",
                a.label("alertname").unwrap_or("alert")
            ));
            out.push_str(&format!("  Labels: {}\n", pairs(&a.labels)));
            for (k, v) in &a.annotations {
                out.push_str(&format!("  {k}: {v}\n"));
            }
            out.push_str(&format!("  Started: {}\n", format_millis(a.starts_at_ms)));
            if want == "resolved" {
                out.push_str(&format!("  Ended: {}\n", format_millis(a.ends_at_ms)));
            }
            if !a.generator_url.is_empty() {
                out.push_str(&format!("  Source: {}\n", a.generator_url));
            }
        }
    }
    if truncated > 0 {
        out.push_str(&format!("\n{truncated} more alert(s) not shown.\n"));
    }
    if !external_url.is_empty() {
        out.push_str(&format!("\nSent by telltale: {external_url}\n"));
    }
    out
}

/// The HTML body: the same content, as tables.
pub fn html_body(m: &Message, truncated: usize, external_url: &str) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n<h2>{}</h2>\n",
        html_escape(&render::subject(m))
    );
    for a in &m.alerts {
        let status = alert_status(m, a);
        let color = if status == "firing" {
            "#c0392b"
        } else {
            "#27ae60"
        };
        out.push_str(&format!(
            "<table style=\"border-left:4px solid {color};margin:8px 0;padding-left:8px\">\n<tr><th align=\"left\" colspan=\"2\">{} <small>({status})</small></th></tr>\n",
            html_escape(a.label("alertname").unwrap_or("alert"))
        ));
        let row = |k: &str, v: &str| {
            format!(
                "<tr><td>{}</td><td>{}</td></tr>\n",
                html_escape(k),
                html_escape(v)
            )
        };
        for (k, v) in &a.labels {
            out.push_str(&row(k, v));
        }
        for (k, v) in &a.annotations {
            out.push_str(&row(k, v));
        }
        out.push_str(&row("started", &format_millis(a.starts_at_ms)));
        if status == "resolved" {
            out.push_str(&row("ended", &format_millis(a.ends_at_ms)));
        }
        if !a.generator_url.is_empty() {
            out.push_str(&format!(
                "<tr><td>source</td><td><a href=\"{0}\">{0}</a></td></tr>\n",
                html_escape(&a.generator_url)
            ));
        }
        out.push_str("</table>\n");
    }
    if truncated > 0 {
        out.push_str(&format!("<p>{truncated} more alert(s) not shown.</p>\n"));
    }
    if !external_url.is_empty() {
        out.push_str(&format!(
            "<p><small>Sent by <a href=\"{0}\">telltale</a></small></p>\n",
            html_escape(external_url)
        ));
    }
    out.push_str("</body></html>\n");
    out
}

pub struct Email {
    cfg: EmailConfig,
    external_url: String,
    subject: Option<Template>,
    tls: Option<TlsParameters>,
}

/// SMTP failures: 5xx replies are permanent, 4xx transient; network and TLS trouble retried.
/// The server's reply is scrubbed of the credentials this receiver sent.
fn classify(e: lettre::transport::smtp::Error, scrub: &Scrub) -> SendError {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let s_text = s.to_string();
        if !msg.contains(&s_text) {
            msg = format!("{msg}: {s_text}");
        }
        src = s.source();
    }
    let lower = msg.to_ascii_lowercase();
    let (retryable, reason) = if e.is_permanent() {
        (false, "smtp_permanent")
    } else if e.is_transient() {
        (true, "smtp_transient")
    } else if e.is_timeout() {
        (true, "timeout")
    } else if e.is_tls() || lower.contains("certificate") || lower.contains("tls") {
        (true, "tls")
    } else {
        (true, "connect")
    };
    SendError::new(retryable, reason, scrub.text(&msg))
}

impl Email {
    pub fn new(cfg: &EmailConfig, external_url: &str) -> Result<Self, String> {
        let subject = match &cfg.subject {
            Some(t) => Some(render::parse_template("subject", t)?),
            None => None,
        };
        let tls = match cfg.tls {
            SmtpTls::None => None,
            _ => {
                let mut b = TlsParameters::builder(cfg.host.clone())
                    .dangerous_accept_invalid_certs(cfg.insecure_skip_verify);
                if let Some(path) = &cfg.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("cannot read ca_file {path}: {e}"))?;
                    let cert = Certificate::from_pem(&pem)
                        .map_err(|e| format!("bad ca_file {path}: {e}"))?;
                    b = b.add_root_certificate(cert);
                }
                Some(
                    b.build_rustls()
                        .map_err(|e| format!("TLS setup for {}: {e}", cfg.host))?,
                )
            }
        };
        Ok(Email {
            cfg: cfg.clone(),
            external_url: external_url.to_string(),
            subject,
            tls,
        })
    }

    /// The message for a group notification.
    pub fn compose(&self, msg: &Message) -> Result<lettre::Message, SendError> {
        let (m, truncated) = truncate(msg, self.cfg.common.max_alerts);
        let subject = match &self.subject {
            None => render::subject(&m),
            Some(t) => {
                let (body, alerts) =
                    payload(&m, &self.cfg.common.name, &self.external_url, truncated);
                let data = render::template_data(
                    &m,
                    &self.cfg.common.name,
                    &self.external_url,
                    &alerts,
                    &body,
                    truncated,
                );
                t.execute(&data)
                    .map_err(|e| SendError::new(false, "template", e))?
            }
        };
        let bad = |e: String| SendError::new(false, "encode", e);
        let mut b = lettre::Message::builder()
            .from(
                self.cfg
                    .from
                    .parse::<Mailbox>()
                    .map_err(|e| bad(e.to_string()))?,
            )
            .subject(subject.replace(['\r', '\n'], " "));
        for to in &self.cfg.to {
            b = b.to(to.parse::<Mailbox>().map_err(|e| bad(e.to_string()))?);
        }
        let alt = MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text_body(&m, truncated, &self.external_url)),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html_body(&m, truncated, &self.external_url)),
            );
        b.multipart(alt).map_err(|e| bad(e.to_string()))
    }

    fn transport(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        let c = &self.cfg;
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.host.clone())
            .port(c.port)
            .timeout(Some(c.timeout))
            .hello_name(ClientId::Domain(c.hello.clone()));
        b = match (&self.tls, c.tls) {
            (Some(p), SmtpTls::StartTls) => b.tls(Tls::Required(p.clone())),
            (Some(p), SmtpTls::Implicit) => b.tls(Tls::Wrapper(p.clone())),
            _ => b.tls(Tls::None),
        };
        if let Some((u, p)) = &c.auth {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        b.build()
    }
}

impl Email {
    /// The credentials this receiver puts on the wire, to remove from the server's replies:
    /// the password, and the base64 forms AUTH PLAIN and AUTH LOGIN send.
    fn scrub(&self) -> Scrub {
        let mut s = Scrub::default();
        if let Some((user, pass)) = &self.cfg.auth {
            let b64 = base64::engine::general_purpose::STANDARD;
            s.add(pass);
            s.add(&b64.encode(pass));
            s.add(&b64.encode(format!("\0{user}\0{pass}")));
        }
        s
    }
}

impl Notifier for Email {
    fn name(&self) -> &str {
        &self.cfg.common.name
    }

    fn mode(&self) -> Mode {
        Mode::Grouped(self.cfg.common.group.clone())
    }

    fn timeout(&self) -> Duration {
        self.cfg.timeout
    }

    fn send<'a>(&'a self, msg: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            let email = self.compose(msg)?;
            self.transport()
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| classify(e, &self.scrub()))
        })
    }
}

// Decoding of one `alerting.email` receiver (Alertmanager's `email_config` keys).

fn addresses(d: &mut Decoder, v: &Node, path: &str) -> Vec<String> {
    let raw: Vec<String> = match &v.value {
        Value::Seq(_) => d.string_list(v, path),
        _ => d
            .string(v, path)
            .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
            .unwrap_or_default(),
    };
    for a in &raw {
        if let Err(e) = a.parse::<Mailbox>() {
            d.error(v.pos, path, format!("invalid address {a:?}: {e}"));
        }
    }
    raw
}

/// `alerting.email`: one mapping or a list of them.
pub const RECEIVER: super::Receiver = super::Receiver {
    key: "email",
    send_resolved: false,
    one_or_many: true,
    decode: |d, f, common| decode(d, f, common).map(|c| Arc::new(c) as _),
};

impl super::BuildNotifier for EmailConfig {
    fn build(&self, external_url: &str) -> Result<Arc<dyn Notifier>, String> {
        Ok(Arc::new(Email::new(self, external_url)?))
    }
}

pub fn decode(
    d: &mut Decoder,
    f: &mut Fields,
    common: Option<ReceiverCommon>,
) -> Option<EmailConfig> {
    let mut host_port = None;
    match f.get("smarthost") {
        Some(v) => {
            if let Some(s) = d.string(v, &f.at("smarthost")) {
                match s.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
                    Some((h, Ok(p))) if !h.is_empty() && p > 0 => {
                        host_port = Some((h.trim_matches(['[', ']']).to_string(), p))
                    }
                    _ => d.error(
                        v.pos,
                        &f.at("smarthost"),
                        format!("want host:port, got {s:?}"),
                    ),
                }
            }
        }
        None => d.error(f.pos, &f.path, "an email receiver needs a smarthost"),
    }
    let from = match f.get("from") {
        Some(v) => {
            let a = addresses(d, v, &f.at("from"));
            if a.len() != 1 {
                d.error(v.pos, &f.at("from"), "want exactly one address");
            }
            a.into_iter().next()
        }
        None => {
            d.error(f.pos, &f.path, "an email receiver needs a from address");
            None
        }
    };
    let to = match f.get("to") {
        Some(v) => {
            let a = addresses(d, v, &f.at("to"));
            if a.is_empty() {
                d.error(v.pos, &f.at("to"), "needs at least one address");
            }
            a
        }
        None => {
            d.error(f.pos, &f.path, "an email receiver needs to addresses");
            Vec::new()
        }
    };
    let hello = f
        .get("hello")
        .and_then(|v| d.string(v, &f.at("hello")))
        .unwrap_or_else(|| "localhost".to_string());
    let port = host_port.as_ref().map_or(25, |(_, p)| *p);
    let mut tls = if port == 465 {
        SmtpTls::Implicit
    } else {
        SmtpTls::StartTls
    };
    if let Some(v) = f.get("tls") {
        match d.string(v, &f.at("tls")).as_deref() {
            Some("starttls") => tls = SmtpTls::StartTls,
            Some("implicit") => tls = SmtpTls::Implicit,
            Some("none") => tls = SmtpTls::None,
            Some(other) => d.error(
                v.pos,
                &f.at("tls"),
                format!("unknown tls mode {other:?} (want starttls, implicit or none)"),
            ),
            None => {}
        }
    }
    let user = f
        .get("auth_username")
        .and_then(|v| d.string(v, &f.at("auth_username")));
    let pass = secret(d, f, "auth_password");
    let auth = match (user, pass) {
        (Some(u), p) => Some((u, p.unwrap_or_default())),
        (None, Some(_)) => {
            d.error(f.pos, &f.path, "auth_password needs auth_username");
            None
        }
        (None, None) => None,
    };
    let mut ca_file = None;
    let mut insecure = false;
    if let Some(v) = f.get("tls_config") {
        if let Some(mut t) = d.map(v, &f.at("tls_config")) {
            if let Some(c) = t.get("ca_file") {
                ca_file = d.string(c, &t.at("ca_file"));
                if let Some(path) = &ca_file {
                    let ok = std::fs::read(path)
                        .map_err(|e| format!("cannot read ca_file {path}: {e}"))
                        .and_then(|pem| {
                            lettre::transport::smtp::client::Certificate::from_pem(&pem)
                                .map_err(|e| format!("bad ca_file {path}: {e}"))
                        });
                    if let Err(e) = ok {
                        d.error(c.pos, &t.at("ca_file"), e);
                    }
                }
            }
            if let Some(b) = t.get("insecure_skip_verify") {
                insecure = d.bool(b, &t.at("insecure_skip_verify")).unwrap_or(false);
            }
            t.finish(d, "tls_config");
        }
    }
    let timeout = positive_duration(d, f, "timeout").unwrap_or(Duration::from_secs(10));
    let subject = template(d, f, "subject");
    let (host, port) = host_port?;
    Some(EmailConfig {
        common: common?,
        host,
        port,
        from: from?,
        to,
        hello,
        tls,
        auth,
        ca_file,
        insecure_skip_verify: insecure,
        timeout,
        subject,
    })
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn server_replies_lose_the_credentials_sent() {
        let mut c = cfg(None);
        c.auth = Some(("user".into(), "hunter22".into()));
        let e = Email::new(&c, "").unwrap();
        // AUTH PLAIN sends base64("\0user\0hunter22"); a server may quote it back.
        let plain = base64::engine::general_purpose::STANDARD.encode("\0user\0hunter22");
        let reply = format!("535 5.7.8 bad credentials {plain} (password hunter22)");
        let shown = e.scrub().text(&reply);
        assert!(!shown.contains(&plain) && !shown.contains("hunter22"), "{shown}");
        assert!(shown.starts_with("535 5.7.8 bad credentials <secret>"), "{shown}");
        // Without auth nothing is removed.
        assert_eq!(Email::new(&cfg(None), "").unwrap().scrub().text(&reply), reply);
    }
}
