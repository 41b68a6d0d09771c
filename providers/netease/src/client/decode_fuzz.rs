//! `decode` must never panic: whatever comes back over HTTP (any status, any bytes, JSON of any
//! shape, valid answers with fields missing, retyped, huge or nested) ends as the endpoint's typed
//! answer or as `Http`, `Api` or `Decode`, and the error still renders and maps to a
//! [`ProviderError`].

use imbridge_provider::ProviderError;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::de::IgnoredAny;
use serde_json::{json, Map, Value};

use super::friend::FriendsReply;
use super::msg::{BatchSent, DataReply, SentMsg};
use super::user::{InfoReply, UinfosReply, UserToken};
use super::{decode, lenient, HTTP_BODY_KEPT};
use crate::error::{codes, NeteaseError};

/// Each endpoint's answer type, as its method hands it to `call`.
fn decode_every_endpoint(status: u16, bytes: &[u8]) -> [(&'static str, Result<(), NeteaseError>); 6] {
    [
        ("user/create, user/refreshToken", decode::<InfoReply<UserToken>>(status, bytes).map(drop)),
        ("user/getUinfos", decode::<UinfosReply>(status, bytes).map(drop)),
        ("friend/get", decode::<FriendsReply>(status, bytes).map(drop)),
        ("msg/sendBatchAttachMsg", decode::<BatchSent>(status, bytes).map(drop)),
        ("msg/sendMsg", decode::<DataReply<SentMsg>>(status, bytes).map(drop)),
        (
            "update, updateUinfo, block, unblock, friend add/delete, sendAttachMsg",
            decode::<IgnoredAny>(status, bytes).map(drop),
        ),
    ]
}

/// No panic, and the outcome agrees with the answer: `Ok` only for HTTP 200 with `code` 200,
/// `Http` exactly for other statuses (with a bounded body), `Api` for another `code`.
fn check(status: u16, bytes: &[u8]) -> Result<(), TestCaseError> {
    let code = (status == 200)
        .then(|| serde_json::from_slice::<Value>(bytes).ok())
        .flatten()
        .and_then(|answer| answer.get("code").and_then(lenient::as_i64));
    for (endpoint, outcome) in decode_every_endpoint(status, bytes) {
        if let Err(err) = &outcome {
            let _ = err.to_string();
            let _ = ProviderError::from(err.clone());
        }
        match outcome {
            Ok(()) => prop_assert!(status == 200 && code == Some(codes::OK), "{endpoint}: Ok from {status} {code:?}"),
            Err(NeteaseError::Http { status: kept, body }) => {
                prop_assert!(status != 200 && kept == status, "{endpoint}: Http {kept} from {status}");
                prop_assert!(body.chars().count() <= HTTP_BODY_KEPT, "{endpoint}: {} chars kept", body.chars().count());
            }
            Err(NeteaseError::Api { code: api, .. }) => {
                prop_assert!(
                    status == 200 && code == Some(api) && api != codes::OK,
                    "{endpoint}: Api {api} from {code:?}"
                )
            }
            Err(NeteaseError::Decode(_)) => {
                prop_assert!(
                    status == 200 && !matches!(code, Some(c) if c != codes::OK),
                    "{endpoint}: Decode with {code:?}"
                )
            }
            Err(other) => prop_assert!(false, "{endpoint}: {other:?} cannot come from a decoder"),
        }
    }
    Ok(())
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => Just(200),
        1 => any::<u16>(),
        1 => prop::sample::select(vec![0, 100, 199, 201, 204, 302, 400, 403, 404, 414, 416, 429, 500, 502, 503, 504, 999]),
    ]
}

/// Numbers as the answer types meet them: huge, negative, fractional, numeric strings.
fn odd_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        prop::sample::select(vec![
            json!(u64::MAX),
            json!(i64::MIN),
            json!(f64::MAX),
            json!(-f64::MAX),
            json!(9.0e18),
            json!(1e-300),
            json!(200.0),
            json!(200.5),
            json!(-0.0),
            json!("200"),
            json!(" 414 "),
            json!("1e3"),
            json!("9223372036854775808"),
            json!(""),
        ]),
    ]
}

/// Field names the answer types look at, and others.
fn json_value_names() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        prop::sample::select(vec![
            "code",
            "desc",
            "info",
            "uinfos",
            "friends",
            "data",
            "unregister",
            "accid",
            "token",
            "name",
            "gender",
            "msgid",
            "timetag",
            "faccid",
            "createtime",
            "updatetime",
            "bidirection",
            "alias",
            "ex",
        ])
        .prop_map(str::to_owned),
        "[a-z]{0,6}",
    ]
}

/// Arbitrary JSON, biased towards the names and shapes the answer types look at.
fn json_value() -> impl Strategy<Value = Value> {
    let names = json_value_names();
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        odd_number(),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec!["[\"a\"]", "[1,{}]", "[", "null", "{}", "[[[]]]"]).prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner.clone()), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
            // A JSON document inside a string, as `unregister` may arrive.
            inner.prop_map(|v| Value::String(v.to_string())),
        ]
    })
}

/// An answer object with a `code` (mostly 200) and arbitrary fields beside it.
fn envelope() -> impl Strategy<Value = Value> {
    let code = prop_oneof![3 => Just(json!(codes::OK)), 1 => odd_number()];
    (code, prop::collection::vec((json_value_names(), json_value()), 0..6)).prop_map(|(code, fields)| {
        let mut answer: Map<String, Value> = fields.into_iter().collect();
        answer.insert("code".into(), code);
        Value::Object(answer)
    })
}

/// Valid answers of every endpoint, and NetEase's errors.
fn valid_answers() -> Vec<Value> {
    vec![
        json!({"code": 200, "info": {"accid": "buyer_1", "token": "t0k3n", "name": "Buyer"}}),
        json!({"code": 200}),
        json!({"code": 200, "uinfos": [{"accid": "a", "name": "n", "icon": "i", "sign": "s", "email": "e@x.y",
            "birth": "2000-01-01", "mobile": "1", "gender": 1, "ex": "{}", "extra": {"kept": true}}]}),
        json!({"code": 200, "friends": [{"faccid": "f", "alias": "a", "ex": "", "serverex": "",
            "bidirection": true, "createtime": 1, "updatetime": "2"}]}),
        json!({"code": 200, "unregister": "[\"x\",\"y\"]"}),
        json!({"code": 200, "unregister": ["x", 1]}),
        json!({"code": 200, "data": {"msgid": 123_456_789, "timetag": 1_700_000_000_000_i64, "antispam": false}}),
        json!({"code": 414, "desc": "already register"}),
        json!({"code": "416", "desc": {"why": "busy"}}),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Remove,
    Replace(Value),
    /// `[value]`
    Wrap,
    /// The value as a JSON-encoded string.
    Stringify,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => Just(Edit::Remove),
        3 => json_value().prop_map(Edit::Replace),
        2 => odd_number().prop_map(Edit::Replace),
        1 => Just(Edit::Wrap),
        1 => Just(Edit::Stringify),
    ]
}

/// Every path in `value`, the root first (object keys or array indexes).
fn paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => Vec::new(),
    };
    for (key, child) in children {
        prefix.push(key);
        paths(child, prefix, out);
        prefix.pop();
    }
}

fn apply(value: &mut Value, path: &[String], edit: &Edit) {
    let Some((last, parents)) = path.split_last() else {
        return replace(value, edit);
    };
    let mut parent = &mut *value;
    for key in parents {
        parent = match parent {
            Value::Object(map) => map.get_mut(key).expect("a path of this value"),
            Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
            _ => unreachable!("paths only go through containers"),
        };
    }
    match (parent, edit) {
        (Value::Object(map), Edit::Remove) => {
            map.remove(last);
        }
        (Value::Array(items), Edit::Remove) => {
            items.remove(last.parse::<usize>().unwrap());
        }
        (Value::Object(map), edit) => replace(map.get_mut(last).unwrap(), edit),
        (Value::Array(items), edit) => replace(&mut items[last.parse::<usize>().unwrap()], edit),
        _ => unreachable!("paths only go through containers"),
    }
}

fn replace(value: &mut Value, edit: &Edit) {
    *value = match edit {
        Edit::Remove => Value::Null,
        Edit::Replace(other) => other.clone(),
        Edit::Wrap => Value::Array(vec![value.take()]),
        Edit::Stringify => Value::String(value.to_string()),
    };
}

/// A valid answer with 1..4 edits at arbitrary places.
fn near_valid() -> impl Strategy<Value = Value> {
    let answers = valid_answers();
    (0..answers.len(), prop::collection::vec((any::<prop::sample::Index>(), edit()), 1..4)).prop_map(
        move |(which, edits)| {
            let mut answer = answers[which].clone();
            for (at, edit) in edits {
                let mut all = Vec::new();
                paths(&answer, &mut Vec::new(), &mut all);
                let path = at.get(&all).clone();
                apply(&mut answer, &path, &edit);
            }
            answer
        },
    )
}

/// Answer texts with `@` where a raw number token goes (tokens serde_json's `Value` cannot hold).
const RAW_TEMPLATES: [&str; 6] = [
    r#"{"code":@,"desc":"x"}"#,
    r#"{"code":200,"info":{"accid":"a","token":@}}"#,
    r#"{"code":200,"data":{"msgid":@,"timetag":@}}"#,
    r#"{"code":200,"uinfos":[{"accid":"a","gender":@}]}"#,
    r#"{"code":200,"friends":[{"faccid":"f","createtime":@,"updatetime":@,"bidirection":@}]}"#,
    r#"{"code":200,"unregister":@}"#,
];

fn raw_token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "1e400",
            "-1e400",
            "2e2",
            "200.0",
            "0.2e3",
            "200000000000000000000000000000000000000",
            "-0",
            "NaN",
            "Infinity",
            "0x1F",
            "+200",
            "0200",
            "200 ",
            "",
            "\"\\ud800\"",
        ])
        .prop_map(str::to_owned),
        "[-+0-9.eE]{1,30}",
        json_value().prop_map(|v| v.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_at_any_status_never_panic(status in status(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(status, &bytes)?;
    }

    #[test]
    fn arbitrary_text_at_any_status_never_panics(status in status(), text in ".{0,3000}") {
        check(status, text.as_bytes())?;
    }

    #[test]
    fn arbitrary_json_never_panics(status in status(), answer in prop_oneof![json_value(), envelope()]) {
        check(status, answer.to_string().as_bytes())?;
    }

    #[test]
    fn near_valid_answers_never_panic(answer in near_valid()) {
        check(200, answer.to_string().as_bytes())?;
    }

    #[test]
    fn odd_number_tokens_never_panic(template in prop::sample::select(RAW_TEMPLATES.to_vec()), token in raw_token()) {
        check(200, template.replace('@', &token).as_bytes())?;
    }
}

#[test]
fn every_valid_answer_decodes_for_its_endpoint() {
    // The near-valid cases start from answers that do decode: otherwise they would test nothing.
    let ok = |answer: &Value| decode_every_endpoint(200, answer.to_string().as_bytes()).map(|(_, r)| r.is_ok());
    let answers = valid_answers();
    assert_eq!(ok(&answers[0]), [true, true, true, true, false, true], "create");
    assert_eq!(ok(&answers[2]), [false, true, true, true, false, true], "getUinfos");
    assert_eq!(ok(&answers[3]), [false, true, true, true, false, true], "friend/get");
    assert_eq!(ok(&answers[4]), [false, true, true, true, false, true], "sendBatchAttachMsg");
    assert_eq!(ok(&answers[6]), [false, true, true, true, true, true], "sendMsg");
    for answer in &answers {
        check(200, answer.to_string().as_bytes()).unwrap();
    }
}

#[test]
fn deep_nesting_is_a_decode_error_not_a_stack_overflow() {
    let deep = format!(r#"{{"code":200,"data":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    for (endpoint, outcome) in decode_every_endpoint(200, deep.as_bytes()) {
        assert!(matches!(outcome, Err(NeteaseError::Decode(_))), "{endpoint}: {outcome:?}");
    }
    // The same depth inside a JSON-encoded string, which `unregister` parses a second time.
    let inner = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let nested = json!({"code": 200, "unregister": inner}).to_string();
    assert!(matches!(decode::<BatchSent>(200, nested.as_bytes()), Err(NeteaseError::Decode(_))));
}
