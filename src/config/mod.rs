//! How configuration is read, never what it contains: the strict YAML decoder with positioned
//! problems, the helpers sections share, and the redacted view of a file. The sections' own
//! types and decoders live with their components; the root config is assembled in `app`.

pub mod common;
pub mod redact;
pub mod yaml;
