//! Logs as Prometheus' tools write them: logfmt (`ts=… level=info msg="…" key=value`) or JSON.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

struct Logfmt;

struct Fields<'a> {
    msg: Option<String>,
    rest: &'a mut String,
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field.name(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field.name(), format!("{value:?}"));
    }
}

impl Fields<'_> {
    fn push(&mut self, key: &str, value: String) {
        if key == "message" {
            self.msg = Some(value);
            return;
        }
        self.rest.push(' ');
        self.rest.push_str(key);
        self.rest.push('=');
        self.rest.push_str(&quote(&value));
    }
}

/// Quotes a logfmt value when it has spaces, quotes or `=`.
pub fn quote(v: &str) -> String {
    if !v.is_empty() && !v.contains([' ', '"', '=', '\n', '\t']) {
        return v.to_string();
    }
    format!("{v:?}")
}

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        ev: &Event<'_>,
    ) -> fmt::Result {
        let mut rest = String::new();
        let mut fields = Fields {
            msg: None,
            rest: &mut rest,
        };
        ev.record(&mut fields);
        let msg = fields.msg.take().unwrap_or_default();
        let level = match *ev.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warn",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let ts = crate::model::time::rfc3339_millis(std::time::SystemTime::now());
        writeln!(w, "ts={ts} level={level} msg={}{rest}", quote(&msg))
    }
}

/// Installs the global subscriber; `level` is one of debug/info/warn/error.
pub fn init(level: &str, format: &str) {
    let lvl = match level {
        "debug" => Level::DEBUG,
        "warn" => Level::WARN,
        "error" => Level::ERROR,
        _ => Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(lvl)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.event_format(Logfmt).try_init()
    };
}

/// What `f` logs (debug and up, in the logfmt format) on this thread, for tests of log lines.
#[cfg(test)]
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, String) {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let out = buf.clone();
    let sub = tracing_subscriber::fmt()
        .with_max_level(Level::DEBUG)
        .with_writer(move || out.clone())
        .event_format(Logfmt)
        .finish();
    let r = tracing::subscriber::with_default(sub, f);
    let text =
        String::from_utf8_lossy(&buf.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    (r, text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn captured_lines() {
        let ((), log) = super::capture(|| {
            tracing::debug!(n = 1, "one");
            tracing::info!("two words");
        });
        assert!(log.contains("level=debug msg=one n=1\n"), "{log}");
        assert!(log.contains("level=info msg=\"two words\"\n"), "{log}");
    }

    #[test]
    fn quoting() {
        assert_eq!(super::quote("plain"), "plain");
        assert_eq!(super::quote("two words"), "\"two words\"");
        assert_eq!(super::quote(""), "\"\"");
        assert_eq!(super::quote("a=b"), "\"a=b\"");
    }
}
