//! Bearer-key authentication for `/v1`. Keys are compared as SHA-256 digests in constant time, and
//! every configured key is compared on every request, so neither timing nor key length tells an
//! attacker how close a guess was. Keys never reach logs: only their digests are kept.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::AppError;

/// The accepted API keys, as digests. Empty = authentication off (loopback-only deployments).
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Arc<[[u8; 32]]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

impl ApiKeys {
    pub fn new(keys: &[SecretString]) -> Self {
        Self { digests: keys.iter().map(|k| digest(k.expose_secret())).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the keys. Constant time in the key's value.
    pub fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        let mut found = subtle::Choice::from(0);
        for key in self.digests.iter() {
            found |= key.ct_eq(&presented);
        }
        found.into()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The key in `Authorization: Bearer <key>` (scheme case-insensitive).
fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// Middleware: 401 unless the request carries a configured key (or no keys are configured).
pub async fn require_api_key(State(keys): State<ApiKeys>, request: Request, next: Next) -> Result<Response, AppError> {
    if keys.is_empty() {
        return Ok(next.run(request).await);
    }
    match bearer(&request) {
        Some(key) if keys.accepts(key) => Ok(next.run(request).await),
        _ => Err(AppError::Unauthorized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_keys() {
        let keys =
            ApiKeys::new(&[SecretString::from("first-key-0123456789"), SecretString::from("second-key-0123456789")]);
        assert!(keys.accepts("first-key-0123456789"));
        assert!(keys.accepts("second-key-0123456789"));
        assert!(!keys.accepts("first-key-012345678"));
        assert!(!keys.accepts(""));
        assert!(!format!("{keys:?}").contains("first"));
    }
}
