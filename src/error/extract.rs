//! Extractors whose rejections are [`AppError`]s, so malformed input gets the same `{code, message,
//! field}` body as every other error (axum's own rejections answer plain text).

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::AppError;

/// A JSON body. Unknown fields (with `#[serde(deny_unknown_fields)]`) → 400 `unknown_field`;
/// syntax errors → 400 `invalid_json`; wrong types and missing fields → 422 `invalid_field`.
/// `field` is the path of the offending value, e.g. `buyer.account`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(AppError::UnsupportedMediaType);
        }
        decode(&body_bytes(req, state).await?).map(ApiJson)
    }
}

/// A JSON body that may be left out: no body at all is `None`; any body is read as [`ApiJson`]
/// reads it (415 without a JSON Content-Type, 413 over the limit, 400/422 as for every body).
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalApiJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let bytes = body_bytes(req, state).await?;
        match (bytes.is_empty(), json) {
            (true, _) => Ok(OptionalApiJson(None)),
            (false, false) => Err(AppError::UnsupportedMediaType),
            (false, true) => decode(&bytes).map(|value| OptionalApiJson(Some(value))),
        }
    }
}

/// The whole body, within the route's limit (413 beyond it, as a JSON error).
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge { limit: None }
        } else {
            AppError::BadRequest { code: "invalid_request", message: rejection.body_text(), field: None }
        }
    })
}

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Deserialize `bytes`, reporting where it failed.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        classify(&path, &inner)
    })?;
    de.end().map_err(|err| AppError::BadRequest {
        code: "invalid_json",
        message: format!("request body is not valid JSON: {err}"),
        field: None,
    })?;
    Ok(value)
}

fn classify(path: &str, err: &serde_json::Error) -> AppError {
    use serde_json::error::Category;
    let message = err.to_string();
    match err.classify() {
        Category::Io | Category::Syntax | Category::Eof => AppError::BadRequest {
            code: "invalid_json",
            message: format!("request body is not valid JSON: {message}"),
            field: None,
        },
        Category::Data => classify_data(path, &message),
    }
}

/// A well-formed request whose content does not fit: an unknown field is 400 `unknown_field`
/// (the request is not this route's), anything else 422 `invalid_field`.
fn classify_data(path: &str, message: &str) -> AppError {
    // serde names a missing field in its message, and the path is then its parent; for an
    // unknown field the path already ends with it.
    let named = backticked(message).filter(|_| message.starts_with("missing field"));
    let field = match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (".", None) => "(body)".to_owned(),
        (path, None) => path.to_owned(),
    };
    if message.starts_with("unknown field") {
        AppError::BadRequest { code: "unknown_field", message: format!("{field}: {message}"), field: Some(field) }
    } else {
        AppError::Invalid { field, message: message.to_owned() }
    }
}

/// The text between the first pair of backticks.
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Path parameters; a rejection becomes a 400 `invalid_request`.
#[derive(Debug, Clone, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct ApiPath<T>(pub T);

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::BadRequest { code: "invalid_request", message: rejection.body_text(), field: None }
    }
}

/// A query string, with the same rule as a JSON body: an unknown parameter → 400 `unknown_field`;
/// a missing one or a value of the wrong type → 422 `invalid_field`, `field` naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|err| {
            let path = err.path().to_string();
            classify_data(&path, &err.into_inner().to_string())
        })
    }
}

/// An HTML form's body (`application/x-www-form-urlencoded`; the operator console), with the rule
/// of [`ApiQuery`]; a body that cannot be read → 400 `invalid_request`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiForm<T>(pub T);

impl<T, S> FromRequest<S> for ApiForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(request, state).await.map_err(|rejection| AppError::BadRequest {
            code: "invalid_request",
            message: rejection.body_text(),
            field: None,
        })?;
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(&body));
        serde_path_to_error::deserialize(de).map(ApiForm).map_err(|err| {
            let path = err.path().to_string();
            classify_data(&path, &err.into_inner().to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Side {
        account: String,
        name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Chat {
        buyer: Side,
        seller: Side,
    }

    fn field_of(body: &str) -> (u16, Option<String>, &'static str) {
        let err = decode::<Chat>(body.as_bytes()).unwrap_err();
        let field = match &err {
            AppError::BadRequest { field, .. } => field.clone(),
            AppError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        (err.status().as_u16(), field, err.code())
    }

    #[test]
    fn errors_name_the_nested_field() {
        let seller = r#""seller":{"account":"s"}"#;
        assert_eq!(
            field_of(&format!(r#"{{"buyer":{{"account":"b","nick":"x"}},{seller}}}"#)),
            (400, Some("buyer.nick".into()), "unknown_field")
        );
        assert_eq!(
            field_of(&format!(r#"{{"buyer":{{"account":5}},{seller}}}"#)),
            (422, Some("buyer.account".into()), "invalid_field")
        );
        assert_eq!(
            field_of(&format!(r#"{{"buyer":{{"name":"n"}},{seller}}}"#)),
            (422, Some("buyer.account".into()), "invalid_field")
        );
        assert_eq!(field_of(r#"{"buyer":{"account":"b"}}"#), (422, Some("seller".into()), "invalid_field"));
        assert_eq!(field_of(r#"{"extra":1}"#), (400, Some("extra".into()), "unknown_field"));
        assert_eq!(field_of(r#"{"buyer":"#), (400, None, "invalid_json"));
        assert_eq!(field_of(&format!(r#"{{"buyer":{{"account":"b"}},{seller}}} x"#)).2, "invalid_json");
    }
}
