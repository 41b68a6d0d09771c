//! Environment variables as a figment provider, with one naming rule in both directions:
//! `IMBRIDGE_<KEY>` for a top-level key, `IMBRIDGE_<SECTION>_<KEY>` for a key in a section.
//!
//! figment's own `Env` provider parses values TOML-style (`123` becomes a number, `[a` stays a
//! string), which turns an all-digit app secret into a number and fails on a string field. Here
//! every value stays a string; the configuration is extracted *lossily*, so numeric and boolean
//! keys still accept `"30"` and `"true"`.

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

pub const PREFIX: &str = "IMBRIDGE_";

/// The sections of `config/default.toml`; a variable whose name starts with one of them (plus `_`)
/// sets a key inside it.
pub const SECTIONS: &[&str] = &[
    "http",
    "log",
    "netease",
    "tencent",
    "sandbox",
    "callbacks",
    "outbox",
    "storage",
    "export",
    "backfill",
    "routing",
    "console",
];

/// The environment variable that sets the key at `path` (e.g. `["netease", "app_key"]`).
pub fn var_name(path: &[impl AsRef<str>]) -> String {
    let joined: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
    format!("{PREFIX}{}", joined.join("_").to_ascii_uppercase())
}

/// The key path a variable sets, or `None` when it is not ours.
fn key_path(var: &str) -> Option<Vec<String>> {
    let rest = var.get(..PREFIX.len()).filter(|p| p.eq_ignore_ascii_case(PREFIX)).map(|_| &var[PREFIX.len()..])?;
    let rest = rest.to_ascii_lowercase();
    if rest.is_empty() {
        return None;
    }
    for section in SECTIONS {
        // `IMBRIDGE_OUTBOX_LEASE_MS`; figment's `__` nesting style (`IMBRIDGE_OUTBOX__LEASE_MS`) too.
        if let Some(key) = rest.strip_prefix(section).and_then(|r| r.strip_prefix("__").or_else(|| r.strip_prefix('_')))
        {
            if !key.is_empty() {
                return Some(vec![(*section).to_owned(), key.to_owned()]);
            }
        }
    }
    Some(vec![rest])
}

/// A set of `IMBRIDGE_*` variables: the process environment in production, a fixed list in tests
/// (tests run in parallel and must not touch the process environment).
pub struct EnvVars {
    vars: Vec<(String, String)>,
}

impl EnvVars {
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self { vars: vars.into_iter().collect() }
    }

    pub fn from_process() -> Self {
        Self::new(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))))
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("`{PREFIX}*` environment variables"))
            .interpolater(|_: &Profile, path: &[&str]| var_name(path))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut root = Dict::new();
        for (var, value) in &self.vars {
            let Some(path) = key_path(var) else { continue };
            let value = Value::from(value.trim().to_owned());
            match path.as_slice() {
                [key] => {
                    root.insert(key.clone(), value);
                }
                [section, key] => {
                    let entry = root.entry(section.clone()).or_insert_with(|| Value::from(Dict::new()));
                    if let Value::Dict(_, dict) = entry {
                        dict.insert(key.clone(), value);
                    }
                }
                _ => unreachable!("key paths have one or two parts"),
            }
        }
        Ok(Profile::Default.collect(root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        assert_eq!(key_path("IMBRIDGE_LISTEN"), Some(vec!["listen".to_owned()]));
        assert_eq!(key_path("IMBRIDGE_NETEASE_APP_KEY"), Some(vec!["netease".to_owned(), "app_key".to_owned()]));
        assert_eq!(key_path("IMBRIDGE_OUTBOX__LEASE_MS"), Some(vec!["outbox".to_owned(), "lease_ms".to_owned()]));
        assert_eq!(key_path("IMBRIDGE_TEST_MYSQL_URL"), Some(vec!["test_mysql_url".to_owned()]));
        assert_eq!(key_path("PATH"), None);
        assert_eq!(key_path("IMBRIDGE_"), None);
        assert_eq!(var_name(&["netease", "app_key"]), "IMBRIDGE_NETEASE_APP_KEY");
        assert_eq!(var_name(&["database_url"]), "IMBRIDGE_DATABASE_URL");
    }
}
