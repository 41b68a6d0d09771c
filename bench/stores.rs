//! The message store a figure runs against, opened directly (for the no-HTTP baselines) at the same
//! place the service opens it: the embedded SQLite file in the data directory, or a MongoDB
//! database of its own for this run, dropped afterwards.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use imbridge::messages::{EmbeddedMessageStore, MessageStore, MongoMessageStore};

/// What the service keeps raw bodies for by default (`callbacks.raw_retention_days`).
pub const RAW_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The environment variable the tests read the MongoDB URI from; the bench reads it too.
pub const MONGO_URI_VAR: &str = "IMBRIDGE_TEST_MONGODB_URI";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// SQLite in the data directory (the default without `mongodb_uri`).
    Embedded,
    /// MongoDB (SecantusDB here), through `--mongo-uri` or IMBRIDGE_TEST_MONGODB_URI.
    Mongo,
}

/// Where one run's messages live.
#[derive(Debug, Clone)]
pub enum StoreTarget {
    Embedded { data_dir: PathBuf },
    Mongo { uri: String, database: String },
}

impl StoreTarget {
    /// A fresh target: a store in `data_dir`, or a new uniquely named MongoDB database.
    pub fn fresh(kind: StoreKind, data_dir: &Path, mongo_uri: Option<&str>) -> anyhow::Result<Self> {
        Ok(match kind {
            StoreKind::Embedded => StoreTarget::Embedded { data_dir: data_dir.to_owned() },
            StoreKind::Mongo => {
                let uri = mongo_uri
                    .map(str::to_owned)
                    .or_else(|| std::env::var(MONGO_URI_VAR).ok().filter(|v| !v.trim().is_empty()))
                    .with_context(|| format!("--store mongo needs --mongo-uri or {MONGO_URI_VAR}"))?;
                let database = format!("imbridge_bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
                StoreTarget::Mongo { uri, database }
            }
        })
    }

    /// Environment for the service so that it opens this store.
    pub fn server_env(&self) -> Vec<(String, String)> {
        match self {
            StoreTarget::Embedded { .. } => vec![("IMBRIDGE_MONGODB_URI".into(), String::new())],
            StoreTarget::Mongo { uri, database } => {
                vec![("IMBRIDGE_MONGODB_URI".into(), with_database(uri, database))]
            }
        }
    }

    /// Open the store directly, as the service would.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn MessageStore>> {
        Ok(match self {
            StoreTarget::Embedded { data_dir } => {
                let url = format!("sqlite://{}", embedded_file(data_dir).display());
                Arc::new(EmbeddedMessageStore::open(&url, RAW_RETENTION).await.context("open the embedded store")?)
            }
            StoreTarget::Mongo { uri, database } => Arc::new(
                MongoMessageStore::connect(uri, database, RAW_RETENTION)
                    .await
                    .with_context(|| format!("connect to MongoDB at {}", redact(uri)))?,
            ),
        })
    }

    /// Remove what the run stored (the MongoDB database; the embedded file goes with its directory).
    pub async fn discard(&self) -> anyhow::Result<()> {
        if let StoreTarget::Mongo { uri, database } = self {
            let client = mongodb::Client::with_uri_str(uri).await?;
            client.database(database).drop().await.with_context(|| format!("drop database {database}"))?;
        }
        Ok(())
    }

    pub fn describe(&self) -> String {
        match self {
            StoreTarget::Embedded { data_dir } => {
                format!("embedded SQLite {}", embedded_file(data_dir).display())
            }
            StoreTarget::Mongo { uri, database } => {
                format!("MongoDB {} database {database}", redact(uri))
            }
        }
    }
}

/// The embedded store's file inside the service's data directory.
pub fn embedded_file(data_dir: &Path) -> PathBuf {
    data_dir.join("messages.db")
}

/// `mongodb://hosts/?opts` with `database` as its path: how the service is told which database.
pub fn with_database(uri: &str, database: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let end_of_hosts = rest.find(['/', '?']).unwrap_or(rest.len());
    let (hosts, tail) = rest.split_at(end_of_hosts);
    let query = tail.split_once('?').map(|(_, q)| q);
    match query {
        Some(q) => format!("{scheme}://{hosts}/{database}?{q}"),
        None => format!("{scheme}://{hosts}/{database}"),
    }
}

/// The URI without a password, for printing.
pub fn redact(uri: &str) -> String {
    match (uri.split_once("://"), uri.find('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (userinfo, hosts) = rest.split_once('@').unwrap_or(("", rest));
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{hosts}")
        }
        _ => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_goes_into_the_uri_path() {
        assert_eq!(
            with_database("mongodb://127.0.0.1:27017/?directConnection=true", "b1"),
            "mongodb://127.0.0.1:27017/b1?directConnection=true"
        );
        assert_eq!(with_database("mongodb://h1,h2/old", "b1"), "mongodb://h1,h2/b1");
        assert_eq!(with_database("mongodb://h1?replicaSet=rs0", "b1"), "mongodb://h1/b1?replicaSet=rs0");
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(redact("mongodb://u:secret@h/x"), "mongodb://u:***@h/x");
        assert_eq!(redact("mongodb://h/x"), "mongodb://h/x");
    }
}
