//! How an outbound delivery failed and whether to try again: one classification of HTTP answers
//! and transport errors, one backoff, shared by the notifiers and remote_write.

use super::FetchError;

/// Why a delivery failed. `reason` is a bounded set of values for the failure counter:
/// `connect`, `timeout`, `http_5xx`, `http_429`, `http_4xx`, `http_other`, `smtp_transient`,
/// `smtp_permanent`, `tls`, `encode`.
#[derive(Clone, Debug, PartialEq)]
pub struct SendError {
    /// Worth trying again (connection refused, timeout, 5xx, 429, SMTP 4xx); otherwise the
    /// message is dropped after counting, as a retry would get the same answer.
    pub retryable: bool,
    pub reason: &'static str,
    pub message: String,
}

impl SendError {
    pub fn new(retryable: bool, reason: &'static str, message: impl Into<String>) -> Self {
        SendError {
            retryable,
            reason,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.reason)
    }
}

/// The result of an HTTP POST: 2xx is delivered; 429 and 5xx are worth a retry; any other
/// status is permanent (a malformed payload or bad credentials do not heal by themselves). The
/// message quotes the start of the answer without the request's credentials
/// ([`super::Fetched::excerpt`]).
pub fn classify_response(r: &super::Fetched) -> Result<(), SendError> {
    if (200..300).contains(&r.status) {
        return Ok(());
    }
    classify_status(r.status, &r.excerpt())
}

/// [`classify_response`] of a status and the excerpt of its body.
pub fn classify_status(status: u16, excerpt: &str) -> Result<(), SendError> {
    let text = || format!("bad response status {status}: {excerpt}");
    match status {
        200..=299 => Ok(()),
        429 => Err(SendError::new(true, "http_429", text())),
        500..=599 => Err(SendError::new(true, "http_5xx", text())),
        400..=499 => Err(SendError::new(false, "http_4xx", text())),
        _ => Err(SendError::new(false, "http_other", text())),
    }
}

/// A transport failure from [`super::fetch`]: all worth a retry.
pub fn classify_fetch(e: FetchError) -> SendError {
    match e {
        FetchError::Timeout => SendError::new(true, "timeout", "request timed out"),
        FetchError::BodyTooLarge(n) => {
            SendError::new(false, "http_other", format!("response over {n} bytes"))
        }
        other => SendError::new(true, "connect", other.to_string()),
    }
}

pub const BACKOFF_INITIAL_MS: i64 = 250;
pub const BACKOFF_MAX_MS: i64 = 10_000;

/// Delay before retry number `attempt` (1 = the first retry): 250 ms doubling up to 10 s.
pub fn backoff_ms(attempt: u32) -> i64 {
    let shift = attempt.saturating_sub(1).min(16);
    (BACKOFF_INITIAL_MS << shift).min(BACKOFF_MAX_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classification_decides_retries() {
        assert!(classify_status(200, "").is_ok());
        assert!(classify_status(204, "").is_ok());
        let e = classify_status(503, "down").unwrap_err();
        assert!(e.retryable && e.reason == "http_5xx" && e.message.contains("down"));
        let e = classify_status(429, "").unwrap_err();
        assert!(e.retryable && e.reason == "http_429");
        let e = classify_status(400, "bad alert").unwrap_err();
        assert!(!e.retryable && e.reason == "http_4xx");
        let e = classify_status(401, "").unwrap_err();
        assert!(!e.retryable);
        let e = classify_status(302, "").unwrap_err();
        assert!(!e.retryable && e.reason == "http_other");
        use crate::http_client::FetchError;
        let e = classify_fetch(FetchError::Connect("refused".into()));
        assert!(e.retryable && e.reason == "connect");
        assert_eq!(classify_fetch(FetchError::Timeout).reason, "timeout");
    }
}
