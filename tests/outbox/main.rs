//! The notification outbox end to end below HTTP: store + worker + the real NetEase provider
//! against the NetEase simulator, on SQLite and on MariaDB (the same scenario on both backends;
//! MariaDB runs need IMBRIDGE_TEST_MYSQL_URL and `--include-ignored`).

mod support;

mod delivery;
mod failures;
mod intake;
mod leases;
mod requeue;
mod restart;

/// For each scenario `async fn name(Backend)`, a test module `name` with a `sqlite` test and a
/// `mysql` test (ignored unless MariaDB is provided).
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario($crate::support::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs MariaDB"]
            async fn mysql() {
                super::$scenario($crate::support::Backend::MySql).await
            }
        }
    )*};
}
