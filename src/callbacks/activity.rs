//! What the operator console shows of ingestion without touching the database: callbacks per minute
//! by outcome over the last hour, and the latest refused callbacks. Both are fixed-size, so a flood
//! of forged requests costs a few atomic adds and one short lock each, never a write or more memory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use imbridge_provider::{CallbackRequest, FieldIn, SignatureField, VerifyFailure};

/// How a callback ended, as counted per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    Duplicate,
    DeadLettered,
    Refused,
    Unavailable,
}

impl Outcome {
    pub const ALL: [Outcome; 5] =
        [Outcome::Stored, Outcome::Duplicate, Outcome::DeadLettered, Outcome::Refused, Outcome::Unavailable];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Duplicate => "duplicate",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Refused => "refused",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// Minutes kept: one hour.
pub const MINUTES: usize = 60;
/// Refused callbacks kept; older ones are counted in [`Refusals::dropped`].
pub const REFUSALS_KEPT: usize = 200;
/// Bytes of a refused body kept (for "is this really the provider?"), so 200 entries stay small.
const BODY_KEPT: usize = 2048;
/// Characters kept of a signature field's value (a forger chooses its length).
const FIELD_KEPT: usize = 64;

/// One minute's counts. `minute` says which minute they belong to, so a slot reused an hour later
/// starts again from zero.
#[derive(Default)]
struct Bucket {
    minute: AtomicU64,
    counts: [AtomicU64; 5],
}

/// A refused callback: why, and what is safe to show about it. Never a signature digest (`CheckSum`,
/// `Sign`) or any other header: only the signing time and which app it claims to be for.
#[derive(Debug, Clone)]
pub struct Refused {
    pub at_ms: i64,
    pub reason: VerifyFailure,
    /// Our clock minus the signing time, in seconds, when the request carried a readable one.
    pub skew_secs: Option<i64>,
    /// The app it was signed for (NetEase `AppKey`, Tencent `SdkAppid`), as sent.
    pub app: Option<String>,
    /// The first bytes of the body (lossy UTF-8); `body_len` is the whole length.
    pub body: String,
    pub body_len: usize,
}

/// The latest refused callbacks, newest last.
#[derive(Debug, Clone, Default)]
pub struct Refusals {
    pub entries: VecDeque<Refused>,
    /// Refused callbacks no longer kept (pushed out by newer ones).
    pub dropped: u64,
}

/// Per-process counters (each instance behind a load balancer shows its own traffic).
pub struct Activity {
    buckets: [Bucket; MINUTES],
    refusals: Mutex<Refusals>,
    /// The provider's signature fields that are safe to show (its signing time and app id).
    time_field: Option<SignatureField>,
    app_field: Option<SignatureField>,
}

impl Activity {
    /// `signature`: the provider's signature fields ([`imbridge_provider::CallbackDoc::signature`]).
    /// The signing time is the field named `…Time`, the app the field named `…App…`; digests are never kept.
    pub fn new(signature: &[SignatureField]) -> Self {
        let find = |matches: fn(&str) -> bool| signature.iter().find(|f| matches(f.name)).cloned();
        Self {
            buckets: std::array::from_fn(|_| Bucket::default()),
            refusals: Mutex::default(),
            time_field: find(|name| name.ends_with("Time")),
            app_field: find(|name| name.to_ascii_lowercase().contains("app")),
        }
    }

    /// Count one callback in the current minute.
    pub fn count(&self, outcome: Outcome) {
        let minute = unix_secs(SystemTime::now()) / 60;
        let bucket = &self.buckets[(minute % MINUTES as u64) as usize];
        let seen = bucket.minute.load(Ordering::Relaxed);
        // The first callback of a new minute claims the slot and clears it. A count racing with the
        // clearing may be lost: a chart for people, not a ledger (Prometheus has the exact totals).
        if seen != minute && bucket.minute.compare_exchange(seen, minute, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            for count in &bucket.counts {
                count.store(0, Ordering::Relaxed);
            }
        }
        bucket.counts[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The last [`MINUTES`] minutes, oldest first: (minute since the epoch, counts by [`Outcome::ALL`]).
    pub fn per_minute(&self, now: SystemTime) -> Vec<(u64, [u64; 5])> {
        let current = unix_secs(now) / 60;
        (0..MINUTES as u64)
            .rev()
            .map(|ago| {
                let minute = current.saturating_sub(ago);
                let bucket = &self.buckets[(minute % MINUTES as u64) as usize];
                let counts = if bucket.minute.load(Ordering::Acquire) == minute {
                    std::array::from_fn(|i| bucket.counts[i].load(Ordering::Relaxed))
                } else {
                    [0; 5]
                };
                (minute, counts)
            })
            .collect()
    }

    /// Remember a refused callback (the oldest kept one goes when full).
    pub fn refused(&self, request: &CallbackRequest, reason: VerifyFailure, now: SystemTime) {
        let field = |f: &Option<SignatureField>| f.as_ref().and_then(|f| field_value(request, f));
        let skew_secs = field(&self.time_field).and_then(|t| t.trim().parse::<i64>().ok()).map(|t| {
            // NetEase signs in milliseconds, Tencent in seconds.
            let signed_secs = if t > 100_000_000_000 { t / 1000 } else { t };
            unix_secs(now) as i64 - signed_secs
        });
        let kept = &request.body[..request.body.len().min(BODY_KEPT)];
        let entry = Refused {
            at_ms: (unix_secs_f(now) * 1000.0) as i64,
            reason,
            skew_secs,
            app: field(&self.app_field).map(|v| v.chars().take(FIELD_KEPT).collect()),
            body: String::from_utf8_lossy(kept).into_owned(),
            body_len: request.body.len(),
        };
        let mut refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        if refusals.entries.len() == REFUSALS_KEPT {
            refusals.entries.pop_front();
            refusals.dropped += 1;
        }
        refusals.entries.push_back(entry);
    }

    pub fn refusals(&self) -> Refusals {
        self.refusals.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn field_value(request: &CallbackRequest, field: &SignatureField) -> Option<String> {
    match field.location {
        FieldIn::Header => request.header(field.name).map(str::to_owned),
        FieldIn::Query => {
            let query = request.path_and_query.split_once('?')?.1;
            form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == field.name).map(|(_, v)| v.into_owned())
        }
    }
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn unix_secs_f(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn netease_fields() -> Vec<SignatureField> {
        ["AppKey", "CurTime", "MD5", "CheckSum"]
            .into_iter()
            .map(|name| SignatureField { name, location: FieldIn::Header, required: true, description: "" })
            .collect()
    }

    #[test]
    fn refusals_are_bounded_and_keep_no_digest() {
        let activity = Activity::new(&netease_fields());
        let now = SystemTime::now();
        let signed = unix_secs(now) * 1000 - 400_000;
        let request = CallbackRequest {
            method: "POST".into(),
            path_and_query: "/callbacks/netease".into(),
            headers: vec![
                ("appkey".into(), "someone-else".into()),
                ("curtime".into(), signed.to_string()),
                ("checksum".into(), "deadbeef".into()),
            ],
            body: vec![b'x'; 5000].into(),
        };
        for _ in 0..REFUSALS_KEPT + 5 {
            activity.refused(&request, VerifyFailure::Stale, now);
        }
        let refusals = activity.refusals();
        assert_eq!((refusals.entries.len(), refusals.dropped), (REFUSALS_KEPT, 5));
        let one = &refusals.entries[0];
        assert_eq!(one.skew_secs, Some(400));
        assert_eq!(one.app.as_deref(), Some("someone-else"));
        assert_eq!((one.body.len(), one.body_len), (BODY_KEPT, 5000));
        assert!(!format!("{one:?}").contains("deadbeef"));
    }

    #[test]
    fn minutes_count_by_outcome_and_reset_when_reused() {
        let activity = Activity::new(&[]);
        activity.count(Outcome::Stored);
        activity.count(Outcome::Stored);
        activity.count(Outcome::Refused);
        let minutes = activity.per_minute(SystemTime::now());
        assert_eq!(minutes.len(), MINUTES);
        assert_eq!(minutes.last().unwrap().1, [2, 0, 0, 1, 0]);
        // An hour later the same slot belongs to another minute: nothing shows.
        let later = activity.per_minute(SystemTime::now() + std::time::Duration::from_secs(3600));
        assert!(later.iter().all(|(_, c)| c.iter().all(|&n| n == 0)));
    }
}
