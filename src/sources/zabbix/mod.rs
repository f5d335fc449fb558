//! Zabbix items as metrics: per configured server, resolve the selected hosts (cached), read
//! their monitored items with `item.get` (one request per chunk of hosts) and export numeric
//! items as `zabbix_item_value` timestamped with Zabbix's `lastclock`. A server that is down or
//! refuses the credentials is retried with exponential backoff while `zabbix_up` says 0.

pub mod api;
pub mod config;
pub mod items;
#[cfg(test)]
mod tests;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use self::api::{Client, Credentials, Failure, Reason};
use super::{BoxFuture, Health, HealthCell, Source, Target};
use crate::model::Family;

pub use self::config::ZabbixConfig;
pub use self::items::*;

/// How long resolved host ids are reused before host.get/hostgroup.get are asked again.
const HOST_REFRESH: Duration = Duration::from_secs(300);
/// Longest pause between attempts while a server keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The pause after `failures` consecutive failures: one interval, doubling, capped.
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    interval
        .saturating_mul(factor)
        .min(MAX_BACKOFF.max(interval))
}

struct State {
    client: Client,
    hostids: Option<(Instant, Vec<String>)>,
    errors: [u64; 6],
    failures: u32,
    next_try: Option<Instant>,
    /// The outcome last logged: `Some(None)` up, `Some(Some(reason))` down.
    logged: Option<Option<Reason>>,
    last_duration: Duration,
}

pub struct Zabbix {
    target: Target,
    cfg: ZabbixConfig,
    health: HealthCell,
    state: tokio::sync::Mutex<State>,
}

/// `zabbix:` in the config.
pub const KIND: super::Kind = super::Kind {
    key: "zabbix",
    decode: |d, n, path, global| Arc::new(config::decode(d, n, path, global)),
};

impl super::Entry for ZabbixConfig {
    fn build(entries: &[Self]) -> Result<Vec<Arc<dyn Source>>, String> {
        build(entries)
    }
}

/// Makes the sources of the `zabbix:` section.
pub fn build(cfgs: &[ZabbixConfig]) -> Result<Vec<Arc<dyn Source>>, String> {
    let mut out: Vec<Arc<dyn Source>> = Vec::new();
    for c in cfgs {
        let client = Client::new(&c.url, &c.http, c.credentials.clone())
            .map_err(|e| format!("zabbix {}: {e}", c.name))?;
        let mut h = DefaultHasher::new();
        format!("{c:?}").hash(&mut h);
        match &c.credentials {
            Credentials::Password { password, .. } => password.hash(&mut h),
            Credentials::Token(t) => t.hash(&mut h),
        }
        out.push(Arc::new(Zabbix {
            target: Target {
                kind: "zabbix",
                name: c.name.clone(),
                url: crate::config::redact::url(&c.url),
                interval: c.interval,
                timeout: c.http.timeout,
                key: format!("zabbix/{}/{:016x}", c.name, h.finish()),
            },
            cfg: c.clone(),
            health: HealthCell::default(),
            state: tokio::sync::Mutex::new(State {
                client,
                hostids: None,
                errors: [0; 6],
                failures: 0,
                next_try: None,
                logged: None,
                last_duration: Duration::ZERO,
            }),
        }));
    }
    Ok(out)
}

impl Zabbix {
    /// The host ids to read items of, from the cache or host.get/hostgroup.get.
    async fn hostids(&self, st: &mut State) -> Result<Vec<String>, Failure> {
        if let Some((at, ids)) = &st.hostids {
            if at.elapsed() < HOST_REFRESH {
                return Ok(ids.clone());
            }
        }
        let mut params = json!({"output": ["hostid", "host"], "monitored_hosts": true});
        if !self.cfg.host_groups.is_empty() {
            let filter =
                json!({"output": ["groupid", "name"], "filter": {"name": self.cfg.host_groups}});
            let groups: serde_json::Value = st.client.call("hostgroup.get", &filter).await?;
            self.warn_missing(
                "host group",
                &self.cfg.host_groups,
                &parse_field(&groups, "name")?,
            );
            params["groupids"] = json!(parse_field(&groups, "groupid")?);
        }
        if !self.cfg.hosts.is_empty() {
            params["filter"] = json!({"host": self.cfg.hosts});
        }
        let no_groups = params.get("groupids").is_some_and(|g| g == &json!([]));
        let ids = if no_groups {
            Vec::new()
        } else {
            let hosts: serde_json::Value = st.client.call("host.get", &params).await?;
            if !self.cfg.hosts.is_empty() {
                self.warn_missing("host", &self.cfg.hosts, &parse_field(&hosts, "host")?);
            }
            parse_field(&hosts, "hostid")?
        };
        st.hostids = Some((Instant::now(), ids.clone()));
        Ok(ids)
    }

    fn warn_missing(&self, what: &str, wanted: &[String], found: &[String]) {
        let missing: Vec<&String> = wanted.iter().filter(|w| !found.contains(w)).collect();
        if !missing.is_empty() {
            tracing::warn!(zabbix = %self.cfg.name, ?missing, "configured {what}s not found (or not monitored)");
        }
    }

    async fn collect(&self, st: &mut State, now_ms: i64) -> Result<(Vec<Family>, usize), Failure> {
        st.client.version().await?;
        let ids = self.hostids(st).await?;
        let mut params = item_params(&self.cfg);
        let mut items = Vec::new();
        for chunk in ids.chunks(self.cfg.chunk_size) {
            params["hostids"] = json!(chunk);
            let chunk: Vec<Item> = st.client.call("item.get", &params).await?;
            items.extend(chunk);
        }
        Ok(convert(&self.cfg, &items, now_ms.div_euclid(1000)))
    }

    fn health_families(&self, st: &State, up: bool, items: usize) -> Vec<Family> {
        let name = [("zabbix", self.cfg.name.as_str())];
        let mut errors = Family::counter(
            "zabbix_poll_errors_total",
            "Failed polls of the Zabbix API, by reason.",
        );
        for (r, n) in Reason::ALL.iter().zip(st.errors) {
            errors.add(&[name[0], ("reason", r.as_str())], n as f64);
        }
        let mut out = vec![
            Family::gauge(
                "zabbix_up",
                "1 if the last poll of the Zabbix API succeeded, else 0.",
            )
            .with(&name, if up { 1.0 } else { 0.0 }),
            Family::gauge(
                "zabbix_poll_duration_seconds",
                "How long the last poll of the Zabbix API took.",
            )
            .with(&name, st.last_duration.as_secs_f64()),
            Family::gauge("zabbix_items", "Zabbix items exported by the last poll.")
                .with(&name, items as f64),
            errors,
        ];
        if let Some(v) = st.client.version_string() {
            out.push(
                Family::gauge(
                    "zabbix_api_version_info",
                    "The Zabbix API version (apiinfo.version).",
                )
                .with(&[name[0], ("version", v)], 1.0),
            );
        }
        out
    }

    /// Logs only when the outcome changes (up, or down for another reason).
    fn log_change(&self, st: &mut State, failure: Option<&Failure>) {
        let now = failure.map(|f| f.reason);
        if st.logged == Some(now) {
            return;
        }
        match failure {
            Some(f) => tracing::warn!(zabbix = %self.cfg.name, url = %self.target.url,
                reason = f.reason.as_str(), error = %f.msg, "Zabbix poll failed"),
            None => tracing::info!(zabbix = %self.cfg.name, url = %self.target.url,
                version = st.client.version_string().unwrap_or(""), "Zabbix poll succeeded"),
        }
        st.logged = Some(now);
    }
}

impl Source for Zabbix {
    fn target(&self) -> &Target {
        &self.target
    }
    fn health(&self) -> Health {
        self.health.get()
    }
    /// Items the store refused (a Zabbix clock more than 10 minutes ahead, an older value)
    /// become `lastError`; the poll itself worked.
    fn ingested(&self, report: &crate::sources::sink::Ingested) {
        if let Some(msg) = report.last_error() {
            self.health.set_error(msg);
        }
    }

    fn poll(&self, now_ms: i64) -> BoxFuture<'_, Vec<Family>> {
        Box::pin(async move {
            let mut guard = self.state.lock().await;
            let st = &mut *guard;
            let start = Instant::now();
            if st.next_try.is_some_and(|t| start < t) {
                // Backing off: no request, but the failure stays visible.
                let h = self.health.get();
                self.health
                    .set(false, h.last_error, now_ms, h.last_duration);
                return self.health_families(st, false, 0);
            }
            let timeout = self.cfg.http.timeout;
            let result = tokio::time::timeout(timeout, self.collect(st, now_ms))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::new(
                        Reason::Timeout,
                        format!(
                            "poll took longer than {}",
                            crate::config::yaml::format_duration(timeout)
                        ),
                    ))
                });
            st.last_duration = start.elapsed();
            match result {
                Ok((mut families, count)) => {
                    st.failures = 0;
                    st.next_try = None;
                    self.log_change(st, None);
                    self.health
                        .set(true, String::new(), now_ms, st.last_duration);
                    families.extend(self.health_families(st, true, count));
                    families
                }
                Err(f) => {
                    st.errors[Reason::ALL.iter().position(|r| *r == f.reason).unwrap_or(0)] += 1;
                    st.failures += 1;
                    // Half an interval of slack so the tick that is due is not skipped by jitter.
                    let pause = backoff(self.cfg.interval, st.failures);
                    st.next_try = Some(start + pause - self.cfg.interval / 2);
                    self.log_change(st, Some(&f));
                    self.health
                        .set(false, f.to_string(), now_ms, st.last_duration);
                    self.health_families(st, false, 0)
                }
            }
        })
    }
}
