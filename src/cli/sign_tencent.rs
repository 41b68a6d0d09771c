//! `imbridge sign-tencent`: what Tencent Cloud IM signs, for trying callbacks with curl and for
//! checking a UserSig. `--callback` prints the query string Tencent appends to a callback URL
//! (`SdkAppid`, `CallbackCommand`, `contenttype`, `Sign`, `RequestTime`); `--usersig` prints a
//! UserSig v2 for an identifier.

use clap::Args;
use imbridge_tencent::{sign::callback_sign, usersig};

#[derive(Debug, Args)]
pub struct SignTencentArgs {
    /// Print a callback's query string, signed with --token.
    #[arg(long, conflicts_with = "usersig")]
    pub callback: bool,
    /// The console's callback token (or IMBRIDGE_TENCENT_CALLBACK_TOKEN).
    #[arg(long, env = "IMBRIDGE_TENCENT_CALLBACK_TOKEN", hide_env_values = true, default_value = "")]
    pub token: String,
    /// The callback command, e.g. C2C.CallbackAfterSendMsg.
    #[arg(long, default_value = "C2C.CallbackAfterSendMsg")]
    pub command: String,
    /// RequestTime in unix seconds (default: now).
    #[arg(long)]
    pub request_time: Option<u64>,
    /// Print a UserSig for --identifier, signed with --secret-key.
    #[arg(long)]
    pub usersig: bool,
    #[arg(long, env = "IMBRIDGE_TENCENT_SECRET_KEY", hide_env_values = true, default_value = "")]
    pub secret_key: String,
    #[arg(long, default_value = "administrator")]
    pub identifier: String,
    /// Seconds the UserSig is valid for.
    #[arg(long, default_value_t = 604800)]
    pub expire: u64,
    #[arg(long, env = "IMBRIDGE_TENCENT_SDKAPPID", default_value_t = 1400000000)]
    pub sdkappid: u64,
}

/// The line to print, or why the arguments do not say what to sign.
pub fn line(args: &SignTencentArgs, now_secs: u64) -> Result<String, String> {
    if args.callback {
        if args.token.is_empty() {
            return Err("--callback needs --token (the console's callback token)".into());
        }
        let time = args.request_time.unwrap_or(now_secs).to_string();
        let sign = callback_sign(&args.token, &time);
        return Ok(format!(
            "SdkAppid={}&CallbackCommand={}&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI&Sign={sign}&RequestTime={time}",
            args.sdkappid, args.command
        ));
    }
    if args.usersig {
        if args.secret_key.is_empty() {
            return Err("--usersig needs --secret-key".into());
        }
        let time = args.request_time.unwrap_or(now_secs);
        return Ok(usersig::generate(&args.secret_key, args.sdkappid, &args.identifier, time, args.expire));
    }
    Err("say --callback or --usersig".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> SignTencentArgs {
        SignTencentArgs {
            callback: false,
            token: String::new(),
            command: "C2C.CallbackAfterSendMsg".into(),
            request_time: None,
            usersig: false,
            secret_key: String::new(),
            identifier: "administrator".into(),
            expire: 604800,
            sdkappid: 1400000001,
        }
    }

    #[test]
    fn callback_query_carries_a_sign_of_token_and_time() {
        let args = SignTencentArgs { callback: true, token: "abc".into(), request_time: Some(123), ..args() };
        let line = line(&args, 0).unwrap();
        assert!(line.starts_with("SdkAppid=1400000001&CallbackCommand=C2C.CallbackAfterSendMsg&"), "{line}");
        // sha256("abc123"), computed with sha256sum.
        assert!(
            line.ends_with("&Sign=6ca13d52ca70c883e0f0bb101e425a89e8624de51db2d2392593af6a84118090&RequestTime=123")
        );
    }

    #[test]
    fn usersig_verifies_and_missing_keys_are_named() {
        let wanted = SignTencentArgs { usersig: true, secret_key: "k".into(), identifier: "buyer_01".into(), ..args() };
        let sig = line(&wanted, 1_764_547_200).unwrap();
        let info = usersig::verify("k", 1400000001, &sig, 1_764_547_200).unwrap();
        assert_eq!(info.identifier, "buyer_01");
        assert!(line(&SignTencentArgs { callback: true, ..args() }, 0).unwrap_err().contains("--token"));
        let keyless = SignTencentArgs { usersig: true, ..args() };
        assert!(line(&keyless, 0).unwrap_err().contains("--secret-key"));
    }
}
