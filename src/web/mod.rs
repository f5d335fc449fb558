//! The web layer's own configuration (`--web.config.file`): TLS, basic auth, response headers,
//! rate limit; picked up without a restart.
//!
//! Reloading: when a connection is accepted or a request arrives (at most once a second) the
//! file and every certificate/key/CA file it names are `stat`ed; if any modification time, size
//! or inode changed, the file is read and checked in full (certificates loaded, hashes parsed)
//! and, when good, used for every connection and request from then on. SIGHUP forces the same
//! re-read. A bad file is logged (once per change) and the previous configuration stays in force.

pub mod api;
pub mod auth;
pub mod config;
pub mod push;
pub mod router;
pub mod serve;
pub mod status_page;
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::middleware::from_fn_with_state;
use axum::Router;

pub use config::WebConfig;

/// One loaded web config and what was built from it.
pub struct Active {
    pub config: WebConfig,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    bucket: Mutex<auth::Bucket>,
}

impl Active {
    fn new(config: WebConfig, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let burst = config.rate_limit.map_or(0, |(_, b)| b);
        Active {
            config,
            tls,
            bucket: Mutex::new(auth::Bucket {
                tokens: f64::from(burst),
                at: Instant::now(),
            }),
        }
    }

    /// Whether the rate limit lets one more request through.
    pub fn take_token(&self, now: Instant) -> bool {
        let Some((interval, burst)) = self.config.rate_limit else {
            return true;
        };
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        b.take(interval, burst, now)
    }
}

/// What a change check compares: (path, mtime, size, inode) of every file involved.
type Signature = Vec<(PathBuf, Option<(std::time::SystemTime, u64, u64)>)>;

struct Watch {
    checked: Option<Instant>,
    signature: Signature,
}

/// The web config in force, shared by the accept loop and the auth layers.
pub struct WebState {
    path: Option<PathBuf>,
    current: RwLock<Arc<Active>>,
    watch: Mutex<Watch>,
    pub(crate) cache: auth::Cache,
    pub(crate) bcrypt_slots: tokio::sync::Semaphore,
}

fn signature(path: &Path, cfg: &WebConfig) -> Signature {
    use std::os::unix::fs::MetadataExt;
    let mut files = vec![path.to_path_buf()];
    if let Some(t) = &cfg.tls {
        for pem in [Some(&t.cert), Some(&t.key), t.client_ca.as_ref()]
            .into_iter()
            .flatten()
        {
            if let config::Pem::File(p) = pem {
                files.push(p.clone());
            }
        }
    }
    files
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len(), m.ino())));
            (p, meta)
        })
        .collect()
}

/// Reads, decodes and builds a web config file; the errors are positioned diagnostics.
pub fn load(path: &Path) -> Result<Active, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{name}: cannot read web config: {e}"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let join = |ds: Vec<crate::config::yaml::Diag>| {
        ds.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let cfg = config::parse(&name, &text, dir).map_err(join)?;
    let tls = match &cfg.tls {
        Some(t) => Some(tls::build(&name, t).map_err(join)?),
        None => None,
    };
    Ok(Active::new(cfg, tls))
}

impl WebState {
    /// No web config file: plain HTTP, no authentication.
    pub fn open() -> Self {
        Self::with(None, Active::new(WebConfig::default(), None), Vec::new())
    }

    /// Loads `path`; an error here stops startup.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let active = load(path)?;
        let sig = signature(path, &active.config);
        Ok(Self::with(Some(path.to_path_buf()), active, sig))
    }

    fn with(path: Option<PathBuf>, active: Active, signature: Signature) -> Self {
        WebState {
            path,
            current: RwLock::new(Arc::new(active)),
            watch: Mutex::new(Watch {
                checked: Some(Instant::now()),
                signature,
            }),
            cache: auth::Cache::default(),
            bcrypt_slots: tokio::sync::Semaphore::new(2),
        }
    }

    pub fn current(&self) -> Arc<Active> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Re-reads the file when it (or a file it names) changed; at most once a second.
    pub fn check_for_changes(&self) {
        let _ = self.refresh(false);
    }

    /// Re-reads the file now (SIGHUP). `Ok(false)`: no web config file.
    pub fn reload(&self) -> Result<bool, String> {
        self.refresh(true)
    }

    fn refresh(&self, force: bool) -> Result<bool, String> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let now = Instant::now();
        let mut w = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        if !force
            && w.checked
                .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return Ok(true);
        }
        w.checked = Some(now);
        let cur = self.current();
        let sig = signature(path, &cur.config);
        if !force && sig == w.signature {
            return Ok(true);
        }
        w.signature = sig;
        match load(path) {
            Ok(active) => {
                // The new file may name other certificate files: watch those from now on.
                w.signature = signature(path, &active.config);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(active);
                tracing::info!(file = %path.display(), "web config loaded");
                Ok(true)
            }
            Err(e) => {
                tracing::error!(err = %e, "web config not reloaded; keeping the previous one");
                Err(e)
            }
        }
    }
}

/// Puts read and write routes behind their authentication layers: every read route needs a
/// `basic_auth_users` user (when there are any), every write route a `telltale_write_users`
/// user. A new write endpoint goes into `writes` and is covered with nothing else to do.
pub fn routes<S: Clone + Send + Sync + 'static>(
    reads: Router<S>,
    writes: Router<S>,
    web: &Arc<WebState>,
) -> Router<S> {
    let w = Arc::clone(web);
    reads
        .route_layer(from_fn_with_state(Arc::clone(web), auth::guard_read))
        .merge(writes.route_layer(from_fn_with_state(Arc::clone(web), auth::guard_write)))
        .fallback(move |req: axum::extract::Request| {
            auth::not_found(axum::extract::State(Arc::clone(&w)), req)
        })
        .layer(from_fn_with_state(Arc::clone(web), auth::common))
}

#[cfg(test)]
mod tests;
