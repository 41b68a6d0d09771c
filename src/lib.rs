//! imbridge: the server-side bridge between an e-commerce platform and IM providers.
//!
//! Feature modules own their routes and logic; `app` merges the routers and applies the layers.

pub mod accid;
pub mod accounts;
pub mod app;
pub mod auth;
pub mod backfill;
pub mod backoff;
pub mod callbacks;
pub mod chats;
pub mod cli;
pub mod config;
pub mod console;
pub mod conversations;
pub mod db;
pub mod error;
pub mod health;
pub mod http_metrics;
pub mod memory;
pub mod messages;
pub mod notifications;
pub mod openapi;
pub mod presence;
pub mod providers;
pub mod replay;
pub mod routing;
pub mod unread;
