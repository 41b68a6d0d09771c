//! Black-box tests of the service: the real application on port 0, the NetEase simulator on port 0,
//! a real database (SQLite; MariaDB for the `mariadb::` variants, which need IMBRIDGE_TEST_MYSQL_URL).

#[macro_use]
mod helpers;

mod accounts;
mod auth;
mod callbacks;
mod chats;
mod cli;
mod health;
mod notifications;
mod sandbox;
mod startup;
mod unread;
mod validation;
