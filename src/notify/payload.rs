//! One alert as Alertmanager's JSON writes it: the body of a `POST /api/v2/alerts` item and,
//! with its status and fingerprint, an alert of the webhook payload (Slack and email render
//! from the same).

use serde::Serialize;

use crate::model::Labels;

/// Sorted label pairs serialised as a JSON object.
pub struct LabelObj<'a>(pub &'a Labels);

impl Serialize for LabelObj<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        super::label_map::serialize(self.0, s)
    }
}

/// Alertmanager's `postableAlert` (and the common part of a webhook's alert).
#[derive(Serialize)]
pub struct AlertJson<'a> {
    pub labels: LabelObj<'a>,
    pub annotations: LabelObj<'a>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: &'a str,
}
