//! The form body of a NetEase call: `application/x-www-form-urlencoded`, list parameters as one
//! JSON-array string (`toAccids=["a","b"]`).

use crate::error::NeteaseError;

#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(&'static str, String)>);

impl Form {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn text(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.0.push((name, value.into()));
        self
    }

    /// Adds the field only when there is a value: NetEase treats an absent field as "unchanged" or
    /// "default", an empty one as a value.
    pub(crate) fn opt(self, name: &'static str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.text(name, v),
            None => self,
        }
    }

    /// A list parameter, as a JSON array of strings.
    pub(crate) fn list(self, name: &'static str, values: &[String]) -> Self {
        let json = serde_json::Value::from(values.to_vec()).to_string();
        self.text(name, json)
    }

    pub(crate) fn encode(&self) -> Result<String, NeteaseError> {
        serde_urlencoded::to_string(&self.0).map_err(|e| NeteaseError::Transport(format!("form encoding: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_travel_as_json_arrays_and_absent_fields_are_omitted() {
        let body = Form::new()
            .text("fromAccid", "shop_1")
            .list("toAccids", &["a".into(), "b\"c".into()])
            .opt("sound", None)
            .opt("pushcontent", Some("hi & bye"))
            .encode()
            .unwrap();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("fromAccid".into(), "shop_1".into()),
                ("toAccids".into(), r#"["a","b\"c"]"#.into()),
                ("pushcontent".into(), "hi & bye".into()),
            ]
        );
    }
}
