//! Go-template-like expansion of alert labels and annotations: the subset of Go's
//! `text/template` and Prometheus' template functions that rule files use, with output
//! matching Prometheus 2.42 byte for byte (checked against promtool in the tests).
//!
//! Supported: text, `{{ pipeline }}`, `{{- -}}` trimming, comments, `$labels`, `$value`,
//! `$externalLabels`, `$externalURL`, `$`, `.Labels.x`, `.Value`, `.ExternalLabels.x`, and
//! telltale's `$inputs` / `.Inputs.x` (the named input values of a rule kind such as
//! `correlate`, a `map[string]float64`: a missing name reads as 0, as in Go), variables
//! (`:=`, `=`), pipelines and parenthesised sub-pipelines, `if`/`else if`/`else`/`with`/`range`,
//! Go's `and or not len index print printf println eq ne lt le gt ge`, and Prometheus'
//! `humanize humanize1024 humanizeDuration humanizePercentage humanizeTimestamp title toUpper
//! toLower stripPort match reReplaceAll externalURL`. Functions needing a query engine
//! (`query`, `first`, ...) and `define`/`template` are load-time errors naming them.
//! Execution errors name the failing function but not Go's line:column.

mod exec;
mod funcs;
mod gofmt;
mod lex;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

pub type StrMap = BTreeMap<String, String>;
/// Named numbers: the inputs of a rule kind (`$inputs`).
pub type FloatMap = BTreeMap<String, f64>;

/// A template value: Go's dynamic types as far as alert templates can produce them.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Map(Arc<StrMap>),
    /// Go's `map[string]float64` (`$inputs`).
    Floats(Arc<FloatMap>),
    /// The data struct itself (`.` at the top level, `$`).
    Root,
}

/// What one expansion sees: Prometheus' `AlertTemplateData`.
#[derive(Clone, Debug, Default)]
pub struct Data {
    /// The result sample's labels, `__name__` included.
    pub labels: Arc<StrMap>,
    pub external_labels: Arc<StrMap>,
    pub external_url: String,
    pub value: f64,
    /// The named values of a rule kind's inputs for this alert (empty for an `expr` rule).
    pub inputs: Arc<FloatMap>,
}

/// A parsed template. `name` is Prometheus' `__alert_<rule>` and appears in messages.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    source: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `text`; the error reads like Prometheus':
    /// `error parsing template __alert_X: template: __alert_X:1: function "foo" not defined`.
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        let nodes = parse::parse(text)
            .map_err(|e| format!("error parsing template {name}: template: {name}:{e}"))?;
        Ok(Template {
            name: name.to_string(),
            source: text.to_string(),
            nodes,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Expands, or returns the error text Prometheus would log.
    pub fn execute(&self, data: &Data) -> Result<String, String> {
        exec::run(&self.nodes, data).map_err(|e| {
            let n = &self.name;
            format!("error executing template {n}: template: {n}: executing \"{n}\" {e}")
        })
    }

    /// Expands; a failure becomes `<error expanding template: ...>` as in Prometheus (the
    /// evaluation goes on).
    pub fn expand(&self, data: &Data) -> String {
        self.execute(data)
            .unwrap_or_else(|e| format!("<error expanding template: {e}>"))
    }
}
