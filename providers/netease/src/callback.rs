//! NetEase callbacks (消息抄送, shared/providers/netease.md §2): verification over the raw body
//! bytes, and lenient parsing into provider-neutral events.

mod parse;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use imbridge_provider::{CallbackRequest, VerifyFailure};

use crate::sign;

pub use parse::{parse, parse_with, ParseOptions};

/// Check a callback's signature and freshness at time `now`.
///
/// `MD5` must be the MD5 of the raw body and `CheckSum` = sha1(secret + MD5 + CurTime), both
/// compared in constant time; `CurTime` (milliseconds) must lie within `window` of `now` in either
/// direction. `AppKey` is compared only when the header is present (NetEase does not always send
/// it). Header names match in any case; a signature header sent twice with different values is
/// refused (`duplicate_header`).
pub fn verify(
    req: &CallbackRequest,
    app_key: &str,
    app_secret: &str,
    now: SystemTime,
    window: Duration,
) -> Result<(), VerifyFailure> {
    let header = |name| req.single_header(name)?.ok_or(VerifyFailure::MissingSignature);
    let cur_time = header("CurTime")?;
    let md5 = header("MD5")?;
    let checksum = header("CheckSum")?;
    if let Some(received_key) = req.single_header("AppKey")? {
        if received_key != app_key {
            return Err(VerifyFailure::WrongApp);
        }
    }
    let sent_at_ms: u64 = cur_time.parse().map_err(|_| VerifyFailure::BadTimestamp)?;

    let body_md5 = sign::body_md5(&req.body);
    if !sign::digest_eq(&body_md5, md5) {
        return Err(VerifyFailure::BodyDigestMismatch);
    }
    // Sign over our own MD5 (equal to theirs, but ours is known lowercase) and their CurTime text.
    let expected = sign::callback_checksum(app_secret, &body_md5, cur_time);
    if !sign::digest_eq(&expected, checksum) {
        return Err(VerifyFailure::BadSignature);
    }

    let now_ms = now.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let sent_at_ms = u128::from(sent_at_ms);
    let window_ms = window.as_millis();
    if sent_at_ms + window_ms < now_ms {
        return Err(VerifyFailure::Stale);
    }
    if sent_at_ms > now_ms + window_ms {
        return Err(VerifyFailure::Future);
    }
    Ok(())
}
