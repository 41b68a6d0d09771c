//! The worked examples of shared/providers/netease.md §3 and §4, pinned. Every expected value was
//! computed with coreutils (the command is above each literal), not with this crate.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use imbridge_netease::callback;
use imbridge_netease::sign::{self, ApiHeaders, CallbackHeaders};
use imbridge_provider::CallbackRequest;

const SECRET: &str = "secret";

#[test]
fn server_api_checksum_of_the_worked_example() {
    // printf %s 'secretnonce1231443592222' | sha1sum
    let expected = "1856a26bd54343e76572114845379d2dbdee15e1";
    assert_eq!(sign::api_checksum(SECRET, "nonce123", "1443592222"), expected);
    let headers = ApiHeaders::with_nonce("appkey", SECRET, "nonce123".into(), 1_443_592_222);
    assert_eq!(headers.cur_time, "1443592222");
    assert_eq!(headers.checksum, expected);
}

#[test]
fn user_create_example_headers() {
    // §4 gives Nonce 4tgggergigwow323t23t and CurTime 1443592222 but no secret; §3's is used.
    // printf %s 'secret4tgggergigwow323t23t1443592222' | sha1sum
    let headers = ApiHeaders::with_nonce("appkey", SECRET, "4tgggergigwow323t23t".into(), 1_443_592_222);
    assert_eq!(headers.app_key, "appkey");
    assert_eq!(headers.nonce, "4tgggergigwow323t23t");
    assert_eq!(headers.cur_time, "1443592222");
    assert_eq!(headers.checksum, "4900b1b7b27c8f0e5eecb224b956b660d14006d8");
}

#[test]
fn callback_md5_and_checksum_of_the_worked_example() {
    let body = br#"{"eventType":"1"}"#;
    // printf %s '{"eventType":"1"}' | md5sum
    let md5 = "efdcc402fa9336b84ee459911fcffcfa";
    // printf %s 'secretefdcc402fa9336b84ee459911fcffcfa1440570500855' | sha1sum
    let checksum = "d3412715932593b8f7c45428a5438a9e34296f59";
    assert_eq!(sign::body_md5(body), md5);
    assert_eq!(sign::callback_checksum(SECRET, md5, "1440570500855"), checksum);
    let signed = CallbackHeaders::sign(SECRET, body, 1_440_570_500_855);
    assert_eq!(
        (signed.md5.as_str(), signed.cur_time.as_str(), signed.checksum.as_str()),
        (md5, "1440570500855", checksum)
    );
}

/// The §4 eventType 1 body with hand-computed headers verifies at its own CurTime.
#[test]
fn documented_message_callback_verifies_with_independent_headers() {
    let body = r#"{"attach":"thisisattach","body":"hello","convType":"PERSON","eventType":"1","fromAccount":"111","fromClientType":"IOS","fromDeviceId":"thisisfromdeviceid","fromNick":"mike","msgTimestamp":"1441977355557","msgType":"TEXT","msgidClient":"1234567","msgidServer":"3456789","resendFlag":"0","to":"222"}"#;
    // printf %s "$BODY" | md5sum   (BODY = the line above)
    let md5 = "976c63dc4263a5cf82d53daa435be67c";
    // printf %s 'secret976c63dc4263a5cf82d53daa435be67c1440570500855' | sha1sum
    let checksum = "240cfb15c8c93bc16bfe1f61acf41f39ae386411";
    let request = CallbackRequest {
        method: "POST".into(),
        path_and_query: "/callbacks/netease".into(),
        headers: vec![
            ("curtime".into(), "1440570500855".into()),
            ("md5".into(), md5.into()),
            ("checksum".into(), checksum.into()),
        ],
        body: Bytes::from_static(body.as_bytes()),
    };
    let at_curtime = UNIX_EPOCH + Duration::from_millis(1_440_570_500_855);
    assert_eq!(callback::verify(&request, "appkey", SECRET, at_curtime, Duration::from_secs(300)), Ok(()));
    // The same headers with any other secret do not.
    assert!(callback::verify(&request, "appkey", "secreT", at_curtime, Duration::from_secs(300)).is_err());
}
