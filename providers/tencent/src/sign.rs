//! Tencent's callback signature: `Sign` = lowercase hex SHA-256 of (callback token + `RequestTime`),
//! both sent in the callback URL's query string. The body is not signed.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The `Sign` Tencent sends with a callback at `request_time` (unix seconds, as sent).
pub fn callback_sign(token: &str, request_time: &str) -> String {
    hex::encode(Sha256::digest(format!("{token}{request_time}").as_bytes()))
}

/// Whether `sign` is the right one for `token` and `request_time`, compared in constant time
/// (case-insensitively: Tencent sends lowercase hex).
pub fn callback_sign_matches(token: &str, request_time: &str, sign: &str) -> bool {
    let expected = callback_sign(token, request_time);
    let given = sign.trim().to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_is_sha256_hex_of_token_then_time() {
        // sha256("abc" + "123") = sha256("abc123"), computed independently with sha256sum.
        assert_eq!(callback_sign("abc", "123"), "6ca13d52ca70c883e0f0bb101e425a89e8624de51db2d2392593af6a84118090");
        assert!(callback_sign_matches(
            "abc",
            "123",
            "6CA13D52CA70C883E0F0BB101E425A89E8624DE51DB2D2392593AF6A84118090"
        ));
        assert!(!callback_sign_matches("abc", "124", &callback_sign("abc", "123")));
    }
}
