//! Decoding of the keys every grouping receiver has (`name`, grouping, `send_resolved`,
//! `max_alerts`); each receiver kind decodes its own keys in its file.

use super::config::ReceiverCommon;
use super::group::GroupSettings;
use crate::config::common::positive_duration;
use crate::config::yaml::{Decoder, Fields};

/// `name`, the grouping keys, `send_resolved` (Alertmanager's defaults: true for webhooks,
/// false for email and Slack) and `max_alerts`.
pub fn decode_common(
    d: &mut Decoder,
    f: &mut Fields,
    send_resolved: bool,
) -> Option<ReceiverCommon> {
    let name = match f.get("name") {
        Some(v) => d.string(v, &f.at("name")).filter(|s| {
            let ok = !s.is_empty();
            if !ok {
                d.error(v.pos, &f.at("name"), "must not be empty");
            }
            ok
        }),
        None => {
            d.error(f.pos, &f.path, "a receiver needs a name");
            None
        }
    };
    let mut g = GroupSettings {
        send_resolved,
        ..GroupSettings::default()
    };
    if let Some(v) = f.get("group_by") {
        let p = f.at("group_by");
        let labels = d.string_list(v, &p);
        if labels.iter().any(|l| l == "...") {
            if labels.len() > 1 {
                d.error(v.pos, &p, "\"...\" must be the only element of group_by");
            }
            g.group_by = None;
        } else {
            for l in &labels {
                if !crate::model::labels::is_label_name(l) {
                    d.error(v.pos, &p, format!("invalid label name {l:?}"));
                }
            }
            g.group_by = Some(labels);
        }
    }
    if let Some(v) = f.get("group_wait") {
        if let Some(t) = d.duration(v, &f.at("group_wait")) {
            g.group_wait_ms = t.as_millis() as i64;
        }
    }
    if let Some(t) = positive_duration(d, f, "group_interval") {
        g.group_interval_ms = t.as_millis() as i64;
    }
    if let Some(t) = positive_duration(d, f, "repeat_interval") {
        g.repeat_interval_ms = t.as_millis() as i64;
    }
    if let Some(v) = f.get("send_resolved") {
        g.send_resolved = d.bool(v, &f.at("send_resolved")).unwrap_or(g.send_resolved);
    }
    let mut max_alerts = 0;
    if let Some(v) = f.get("max_alerts") {
        max_alerts = d.u64(v, &f.at("max_alerts")).unwrap_or(0) as usize;
    }
    Some(ReceiverCommon {
        name: name?,
        group: g,
        max_alerts,
    })
}
