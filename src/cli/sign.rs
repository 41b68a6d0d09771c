//! `imbridge sign`: the NetEase headers for a body and secret, the tool to reach for when NetEase
//! answers 414 for a CheckSum or a callback is rejected as forged.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use imbridge_netease::sign::{api_checksum, body_md5, callback_checksum, new_nonce, now_millis, now_secs};

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The NetEase app secret (or set IMBRIDGE_NETEASE_APP_SECRET, which keeps it out of shell history).
    #[arg(long, env = "IMBRIDGE_NETEASE_APP_SECRET", hide_env_values = true)]
    pub secret: String,
    /// The app key, printed as the AppKey header of an API call.
    #[arg(long, env = "IMBRIDGE_NETEASE_APP_KEY", default_value = "")]
    pub app_key: String,
    /// The request body (a callback's JSON; an API call's form body is not signed but is echoed).
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the body from a file (`-` = standard input), byte for byte.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// The Nonce of an API call (default: a fresh random one).
    #[arg(long)]
    pub nonce: Option<String>,
    /// CurTime: seconds for an API call, milliseconds for a callback (default: now).
    #[arg(long)]
    pub curtime: Option<String>,
    /// Sign as a callback (MD5 / CurTime / CheckSum over the body) instead of an API call.
    #[arg(long)]
    pub callback: bool,
}

/// The header lines to print, `Name: value`, ready for `curl -H`.
pub fn headers(args: &SignArgs) -> std::io::Result<Vec<(String, String)>> {
    let body = read_body(args)?;
    let mut out = Vec::new();
    if args.callback {
        let cur_time = args.curtime.clone().unwrap_or_else(|| now_millis().to_string());
        let md5 = body_md5(&body);
        let checksum = callback_checksum(&args.secret, &md5, &cur_time);
        out.push(("MD5".to_owned(), md5));
        out.push(("CurTime".to_owned(), cur_time));
        out.push(("CheckSum".to_owned(), checksum));
        out.push(("Content-Type".to_owned(), "application/json".to_owned()));
    } else {
        let nonce = args.nonce.clone().unwrap_or_else(new_nonce);
        let cur_time = args.curtime.clone().unwrap_or_else(|| now_secs().to_string());
        let checksum = api_checksum(&args.secret, &nonce, &cur_time);
        out.push(("AppKey".to_owned(), args.app_key.clone()));
        out.push(("Nonce".to_owned(), nonce));
        out.push(("CurTime".to_owned(), cur_time));
        out.push(("CheckSum".to_owned(), checksum));
        out.push(("Content-Type".to_owned(), "application/x-www-form-urlencoded;charset=utf-8".to_owned()));
    }
    Ok(out)
}

fn read_body(args: &SignArgs) -> std::io::Result<Vec<u8>> {
    match (&args.body, &args.body_file) {
        (Some(body), _) => Ok(body.as_bytes().to_vec()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body)?;
            Ok(body)
        }
        (None, Some(path)) => std::fs::read(path),
        (None, None) => Ok(Vec::new()),
    }
}
