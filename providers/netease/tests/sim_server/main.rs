//! The NetEase simulator, black-box over HTTP on port 0: protocol, validation, limits, faults,
//! persistence and signed callbacks. Run with `cargo test -p imbridge-netease sim`.

mod helpers;
mod sim_auth;
mod sim_callbacks;
mod sim_faults;
mod sim_friends;
mod sim_lifecycle;
mod sim_limits;
mod sim_msgs;
mod sim_persist;
mod sim_shapes;
mod sim_users;
