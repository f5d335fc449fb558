//! How push requests end when they do not succeed, and how a push changes its group.

/// `PUT` replaces the group; `POST` replaces only the metric names it pushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Replace,
    Merge,
}

/// A refused request: HTTP status, the `reason` label of `telltale_push_rejected_total`, and
/// the message the client gets.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Every reason, so the counter shows each from the start.
pub const REASONS: &[&str] = &[
    "body_too_large",
    "too_many_samples",
    "malformed",
    "invalid",
    "timestamp",
    "samples_rejected",
    "unsupported_media_type",
    "group_series_limit",
    "job_series_limit",
    "series_limit",
    "storage_full",
];
