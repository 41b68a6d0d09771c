//! Tencent Cloud IM ("Chat"): UserSig v2, a typed REST client, callback verification and parsing,
//! the [`imbridge_provider::ImProvider`] implementation, and a simulator of Tencent's server.
//! Protocol notes: shared/providers/tencent.md.

pub mod callback;
pub mod client;
pub mod config;
pub mod error;
pub mod provider;
pub mod sign;
pub mod sim;
pub mod usersig;
pub mod validate;

pub use client::TencentClient;
pub use config::TencentConfig;
pub use error::TencentError;
pub use provider::TencentProvider;
