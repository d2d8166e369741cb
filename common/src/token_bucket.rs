//! Token buckets: a rate (tokens per second) and a burst capacity, the shape of EBS IOPS/throughput
//! budgets and burst credits and of DynamoDB's RCU/WCU with burst capacity.
//!
//! Arithmetic is exact: the level is kept in nano-tokens, so `elapsed_ns × rate` adds without rounding
//! and no sequence of calls can admit more than `rate × time + burst`.

use std::sync::Mutex;
use std::time::Duration;

use crate::clock::SharedClock;

const NANO: i128 = 1_000_000_000;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    capacity: u64,
    /// Tokens × 10⁹; negative while in debt after [`TokenBucket::consume`].
    level: i128,
    last: u64,
}

impl TokenBucket {
    /// A bucket refilling at `rate` tokens/s up to `capacity`, holding `initial` tokens at `now`.
    pub fn new(rate: u64, capacity: u64, initial: u64, now: u64) -> Self {
        Self { rate, capacity, level: i128::from(initial.min(capacity)) * NANO, last: now }
    }

    /// A bucket that starts full.
    pub fn full(rate: u64, capacity: u64, now: u64) -> Self {
        Self::new(rate, capacity, capacity, now)
    }

    fn refill(&mut self, now: u64) {
        if now > self.last {
            let added = i128::from(now - self.last) * i128::from(self.rate);
            self.level = (self.level + added).min(i128::from(self.capacity) * NANO);
            self.last = now;
        }
    }

    /// Takes `n` tokens if they are all there; otherwise takes none and says how long until they are
    /// (`None` when they never will be: `n` above capacity, or a zero rate).
    pub fn try_acquire(&mut self, n: u64, now: u64) -> Result<(), Option<Duration>> {
        self.refill(now);
        let need = i128::from(n) * NANO;
        if self.level >= need {
            self.level -= need;
            return Ok(());
        }
        if n > self.capacity || self.rate == 0 {
            return Err(None);
        }
        let missing = need - self.level;
        let rate = i128::from(self.rate);
        Err(Some(Duration::from_nanos(((missing + rate - 1) / rate) as u64)))
    }

    /// Takes `n` tokens unconditionally, going into debt if needed (for costs known only after the work
    /// is done, like DynamoDB reads whose size is known after reading).
    pub fn consume(&mut self, n: u64, now: u64) {
        self.refill(now);
        self.level -= i128::from(n) * NANO;
    }

    /// Whole tokens available at `now` (0 while in debt).
    pub fn available(&mut self, now: u64) -> u64 {
        self.refill(now);
        (self.level.max(0) / NANO) as u64
    }

    /// Changes rate and capacity (ModifyVolume, UpdateTable), keeping the accrued level up to the new cap.
    pub fn reconfigure(&mut self, rate: u64, capacity: u64, now: u64) {
        self.refill(now);
        self.rate = rate;
        self.capacity = capacity;
        self.level = self.level.min(i128::from(capacity) * NANO);
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}

/// A bucket shared between tasks, reading time from a `Clock`.
#[derive(Debug)]
pub struct SharedBucket {
    bucket: Mutex<TokenBucket>,
    clock: SharedClock,
}

impl SharedBucket {
    pub fn new(rate: u64, capacity: u64, initial: u64, clock: SharedClock) -> Self {
        let now = clock.monotonic_nanos();
        Self { bucket: Mutex::new(TokenBucket::new(rate, capacity, initial, now)), clock }
    }
    pub fn try_acquire(&self, n: u64) -> Result<(), Option<Duration>> {
        let now = self.clock.monotonic_nanos();
        self.bucket.lock().expect("bucket lock").try_acquire(n, now)
    }
    pub fn consume(&self, n: u64) {
        let now = self.clock.monotonic_nanos();
        self.bucket.lock().expect("bucket lock").consume(n, now)
    }
    pub fn available(&self) -> u64 {
        let now = self.clock.monotonic_nanos();
        self.bucket.lock().expect("bucket lock").available(now)
    }
    pub fn reconfigure(&self, rate: u64, capacity: u64) {
        let now = self.clock.monotonic_nanos();
        self.bucket.lock().expect("bucket lock").reconfigure(rate, capacity, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FakeClock};
    use proptest::prelude::*;

    #[test]
    fn wait_hint_is_exact() {
        let mut b = TokenBucket::new(100, 100, 0, 0);
        assert_eq!(b.try_acquire(10, 0), Err(Some(Duration::from_millis(100))));
        assert_eq!(b.try_acquire(10, 100_000_000), Ok(()));
        assert_eq!(b.try_acquire(101, 100_000_000), Err(None), "more than capacity never fits");
    }

    #[test]
    fn debt_delays_later_requests() {
        let mut b = TokenBucket::full(10, 10, 0);
        b.consume(30, 0);
        assert_eq!(b.available(0), 0);
        assert!(b.try_acquire(1, 1_000_000_000).is_err(), "still 10 tokens in debt after 1 s");
        assert_eq!(b.try_acquire(1, 2_100_000_000), Ok(()));
    }

    #[test]
    fn shared_bucket_follows_the_fake_clock() {
        let clock = FakeClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let b = SharedBucket::new(5, 5, 0, clock.clone());
        assert!(b.try_acquire(1).is_err());
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.available(), 5);
        assert_eq!(clock.wall().unix_timestamp(), 1);
    }

    #[derive(Debug, Clone)]
    enum Step {
        Wait(u64),
        Take(u64),
        Force(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u64..3_000_000_000).prop_map(Step::Wait),
            (0u64..400).prop_map(Step::Take),
            (0u64..50).prop_map(Step::Force),
        ]
    }

    proptest! {
        /// Over any sequence, what is admitted never exceeds rate × elapsed + what the bucket held at the
        /// start (≤ burst), and the level never exceeds the burst cap.
        #[test]
        fn admitted_never_exceeds_rate_times_time_plus_burst(
            rate in 1u64..10_000, capacity in 1u64..5_000, initial in 0u64..5_000,
            steps in proptest::collection::vec(step(), 1..200),
        ) {
            let mut b = TokenBucket::new(rate, capacity, initial, 0);
            let mut now = 0u64;
            let mut admitted: u128 = 0;
            for s in steps {
                match s {
                    Step::Wait(ns) => now += ns,
                    Step::Take(n) => if b.try_acquire(n, now).is_ok() { admitted += u128::from(n) },
                    // Forced consumption only lowers the level, so it never raises what try_acquire admits.
                    Step::Force(n) => b.consume(n, now),
                }
                let bound = u128::from(rate) * u128::from(now) / 1_000_000_000 + u128::from(initial.min(capacity));
                prop_assert!(admitted <= bound, "admitted {admitted} > bound {bound}");
                prop_assert!(b.available(now) <= capacity);
            }
        }

        /// Idle time accrues tokens at the rate, but only up to the cap.
        #[test]
        fn unused_capacity_accrues_only_up_to_the_cap(rate in 1u64..10_000, capacity in 1u64..100_000, idle_ns in 0u64..100_000_000_000) {
            let mut b = TokenBucket::new(rate, capacity, 0, 0);
            let expected = (u128::from(rate) * u128::from(idle_ns) / 1_000_000_000).min(u128::from(capacity));
            prop_assert_eq!(u128::from(b.available(idle_ns)), expected);
        }
    }
}
