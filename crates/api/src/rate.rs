//! A per-source-address token bucket for the unauthenticated ramdisk callbacks
//! (`/v1/continue_inspection`, the inspector's `/v1/continue`): a flood of reports (a
//! misbehaving ramdisk, a discovery storm, an attacker) gets 429 instead of CPU and disk.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens added per second.
    rate: f64,
    /// Bucket size (the burst allowed).
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// Buckets kept before idle (full) ones are dropped.
const MAX_BUCKETS: usize = 10_000;

impl RateLimiter {
    /// `per_minute` requests per minute per address, with bursts up to `burst`; `per_minute`
    /// 0 disables the limit.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        RateLimiter { rate: per_minute as f64 / 60.0, burst: burst.max(1) as f64, buckets: Mutex::new(HashMap::new()) }
    }

    /// Take one token for `addr` at `now`; `Err(seconds to wait)` when there is none.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() >= MAX_BUCKETS && !b.contains_key(&addr) {
            let (rate, burst) = (self.rate, self.burst);
            b.retain(|_, (tokens, at)| *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = b.entry(addr).or_insert((self.burst, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64() * self.rate;
        *tokens = (*tokens + refill).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill_per_address() {
        let r = RateLimiter::new(60, 3);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(r.check(a, t0).is_ok());
        }
        assert_eq!(r.check(a, t0), Err(1));
        assert!(r.check(b, t0).is_ok(), "another address has its own bucket");
        assert!(r.check(a, t0 + Duration::from_millis(1100)).is_ok(), "one token a second");
        assert!(r.check(a, t0 + Duration::from_millis(1200)).is_err());
        assert!(RateLimiter::new(0, 1).check(a, t0).is_ok(), "0 disables");
    }

    #[test]
    fn many_addresses_do_not_grow_without_bound() {
        let r = RateLimiter::new(60, 2);
        let t0 = Instant::now();
        for i in 0..(MAX_BUCKETS as u32 + 500) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = r.check(ip, t0);
        }
        // Later, the idle (refilled) buckets are dropped when a new address comes.
        let later = t0 + Duration::from_secs(10);
        let _ = r.check("203.0.113.1".parse().unwrap(), later);
        assert!(r.buckets.lock().unwrap().len() < 10, "{}", r.buckets.lock().unwrap().len());
    }
}
