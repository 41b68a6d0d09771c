//! What the NetEase and Tencent simulators share: neither provider's wire format lives here, only
//! the plumbing a fake provider server needs whatever it fakes, so that a fix to it (an accept
//! loop that sheds connections on shutdown, say) reaches both simulators at once.

pub mod callbacks;
pub mod control;
mod server;

pub use server::{DropConnection, Running};
