//! The body of `POST /v1/notifications` and its validation. Everything the provider would refuse
//! is caught here, before anything is stored, and reported with the field's name.

use std::collections::HashSet;

use imbridge_provider::{ImProvider, InvalidField, Target};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::model::{Message, NewNotification};
use crate::accid::Accid;

/// The longest idempotency key accepted (characters).
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// `POST /v1/notifications`, as sent.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "shop_1", "to": ["buyer_01"], "attach": {"type": "shipped", "order": "o-1"},
    "push_content": "Your parcel has shipped", "payload": {"order": "o-1"}, "idempotency_key": "o-1:shipped"}))]
pub struct NotificationRequest {
    /// The sending account.
    pub from: String,
    /// Recipient accounts; exactly one of `to` and `team`. Lowercased and de-duplicated; at most
    /// `outbox.max_recipients` (default 100 000) entries.
    pub to: Option<Vec<String>>,
    /// A team id; exactly one of `to` and `team`.
    pub team: Option<String>,
    /// A JSON object (sent serialized) or a string (sent as is); at most 4096 characters.
    pub attach: Value,
    /// Push text (at most 500 characters).
    pub push_content: Option<String>,
    /// Push payload, a JSON object (at most 2048 characters as JSON).
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// Push sound (at most 30 characters).
    pub sound: Option<String>,
    /// Deliver only to recipients online now (not stored for offline ones).
    #[serde(default)]
    #[schema(default = false)]
    pub online_only: bool,
    /// Count towards the app badge.
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub badge: bool,
    /// Copy it to the app's callback (NetEase 消息抄送).
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub route: bool,
    /// The same key with the same body answers the first notification (200); with another body 409.
    /// 1 to 255 characters.
    pub idempotency_key: Option<String>,
}

fn yes() -> bool {
    true
}

impl NotificationRequest {
    /// Check every field and normalize accids (provider form, duplicates dropped, first occurrence
    /// order kept). `max_recipients` bounds the recipient list after de-duplication.
    pub fn validate(self, provider: &dyn ImProvider, max_recipients: usize) -> Result<NewNotification, InvalidField> {
        let from = Accid::parse(provider, "from", &self.from)?.into_string();
        let target = match (self.to, self.team) {
            (Some(_), Some(_)) => return Err(InvalidField::new("to", "give either to or team, not both")),
            (None, None) => return Err(InvalidField::new("to", "give the recipients (to) or a team")),
            (Some(to), None) => Target::Users(recipients(provider, &to, max_recipients)?),
            (None, Some(team)) => {
                if team.trim().is_empty() {
                    return Err(InvalidField::new("team", "must not be empty"));
                }
                Target::Team(team)
            }
        };
        let attach = match self.attach {
            Value::String(s) if s.is_empty() => return Err(InvalidField::new("attach", "must not be empty")),
            Value::String(s) => s,
            Value::Object(o) => Value::Object(o).to_string(),
            _ => return Err(InvalidField::new("attach", "must be a JSON object or a string")),
        };
        let payload = match self.payload {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(Value::Object(o).to_string()),
            Some(_) => return Err(InvalidField::new("payload", "must be a JSON object")),
        };
        if let Some(key) = &self.idempotency_key {
            if key.is_empty() || key.chars().count() > IDEMPOTENCY_KEY_MAX {
                return Err(InvalidField::new("idempotency_key", format!("1 to {IDEMPOTENCY_KEY_MAX} characters")));
            }
        }
        let message = Message {
            from,
            attach,
            push_content: self.push_content,
            payload,
            sound: self.sound,
            online_only: self.online_only,
            badge: self.badge,
            route: self.route,
            read_receipt: None,
        };
        let new = NewNotification { message, target, idempotency_key: self.idempotency_key };
        // The provider's own limits (lengths, JSON, team id), checked on every call it will get.
        for target in new.chunks(provider.max_batch_recipients()) {
            provider.validate_notification(&new.message.to_notification(target)).map_err(api_field)?;
        }
        Ok(new)
    }
}

fn recipients(provider: &dyn ImProvider, to: &[String], max: usize) -> Result<Vec<String>, InvalidField> {
    // Bounded before any per-entry work: an 8 MiB body holds several hundred thousand entries.
    if to.len() > max {
        return Err(InvalidField::new("to", format!("at most {max} recipients")));
    }
    let mut seen = HashSet::with_capacity(to.len());
    let mut accids = Vec::with_capacity(to.len());
    for (i, raw) in to.iter().enumerate() {
        let accid = Accid::parse(provider, format_args!("to[{i}]"), raw)?.into_string();
        if seen.insert(accid.clone()) {
            accids.push(accid);
        }
    }
    if accids.is_empty() {
        return Err(InvalidField::new("to", "at least one recipient"));
    }
    if accids.len() > max {
        return Err(InvalidField::new("to", format!("at most {max} distinct recipients")));
    }
    Ok(accids)
}

/// Provider field names that differ from this API's (NetEase spells some in one word).
fn api_field(e: InvalidField) -> InvalidField {
    let field = match e.field.as_str() {
        "pushcontent" | "pushContent" => "push_content",
        "fromAccid" => "from",
        "toAccids" | "accids" => "to",
        "tid" => "team",
        other => other,
    };
    InvalidField::new(field, e.reason)
}
