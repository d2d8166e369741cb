//! Time as a dependency: everything that depends on time (token buckets, TTL, lifecycle, presign expiry)
//! takes a `Clock`, so tests move a `FakeClock` forward instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Monotonic nanoseconds since an arbitrary origin (never goes back).
    fn monotonic_nanos(&self) -> u64;
    /// Wall-clock time (UTC).
    fn wall(&self) -> OffsetDateTime;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock { origin: Instant::now() })
    }
}

impl Clock for SystemClock {
    fn monotonic_nanos(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
    fn wall(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; monotonic and wall time move together.
#[derive(Debug)]
pub struct FakeClock {
    nanos: AtomicU64,
    wall_origin: OffsetDateTime,
}

impl FakeClock {
    pub fn new(wall_origin: OffsetDateTime) -> Arc<Self> {
        Arc::new(Self { nanos: AtomicU64::new(0), wall_origin })
    }
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn monotonic_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }
    fn wall(&self) -> OffsetDateTime {
        self.wall_origin + Duration::from_nanos(self.monotonic_nanos())
    }
}
