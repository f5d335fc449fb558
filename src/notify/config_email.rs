//! Decoding of one `alerting.email` receiver (Alertmanager's `email_config` keys).

use std::time::Duration;

use lettre::message::Mailbox;

use super::config::{positive_duration, template, EmailConfig, ReceiverCommon, SmtpTls};
use crate::config::secret;
use crate::yaml::{Decoder, Fields, Node, Value};

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
