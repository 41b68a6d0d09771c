//! Provider callbacks ("消息抄送"): the path of one callback, top to bottom —
//! raw bytes in → verify (provider, over the raw bytes) → parse into provider-neutral events →
//! store durably (group commit: one bulk write for every callback waiting at that moment) → ack.
//!
//! Nothing is acknowledged before it is durable: a store that is down answers 503 so the provider
//! may retry, and a signed body we cannot parse is dead-lettered (kept raw) and acknowledged.

pub mod activity;
pub mod batcher;
mod ingest;

pub(crate) use ingest::parse;
pub use ingest::{router, ApiDoc, Ingest, IngestMode};
