//! Push ingest: applications that cannot be scraped push to telltale, in Pushgateway's API
//! (`PUT`/`POST`/`DELETE /metrics/job/<job>{/<label>/<value>}`, text format) or as the seed
//! platform's JSON (`POST /api/v1/metrics`). Each push group is one source of the sample store,
//! so its series reach `/metrics`, the rules and remote_write; the store holds the group's
//! families and this registry only what the checks need (names, types, counts, push times).
//!
//! A request is checked whole before anything is written (parse, pushgateway's consistency
//! rules, the `push:` limits, the store's series limit) and then written in one ingest. Groups
//! are re-ingested every scrape interval, as if a Prometheus scraped a pushgateway, so rules see
//! pushed series as present until they are replaced, deleted or expire. The registry belongs
//! to the app, not to one configuration: a reload keeps every group.

pub mod config;
pub mod grouping;
pub mod json;
mod refusal;
mod state;
pub mod text;

pub use config::PushConfig;
pub use refusal::{Mode, Refusal};
pub use state::Registry;

/// Store sources of push groups start with this; reloads leave them alone.
pub const SOURCE_PREFIX: &str = "push:";

#[cfg(test)]
mod tests;
