//! Time and randomness, injectable so the protocol's waits (lookup backoff, 409 pauses,
//! heartbeat jitter, inspection retries) can be tested without waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The agent's source of time and of the random jitter IPA applies to its waits.
pub trait Clock: Send + Sync + 'static {
    /// Monotonic time since an arbitrary origin.
    fn now(&self) -> Duration;
    /// Wait for `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<()>;
    /// A uniformly distributed value in `[lo, hi]` (Python's `random.uniform`).
    fn uniform(&self, lo: f64, hi: f64) -> f64;
}

/// Real time and a pseudo-random generator seeded from the OS.
pub struct SystemClock {
    origin: Instant,
    rng: Mutex<Rng>,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
            rng: Mutex::new(Rng::from_os()),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(d))
    }
    fn uniform(&self, lo: f64, hi: f64) -> f64 {
        let r = self.rng.lock().unwrap().next_f64();
        lo + (hi - lo) * r
    }
}

/// A test clock: `sleep` completes at once (or after `real_scale` × the duration of real time)
/// and moves `now` forward by the requested duration; every completed sleep is recorded.
/// `uniform(lo, hi)` returns `lo + (hi - lo) × fraction`.
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    now: Mutex<Duration>,
    sleeps: Mutex<Vec<Duration>>,
    fraction: Mutex<f64>,
    real_scale: f64,
}

impl ManualClock {
    /// Sleeps return immediately (after yielding to the scheduler); `uniform` picks the middle.
    pub fn new() -> Self {
        Self::with_real_scale(0.0)
    }

    /// Sleeps take `scale` × their duration in real time (e.g. 0.001: a 5 s wait takes 5 ms).
    pub fn with_real_scale(scale: f64) -> Self {
        ManualClock {
            inner: Arc::new(ManualInner {
                now: Mutex::new(Duration::ZERO),
                sleeps: Mutex::new(Vec::new()),
                fraction: Mutex::new(0.5),
                real_scale: scale,
            }),
        }
    }

    /// Where in `[lo, hi]` `uniform` answers: 0.0 is `lo`, 1.0 is `hi`.
    pub fn set_fraction(&self, f: f64) {
        *self.inner.fraction.lock().unwrap() = f;
    }

    /// The sleeps that have completed, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.inner.sleeps.lock().unwrap().clone()
    }

    /// Move time forward without sleeping (e.g. to model a slow request).
    pub fn advance(&self, d: Duration) {
        *self.inner.now.lock().unwrap() += d;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.inner.now.lock().unwrap()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<()> {
        let inner = self.inner.clone();
        Box::pin(async move {
            if inner.real_scale > 0.0 {
                tokio::time::sleep(d.mul_f64(inner.real_scale)).await;
            } else {
                tokio::task::yield_now().await;
            }
            *inner.now.lock().unwrap() += d;
            inner.sleeps.lock().unwrap().push(d);
        })
    }
    fn uniform(&self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * *self.inner.fraction.lock().unwrap()
    }
}

/// xoshiro256** — fast, non-cryptographic; used for jitter and for random overwrite passes.
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub(crate) fn from_os() -> Self {
        let a = uuid::Uuid::new_v4().as_u128();
        let b = uuid::Uuid::new_v4().as_u128();
        Self::from_seed([a as u64, (a >> 64) as u64, b as u64, (b >> 64) as u64])
    }

    pub(crate) fn from_seed(mut s: [u64; 4]) -> Self {
        if s == [0; 4] {
            s[0] = 0x9E37_79B9_7F4A_7C15;
        }
        Rng { s }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let v = self.next_u64().to_le_bytes();
            let n = rest.len();
            rest.copy_from_slice(&v[..n]);
        }
    }
}
