//! Verification of a callback's query string: Tencent signs `Token + RequestTime`, not the body.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use imbridge_provider::{CallbackRequest, VerifyFailure};

use crate::sign;

/// Check a callback's query string at time `now`.
///
/// In order: every parameter read here (`SdkAppid`, `Sign`, `RequestTime`) must appear at most
/// once, names matched in any case (`duplicate_header`: a proxy reading the first copy and imbridge
/// the last must not see different requests); `SdkAppid` must be present (`missing_header`) and
/// equal `sdkappid` (`wrong_app_key`); `Sign` and `RequestTime` must be present (`missing_header`);
/// `RequestTime` must be decimal digits (`bad_curtime`); `Sign` must equal hex SHA-256 of
/// `token + RequestTime`, compared in constant time and in either hex case (`bad_checksum`:
/// the case of a hex digest carries nothing secret, and [`sign::callback_sign_matches`] folds it);
/// `RequestTime` (unix seconds) must lie within `window` of `now`, compared in whole seconds
/// (`stale` / `future`).
///
/// An empty `token` refuses everything with `bad_checksum` (fails closed): it means callback
/// authentication is off in the console, and then anyone who knows the URL could post events.
/// The body is not signed: a replay within the window may carry another body, which is why events
/// are stored idempotently on their keys.
pub fn verify(
    req: &CallbackRequest,
    sdkappid: u64,
    token: &str,
    now: SystemTime,
    window: Duration,
) -> Result<(), VerifyFailure> {
    let query = req.path_and_query.split_once('?').map_or("", |(_, query)| query);
    // Decoding a `Vec` of pairs does not fail on odd input (it decodes leniently); treat a failure
    // as a query without the parameters.
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|_| VerifyFailure::MissingSignature)?;
    let single = |name: &str| -> Result<Option<&str>, VerifyFailure> {
        let mut values = params.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim());
        let first = values.next();
        if values.next().is_some() {
            return Err(VerifyFailure::DuplicateField);
        }
        Ok(first)
    };
    let app_id = single("SdkAppid")?;
    let signature = single("Sign")?;
    let request_time = single("RequestTime")?;

    let app_id = app_id.ok_or(VerifyFailure::MissingSignature)?;
    if app_id.parse::<u64>().ok() != Some(sdkappid) {
        return Err(VerifyFailure::WrongApp);
    }
    let (Some(signature), Some(request_time)) = (signature, request_time) else {
        return Err(VerifyFailure::MissingSignature);
    };
    if request_time.is_empty() || !request_time.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyFailure::BadTimestamp);
    }
    let sent_at: u128 = request_time.parse().map_err(|_| VerifyFailure::BadTimestamp)?;
    if token.is_empty() || !sign::callback_sign_matches(token, request_time, signature) {
        return Err(VerifyFailure::BadSignature);
    }

    let now = u128::from(now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    let window = u128::from(window.as_secs());
    if sent_at + window < now {
        return Err(VerifyFailure::Stale);
    }
    if sent_at > now + window {
        return Err(VerifyFailure::Future);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    const APP: u64 = 1400000001;
    const TOKEN: &str = "imbridge-callback-token";
    const NOW: u64 = 1764547200;
    const WINDOW: Duration = Duration::from_secs(60);

    fn request(query: &str) -> CallbackRequest {
        CallbackRequest {
            method: "POST".into(),
            path_and_query: format!("/callbacks/tencent?{query}"),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from_static(br#"{"CallbackCommand":"C2C.CallbackAfterSendMsg"}"#),
        }
    }

    /// The query Tencent sends with authentication on, signed at `time` with `token`.
    fn signed_query(token: &str, time: u64) -> String {
        let sign = sign::callback_sign(token, &time.to_string());
        format!(
            "SdkAppid={APP}&CallbackCommand=C2C.CallbackAfterSendMsg&contenttype=json&ClientIP=127.0.0.1\
             &OptPlatform=iOS&Sign={sign}&RequestTime={time}"
        )
    }

    fn check(query: &str) -> Result<(), VerifyFailure> {
        verify(&request(query), APP, TOKEN, UNIX_EPOCH + Duration::from_secs(NOW), WINDOW)
    }

    #[test]
    fn a_callback_signed_with_the_documented_rule_verifies() {
        assert_eq!(check(&signed_query(TOKEN, NOW)), Ok(()));
        // sha256(token + RequestTime), spelled out independently of sign.rs.
        let sign = {
            use sha2::{Digest, Sha256};
            hex::encode(Sha256::digest(format!("{TOKEN}{NOW}")))
        };
        assert_eq!(check(&format!("SdkAppid={APP}&Sign={sign}&RequestTime={NOW}")), Ok(()));
        assert_eq!(check(&format!("SdkAppid={APP}&Sign={}&RequestTime={NOW}", sign.to_uppercase())), Ok(()));
        // At the edges of the window.
        assert_eq!(check(&signed_query(TOKEN, NOW - 60)), Ok(()));
        assert_eq!(check(&signed_query(TOKEN, NOW + 60)), Ok(()));
    }

    #[test]
    fn a_forged_or_foreign_sign_is_a_bad_checksum() {
        assert_eq!(check(&signed_query("another-token", NOW)), Err(VerifyFailure::BadSignature));
        let forged = format!("SdkAppid={APP}&Sign={}&RequestTime={NOW}", "0".repeat(64));
        assert_eq!(check(&forged), Err(VerifyFailure::BadSignature));
        // A sign for another RequestTime does not carry over.
        let moved =
            signed_query(TOKEN, NOW).replace(&format!("RequestTime={NOW}"), &format!("RequestTime={}", NOW + 1));
        assert_eq!(check(&moved), Err(VerifyFailure::BadSignature));
    }

    #[test]
    fn an_empty_token_refuses_everything() {
        let query = signed_query("", NOW);
        let result = verify(&request(&query), APP, "", UNIX_EPOCH + Duration::from_secs(NOW), WINDOW);
        assert_eq!(result, Err(VerifyFailure::BadSignature));
    }

    #[test]
    fn request_time_outside_the_window_is_stale_or_future() {
        assert_eq!(check(&signed_query(TOKEN, NOW - 61)), Err(VerifyFailure::Stale));
        assert_eq!(check(&signed_query(TOKEN, NOW + 61)), Err(VerifyFailure::Future));
        assert_eq!(check(&signed_query(TOKEN, u64::MAX)), Err(VerifyFailure::Future));
    }

    #[test]
    fn missing_parameters_are_missing_headers() {
        let sign = sign::callback_sign(TOKEN, &NOW.to_string());
        assert_eq!(check(&format!("SdkAppid={APP}&RequestTime={NOW}")), Err(VerifyFailure::MissingSignature));
        assert_eq!(check(&format!("SdkAppid={APP}&Sign={sign}")), Err(VerifyFailure::MissingSignature));
        assert_eq!(check(&format!("Sign={sign}&RequestTime={NOW}")), Err(VerifyFailure::MissingSignature));
        // No query string at all (authentication off in the console).
        let bare = CallbackRequest { path_and_query: "/callbacks/tencent".into(), ..request("") };
        let result = verify(&bare, APP, TOKEN, UNIX_EPOCH + Duration::from_secs(NOW), WINDOW);
        assert_eq!(result, Err(VerifyFailure::MissingSignature));
    }

    #[test]
    fn another_apps_callback_is_the_wrong_app_key() {
        let query = signed_query(TOKEN, NOW).replace(&format!("SdkAppid={APP}"), "SdkAppid=1400000002");
        assert_eq!(check(&query), Err(VerifyFailure::WrongApp));
        let query = signed_query(TOKEN, NOW).replace(&format!("SdkAppid={APP}"), "SdkAppid=abc");
        assert_eq!(check(&query), Err(VerifyFailure::WrongApp));
    }

    #[test]
    fn a_parameter_given_twice_is_a_duplicate() {
        let query = signed_query(TOKEN, NOW);
        let sign = sign::callback_sign(TOKEN, &NOW.to_string());
        assert_eq!(check(&format!("{query}&Sign={sign}")), Err(VerifyFailure::DuplicateField));
        assert_eq!(check(&format!("{query}&sign={}", "0".repeat(64))), Err(VerifyFailure::DuplicateField));
        assert_eq!(check(&format!("{query}&RequestTime={NOW}")), Err(VerifyFailure::DuplicateField));
        assert_eq!(check(&format!("{query}&SdkAppid={APP}")), Err(VerifyFailure::DuplicateField));
    }

    #[test]
    fn a_non_numeric_request_time_is_a_bad_curtime() {
        for time in ["abc", "", "+1764547200", "1764547200.0", "-1"] {
            let sign = sign::callback_sign(TOKEN, time);
            let query = format!("SdkAppid={APP}&Sign={sign}&RequestTime={}", time.replace('+', "%2B"));
            assert_eq!(check(&query), Err(VerifyFailure::BadTimestamp), "{time:?}");
        }
    }

    #[test]
    fn percent_encoded_parameters_are_decoded() {
        let sign = sign::callback_sign(TOKEN, &NOW.to_string());
        assert_eq!(check(&format!("SdkAppid=%31400000001&Sign={sign}&RequestTime={NOW}")), Ok(()));
    }
}
