//! Email over SMTP with lettre (STARTTLS, implicit TLS or none; optional auth): one message
//! per group notification, text and HTML alternatives listing every alert with its labels,
//! annotations, times and link, under Alertmanager's subject line (or a `subject` template).

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::config::{EmailConfig, SmtpTls};
use super::render::{self, alert_status};
use super::webhook::{payload, truncate};
use super::{Message, Mode, Notifier, SendError, SendFuture};
use crate::rules::template::Template;
use crate::timefmt::format_millis;

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
fn classify(e: lettre::transport::smtp::Error) -> SendError {
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
    SendError::new(retryable, reason, msg)
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
                .map_err(classify)
        })
    }
}

#[cfg(test)]
#[path = "email_tests.rs"]
mod tests;
