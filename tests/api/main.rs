//! Black-box tests of the service: the real application on port 0, the NetEase simulator on port 0,
//! a real database (SQLite; MariaDB for the `mariadb::` variants, which need IMBRIDGE_TEST_MYSQL_URL).

#[macro_use]
mod helpers;
#[macro_use]
mod process;

mod accounts;
mod auth;
mod backfill;
mod callbacks;
mod chats;
mod cli;
mod console;
mod conversations;
mod crash;
mod faults;
mod forged;
mod health;
mod hostile;
mod hostile_process;
mod load;
mod notifications;
mod openapi;
mod presence;
mod providers;
mod replay;
mod routing;
mod sandbox;
mod shutdown;
mod startup;
mod tencent;
mod unread;
mod validation;
