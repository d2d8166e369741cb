//! EBS performance models as token buckets: a request pays I/O operations and bytes, and waits until the
//! buckets it drew on are out of debt. Requests are never failed for being over the limit, only delayed.
//!
//! - gp2: baseline 3 IOPS/GiB (100 … 16,000); below 3,000 it bursts to 3,000 IOPS from a 5.4 M credit
//!   bucket refilled at the baseline rate; throughput 128 MiB/s up to 170 GiB, 250 MiB/s above.
//! - gp3: provisioned IOPS and throughput; io1 / io2: provisioned IOPS, throughput 256 KiB × IOPS
//!   (capped at 1,000 / 4,000 MiB/s).
//! - st1 / sc1: throughput credits: baseline 40 / 12 MiB/s per TiB, burst 250 / 80 MiB/s per TiB, cap
//!   500 / 250 MiB/s, a bucket of 1 TiB of credits per TiB of size; 500 / 250 IOPS.
//!
//! I/O size accounting as EBS: SSD types count one operation per 256 KiB, HDD types per 1 MiB.
//!
//! [`CreditScale`] (`--burst-credits-scale`) shrinks or grows the burst buckets, and only them: a gp2
//! volume still bursts at 3,000 IOPS and falls to 3 IOPS/GiB, just sooner, so a benchmark or a test can
//! reach the cliff in seconds instead of half an hour.

use std::sync::Mutex;
use std::time::Duration;

use common::clock::SharedClock;
use common::token_bucket::TokenBucket;

use super::volume::{GIB, MIB, VolumeSpec, VolumeType, gp2_baseline_iops};

/// gp2's burst bucket: 5.4 million I/O credits, enough for 3,000 IOPS for 30 minutes.
pub const GP2_CREDITS: u64 = 5_400_000;
pub const GP2_BURST_IOPS: u64 = 3_000;
/// Idle time a peak-rate bucket may bank, so pacing stays within a few percent of the modelled rate.
const PEAK_WINDOW_DIVISOR: u64 = 50;

/// The factor applied to the capacity (initial and maximum balance) of the burst credit buckets: gp2's
/// I/O credits and st1 / sc1's throughput credits. 1.0 is AWS's size. Rates are never scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CreditScale(f64);

/// Why a credit scale was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("burst credit scale {0:?} must be a number between 0 and {max}", max = CreditScale::MAX)]
pub struct BadCreditScale(String);

impl CreditScale {
    /// AWS's bucket sizes.
    pub const AWS: Self = Self(1.0);
    /// Far above any use, and low enough that a scaled bucket stays well inside the token bucket's range.
    pub const MAX: f64 = 1_000.0;

    pub fn new(factor: f64) -> Result<Self, BadCreditScale> {
        if factor.is_finite() && (0.0..=Self::MAX).contains(&factor) {
            Ok(Self(factor))
        } else {
            Err(BadCreditScale(factor.to_string()))
        }
    }

    pub fn factor(self) -> f64 {
        self.0
    }

    /// `credits` scaled, rounded to the nearest whole credit.
    pub fn apply(self, credits: u64) -> u64 {
        // Exact for the default: no float round trip of AWS's numbers.
        if self == Self::AWS { credits } else { (credits as f64 * self.0).round() as u64 }
    }
}

impl Default for CreditScale {
    fn default() -> Self {
        Self::AWS
    }
}

impl std::str::FromStr for CreditScale {
    type Err = BadCreditScale;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let factor: f64 = s.trim().parse().map_err(|_| BadCreditScale(s.to_string()))?;
        Self::new(factor)
    }
}

/// The rates a spec allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Highest I/O operations per second (the burst rate where there is one).
    pub peak_iops: u64,
    /// (refill rate, capacity) of an IOPS credit bucket (gp2 below 3,000 baseline IOPS).
    pub iops_credits: Option<(u64, u64)>,
    /// Highest bytes per second.
    pub peak_bytes: u64,
    /// Bytes per second once the IOPS burst credits are spent (gp2 between 170 and 334 GiB).
    pub depleted_bytes: Option<u64>,
    /// (refill rate in bytes/s, capacity in bytes) of a throughput credit bucket (st1 / sc1).
    pub byte_credits: Option<(u64, u64)>,
    /// Bytes per counted I/O operation.
    pub op_size: u64,
}

impl Limits {
    pub fn of(spec: &VolumeSpec) -> Self {
        let size = spec.size_gib;
        match spec.volume_type {
            VolumeType::Gp2 => {
                let baseline = u64::from(gp2_baseline_iops(size));
                // 128 MiB/s up to 170 GiB, 250 MiB/s from 334 GiB; in between 250 only while burst
                // credits last.
                let bytes = if size <= 170 { 128 * MIB } else { 250 * MIB };
                Limits {
                    peak_iops: baseline.max(GP2_BURST_IOPS),
                    iops_credits: (baseline < GP2_BURST_IOPS).then_some((baseline, GP2_CREDITS)),
                    peak_bytes: bytes,
                    depleted_bytes: (170 < size && size < 334).then_some(128 * MIB),
                    byte_credits: None,
                    op_size: 256 * 1024,
                }
            }
            VolumeType::Gp3 => Limits {
                peak_iops: u64::from(spec.iops.unwrap_or(3_000)),
                iops_credits: None,
                peak_bytes: u64::from(spec.throughput.unwrap_or(125)) * MIB,
                depleted_bytes: None,
                byte_credits: None,
                op_size: 256 * 1024,
            },
            VolumeType::Io1 | VolumeType::Io2 => {
                let iops = u64::from(spec.iops.unwrap_or(100));
                let cap = if spec.volume_type == VolumeType::Io1 { 1_000 } else { 4_000 };
                Limits {
                    peak_iops: iops,
                    iops_credits: None,
                    peak_bytes: (iops * 256 * 1024).min(cap * MIB),
                    depleted_bytes: None,
                    byte_credits: None,
                    op_size: 256 * 1024,
                }
            }
            VolumeType::St1 | VolumeType::Sc1 => {
                let (base_per_tib, burst_per_tib, cap, iops) =
                    if spec.volume_type == VolumeType::St1 { (40, 250, 500, 500) } else { (12, 80, 250, 250) };
                // Rates scale with size in TiB; work in bytes to keep fractions of a TiB exact.
                let baseline = (base_per_tib * MIB * size / 1024).min(cap * MIB);
                let burst = (burst_per_tib * MIB * size / 1024).min(cap * MIB);
                Limits {
                    peak_iops: iops,
                    iops_credits: None,
                    peak_bytes: burst.max(baseline),
                    depleted_bytes: None,
                    byte_credits: (baseline < burst).then_some((baseline, size * GIB)),
                    op_size: MIB,
                }
            }
        }
    }

    /// These limits with the burst buckets' capacities scaled (the rates stay as they are).
    pub fn with_credit_scale(self, scale: CreditScale) -> Self {
        Self {
            iops_credits: self.iops_credits.map(|(rate, cap)| (rate, scale.apply(cap))),
            byte_credits: self.byte_credits.map(|(rate, cap)| (rate, scale.apply(cap))),
            ..self
        }
    }
}

#[derive(Debug)]
struct Buckets {
    limits: Limits,
    iops: TokenBucket,
    iops_credits: Option<TokenBucket>,
    bytes: TokenBucket,
    depleted_bytes: Option<TokenBucket>,
    byte_credits: Option<TokenBucket>,
}

fn peak_bucket(rate: u64, now: u64) -> TokenBucket {
    let capacity = (rate / PEAK_WINDOW_DIVISOR).max(1);
    TokenBucket::full(rate, capacity, now)
}

impl Buckets {
    fn new(limits: Limits, now: u64) -> Self {
        Self {
            limits,
            iops: peak_bucket(limits.peak_iops, now),
            iops_credits: limits.iops_credits.map(|(rate, cap)| TokenBucket::full(rate, cap, now)),
            bytes: peak_bucket(limits.peak_bytes, now),
            depleted_bytes: limits.depleted_bytes.map(|rate| peak_bucket(rate, now)),
            byte_credits: limits.byte_credits.map(|(rate, cap)| TokenBucket::full(rate, cap, now)),
        }
    }
}

/// How long until `bucket` is out of debt (zero when it is not in debt).
fn debt_wait(bucket: &mut TokenBucket, now: u64) -> Duration {
    match bucket.try_acquire(0, now) {
        Ok(()) => Duration::ZERO,
        Err(wait) => wait.unwrap_or(Duration::MAX),
    }
}

fn balance(b: &mut Buckets, now: u64) -> Option<f64> {
    let bucket = match (b.iops_credits.as_mut(), b.byte_credits.as_mut()) {
        (Some(bucket), _) | (None, Some(bucket)) => bucket,
        (None, None) => return None,
    };
    let capacity = bucket.capacity().max(1) as f64;
    Some(bucket.available(now) as f64 * 100.0 / capacity)
}

/// The performance model of one volume.
#[derive(Debug)]
pub struct PerfModel {
    clock: SharedClock,
    credit_scale: CreditScale,
    buckets: Mutex<Buckets>,
}

impl PerfModel {
    /// AWS's model of `spec`, with burst buckets of `credit_scale` times AWS's size, full.
    pub fn new(spec: &VolumeSpec, clock: SharedClock, credit_scale: CreditScale) -> Self {
        let now = clock.monotonic_nanos();
        let limits = Limits::of(spec).with_credit_scale(credit_scale);
        Self { buckets: Mutex::new(Buckets::new(limits, now)), clock, credit_scale }
    }

    /// Charges one request of `len` bytes; returns how long it must wait before it is served, and the
    /// burst balance left (percent) for the types that have one.
    pub fn charge(&self, len: u64) -> (Duration, Option<f64>) {
        let now = self.clock.monotonic_nanos();
        let mut b = self.buckets.lock().expect("perf model lock");
        let ops = len.div_ceil(b.limits.op_size).max(1);
        let mut wait = Duration::ZERO;
        b.iops.consume(ops, now);
        wait = wait.max(debt_wait(&mut b.iops, now));
        let mut depleted = false;
        if let Some(credits) = b.iops_credits.as_mut() {
            credits.consume(ops, now);
            let credit_wait = debt_wait(credits, now);
            depleted = !credit_wait.is_zero();
            wait = wait.max(credit_wait);
        }
        if depleted && let Some(slow) = b.depleted_bytes.as_mut() {
            slow.consume(len, now);
            wait = wait.max(debt_wait(slow, now));
        }
        b.bytes.consume(len, now);
        wait = wait.max(debt_wait(&mut b.bytes, now));
        if let Some(credits) = b.byte_credits.as_mut() {
            credits.consume(len, now);
            wait = wait.max(debt_wait(credits, now));
        }
        (wait, balance(&mut b, now))
    }

    /// Applies a ModifyVolume: new rates at once, banked credits kept up to the new capacity.
    pub fn reconfigure(&self, spec: &VolumeSpec) {
        let now = self.clock.monotonic_nanos();
        let limits = Limits::of(spec).with_credit_scale(self.credit_scale);
        let mut b = self.buckets.lock().expect("perf model lock");
        b.iops.reconfigure(limits.peak_iops, (limits.peak_iops / PEAK_WINDOW_DIVISOR).max(1), now);
        b.bytes.reconfigure(limits.peak_bytes, (limits.peak_bytes / PEAK_WINDOW_DIVISOR).max(1), now);
        b.iops_credits = match (limits.iops_credits, b.iops_credits.take()) {
            (Some((rate, cap)), Some(mut old)) => {
                old.reconfigure(rate, cap, now);
                Some(old)
            }
            (Some((rate, cap)), None) => Some(TokenBucket::full(rate, cap, now)),
            (None, _) => None,
        };
        b.byte_credits = match (limits.byte_credits, b.byte_credits.take()) {
            (Some((rate, cap)), Some(mut old)) => {
                old.reconfigure(rate, cap, now);
                Some(old)
            }
            (Some((rate, cap)), None) => Some(TokenBucket::full(rate, cap, now)),
            (None, _) => None,
        };
        b.depleted_bytes = limits.depleted_bytes.map(|rate| peak_bucket(rate, now));
        b.limits = limits;
    }

    /// CloudWatch's BurstBalance: percent of the burst bucket left (gp2, st1, sc1 only).
    pub fn burst_balance(&self) -> Option<f64> {
        let now = self.clock.monotonic_nanos();
        let mut b = self.buckets.lock().expect("perf model lock");
        balance(&mut b, now)
    }

    pub fn limits(&self) -> Limits {
        self.buckets.lock().expect("perf model lock").limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::volume::{SpecRequest, VolumeSpec};
    use common::clock::FakeClock;

    fn spec(t: &str, size: u64, iops: Option<u32>) -> VolumeSpec {
        VolumeSpec::for_create(&SpecRequest {
            volume_type: Some(t.into()),
            size_gib: Some(size),
            iops,
            ..Default::default()
        })
        .unwrap()
    }

    /// A closed-loop client with one request in flight and no service time: issues requests of `len`
    /// bytes for `seconds` of fake time and returns how many completed in each second.
    fn drive(model: &PerfModel, clock: &FakeClock, len: u64, seconds: u64) -> Vec<u64> {
        let mut per_second = vec![0u64; seconds as usize];
        let start = clock_now(clock);
        loop {
            let (wait, _) = model.charge(len);
            clock.advance(wait);
            let elapsed = clock_now(clock) - start;
            let second = (elapsed / 1_000_000_000) as usize;
            if second >= per_second.len() {
                return per_second;
            }
            per_second[second] += 1;
            if wait.is_zero() {
                // Banked tokens are served at once; a sliver of time keeps the loop moving.
                clock.advance(Duration::from_micros(1));
            }
        }
    }

    fn clock_now(clock: &FakeClock) -> u64 {
        use common::clock::Clock;
        clock.monotonic_nanos()
    }

    #[test]
    fn gp2_100_gib_bursts_at_3000_until_credits_run_out_then_300() {
        let clock = FakeClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let model = PerfModel::new(&spec("gp2", 100, None), clock.clone(), CreditScale::AWS);
        assert_eq!(model.burst_balance(), Some(100.0));
        // 5.4 M credits drain at 3,000 − 300 = 2,700 per second: 2,000 s of burst.
        let rates = drive(&model, &clock, 4096, 2_300);
        for (second, &ops) in rates.iter().enumerate().take(1_990).skip(1) {
            assert!((2_985..=3_015).contains(&ops), "second {second}: {ops} IOPS during the burst");
        }
        for (second, &ops) in rates.iter().enumerate().skip(2_010) {
            assert!((297..=303).contains(&ops), "second {second}: {ops} IOPS after the credits ran out");
        }
        assert!(model.burst_balance().unwrap() < 1.0);
        // Idle time refills credits at the baseline rate: 1,000 s bring back 300,000 credits.
        clock.advance(Duration::from_secs(1_000));
        let balance = model.burst_balance().unwrap();
        assert!((5.0..=6.0).contains(&balance), "balance {balance}");
    }

    #[test]
    fn gp2_between_170_and_334_gib_gets_250_mib_s_only_while_credits_last() {
        let clock = FakeClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let model = PerfModel::new(&spec("gp2", 200, None), clock.clone(), CreditScale::AWS);
        // 1 MiB = 4 ops; 250 MiB/s = 1,000 IOPS against a 600 IOPS baseline: credits last 13,500 s.
        let rates = drive(&model, &clock, MIB, 14_000);
        assert!((247..=253).contains(&rates[100]), "burst {}", rates[100]);
        assert!((247..=253).contains(&rates[13_000]), "still bursting {}", rates[13_000]);
        // Spent: 128 MiB/s, except that the 600 IOPS baseline keeps earning credits a 128 MiB/s stream
        // (512 IOPS) does not use, and those are spent bursting: the blend sits at the IOPS baseline.
        assert!((126..=151).contains(&rates[13_900]), "depleted {}", rates[13_900]);
    }

    #[test]
    fn io1_holds_its_provisioned_iops() {
        let clock = FakeClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let model = PerfModel::new(&spec("io1", 100, Some(5_000)), clock.clone(), CreditScale::AWS);
        assert_eq!(model.burst_balance(), None);
        let rates = drive(&model, &clock, 16 * 1024, 60);
        for (second, &ops) in rates.iter().enumerate().skip(1) {
            assert!((4_990..=5_010).contains(&ops), "second {second}: {ops}");
        }
    }

    #[test]
    fn ssd_counts_one_op_per_256_kib() {
        let clock = FakeClock::new(time::OffsetDateTime::UNIX_EPOCH);
        // io1 1,000 IOPS → 250 MiB/s; 1 MiB requests cost 4 ops → 250 requests per second.
        let model = PerfModel::new(&spec("io1", 100, Some(1_000)), clock.clone(), CreditScale::AWS);
        let rates = drive(&model, &clock, MIB, 10);
        assert!((248..=252).contains(&rates[5]), "{}", rates[5]);
    }

    #[test]
    fn st1_bursts_by_throughput_then_falls_to_baseline() {
        let clock = FakeClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let model = PerfModel::new(&spec("st1", 1_024, None), clock.clone(), CreditScale::AWS);
        // 1 TiB of credits drains at 250 − 40 = 210 MiB/s: about 4,993 s of burst.
        let rates = drive(&model, &clock, MIB, 5_200);
        assert!((247..=253).contains(&rates[100]), "burst {}", rates[100]);
        assert!((247..=253).contains(&rates[4_900]), "still bursting {}", rates[4_900]);
        assert!((39..=41).contains(&rates[5_100]), "baseline {}", rates[5_100]);
    }

    #[test]
    fn gp3_caps_throughput_and_modify_changes_it() {
        let clock = FakeClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let base = spec("gp3", 100, None);
        let model = PerfModel::new(&base, clock.clone(), CreditScale::AWS);
        let rates = drive(&model, &clock, MIB, 5);
        assert!((123..=127).contains(&rates[3]), "125 MiB/s: {}", rates[3]);
        let faster =
            base.for_modify(&SpecRequest { throughput: Some(500), iops: Some(6_000), ..Default::default() }).unwrap();
        model.reconfigure(&faster);
        let rates = drive(&model, &clock, MIB, 5);
        assert!((495..=505).contains(&rates[3]), "500 MiB/s: {}", rates[3]);
    }

    #[test]
    fn a_scaled_gp2_bucket_reaches_the_same_cliff_sooner_at_the_same_rates() {
        let clock = FakeClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let scale = CreditScale::new(0.01).unwrap();
        let model = PerfModel::new(&spec("gp2", 1, None), clock.clone(), scale);
        let aws = Limits::of(&spec("gp2", 1, None));
        assert_eq!(model.limits().peak_iops, aws.peak_iops, "the burst rate is not scaled");
        assert_eq!(model.limits().iops_credits, Some((100, 54_000)), "baseline kept, bucket scaled");
        assert_eq!(model.burst_balance(), Some(100.0), "a new volume starts with a full (scaled) bucket");
        // 54,000 credits drain at 3,000 − 100 = 2,900 per second: 18.6 s of burst, then 100 IOPS.
        let rates = drive(&model, &clock, 4096, 30);
        for (second, &ops) in rates.iter().enumerate().take(18).skip(1) {
            assert!((2_985..=3_015).contains(&ops), "second {second}: {ops} IOPS during the burst");
        }
        for (second, &ops) in rates.iter().enumerate().skip(20) {
            assert!((99..=101).contains(&ops), "second {second}: {ops} IOPS after the credits ran out");
        }
        // Idle time refills at the baseline rate, up to the scaled capacity only.
        clock.advance(Duration::from_secs(270));
        let balance = model.burst_balance().unwrap();
        assert!((49.0..=51.0).contains(&balance), "27,000 of 54,000 credits back: {balance}");
        clock.advance(Duration::from_secs(10_000));
        assert_eq!(model.burst_balance(), Some(100.0));
        // A modification keeps the scale: 50 GiB has a 150 IOPS baseline and the same scaled bucket.
        model.reconfigure(&spec("gp2", 50, None));
        assert_eq!(model.limits().iops_credits, Some((150, 54_000)));
    }

    #[test]
    fn a_zero_scale_leaves_gp2_at_its_baseline() {
        let clock = FakeClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let model = PerfModel::new(&spec("gp2", 10, None), clock.clone(), CreditScale::new(0.0).unwrap());
        let rates = drive(&model, &clock, 4096, 10);
        for (second, &ops) in rates.iter().enumerate().skip(1) {
            assert!((99..=101).contains(&ops), "second {second}: {ops}");
        }
    }

    #[test]
    fn a_scaled_st1_bucket_scales_its_throughput_credits_only() {
        let clock = FakeClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let model = PerfModel::new(&spec("st1", 1_024, None), clock.clone(), CreditScale::new(0.01).unwrap());
        // 10.24 GiB of credits drain at 250 − 40 = 210 MiB/s: about 50 s of burst.
        let rates = drive(&model, &clock, MIB, 70);
        assert!((247..=253).contains(&rates[10]), "burst {}", rates[10]);
        assert!((247..=253).contains(&rates[45]), "still bursting {}", rates[45]);
        assert!((39..=41).contains(&rates[60]), "baseline {}", rates[60]);
    }

    #[test]
    fn credit_scales_are_checked() {
        assert_eq!("1".parse::<CreditScale>(), Ok(CreditScale::AWS));
        assert_eq!(" 0.001 ".parse::<CreditScale>().map(CreditScale::factor), Ok(0.001));
        for bad in ["-0.5", "NaN", "inf", "abc", "", "1000.5"] {
            assert!(bad.parse::<CreditScale>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(CreditScale::AWS.apply(GP2_CREDITS), GP2_CREDITS);
        assert_eq!(CreditScale::new(0.5).unwrap().apply(GP2_CREDITS), 2_700_000);
    }
}
