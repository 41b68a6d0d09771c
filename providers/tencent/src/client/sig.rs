//! The admin's UserSig, made locally and cached: every REST call carries it, and signing (HMAC +
//! deflate) on every call would be wasted work.

use std::sync::Mutex;

/// How long an admin UserSig is made for. Short enough that a leaked request URL is not a
/// long-lived credential; long enough that renewal is rare.
pub(crate) const ADMIN_USERSIG_TTL: u64 = 24 * 3600;

/// A cached UserSig, renewed once less than a tenth of its lifetime is left, so a call never
/// carries one about to expire in flight; also renewed when the clock went back before the cached
/// one's `TLS.time` (nothing says Tencent accepts a UserSig from the future).
pub(crate) struct AdminSig {
    ttl: u64,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    usersig: String,
    made_at: u64,
}

impl AdminSig {
    pub(crate) fn new(ttl: u64) -> Self {
        Self { ttl: ttl.max(10), cached: Mutex::new(None) }
    }

    /// Renew when fewer than `ttl / 10` seconds remain.
    fn margin(&self) -> u64 {
        self.ttl / 10
    }

    /// The UserSig to use at `now` (unix seconds); `make(time, expire)` signs a new one.
    pub(crate) fn get(&self, now: u64, make: impl FnOnce(u64, u64) -> String) -> String {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.as_ref() {
            let renew_at = c.made_at + self.ttl - self.margin();
            if now >= c.made_at && now < renew_at {
                return c.usersig.clone();
            }
        }
        let usersig = make(now, self.ttl);
        *cached = Some(Cached { usersig: usersig.clone(), made_at: now });
        usersig
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_until_the_margin_then_renewed() {
        let sig = AdminSig::new(1000);
        let make = |t: u64, e: u64| format!("sig-{t}-{e}");
        assert_eq!(sig.get(5000, make), "sig-5000-1000");
        assert_eq!(sig.get(5001, make), "sig-5000-1000");
        assert_eq!(sig.get(5899, make), "sig-5000-1000");
        // 100 s (a tenth) left: renewed.
        assert_eq!(sig.get(5900, make), "sig-5900-1000");
        assert_eq!(sig.get(5950, make), "sig-5900-1000");
        // The clock went back before the cached one was made: renewed too.
        assert_eq!(sig.get(4000, make), "sig-4000-1000");
    }
}
