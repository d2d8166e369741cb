//! DynamoDB's capacity model: what an operation consumes (1 RCU per 4 KB strongly consistent, half
//! for eventually consistent; 1 WCU per 1 KB), and per-table token buckets for PROVISIONED tables that
//! hold up to 300 seconds of unused capacity.

use common::clock::SharedClock;
use common::token_bucket::SharedBucket;

use super::error::{EngineError, Result};
use super::tables::Billing;

/// Unused capacity a table may bank, in seconds of its provisioned rate.
pub const BURST_SECONDS: u64 = 300;

/// Read units for `bytes` read (the sum of item sizes for Query/Scan), in half-units so eventually
/// consistent reads stay integral. At least one (half) unit is charged.
pub fn read_half_units(bytes: usize, consistent: bool) -> u64 {
    let units = (bytes as u64).div_ceil(4096).max(1);
    if consistent { units * 2 } else { units }
}

/// Write units for an item of `bytes` (the larger of the old and new item).
pub fn write_units(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(1024).max(1)
}

/// Token buckets of one table; `None` when the table is PAY_PER_REQUEST (never throttled).
#[derive(Debug)]
pub struct TableCapacity {
    /// Half read units.
    read: Option<SharedBucket>,
    write: Option<SharedBucket>,
    clock: SharedClock,
    metrics: CapacityMetrics,
}

/// A table's CloudWatch-style series (label `table`), registered once: looking them up in the
/// registry on every request, with a freshly allocated label, cost ~2 % of a GetItem.
#[derive(Debug, Clone)]
struct CapacityMetrics {
    /// Cumulative ConsumedReadCapacityUnits (a gauge because reads consume half units).
    consumed_read: metrics::Gauge,
    consumed_write: metrics::Counter,
    throttled: metrics::Counter,
    read_throttles: metrics::Counter,
    write_throttles: metrics::Counter,
}

impl CapacityMetrics {
    fn register(table: &str) -> Self {
        let label = || ("table", table.to_string());
        Self {
            consumed_read: metrics::gauge!("dynamodb_consumed_read_capacity_units", &[label()]),
            consumed_write: metrics::counter!("dynamodb_consumed_write_capacity_units_total", &[label()]),
            throttled: metrics::counter!("dynamodb_throttled_requests_total", &[label()]),
            read_throttles: metrics::counter!("dynamodb_read_throttle_events_total", &[label()]),
            write_throttles: metrics::counter!("dynamodb_write_throttle_events_total", &[label()]),
        }
    }
}

fn bucket(rate: u64, clock: &SharedClock) -> SharedBucket {
    SharedBucket::new(rate, rate * BURST_SECONDS, rate * BURST_SECONDS, clock.clone())
}

impl TableCapacity {
    /// The buckets `billing` asks for; consumption and throttling are counted under `table` (an
    /// index's under its table's name, as before indexes had buckets of their own).
    pub fn new(table: &str, billing: &Billing, clock: SharedClock) -> Self {
        Self::with_metrics(CapacityMetrics::register(table), billing, clock)
    }

    fn with_metrics(metrics: CapacityMetrics, billing: &Billing, clock: SharedClock) -> Self {
        match billing {
            Billing::PayPerRequest => Self { read: None, write: None, clock, metrics },
            Billing::Provisioned { read, write } => {
                Self { read: Some(bucket(read * 2, &clock)), write: Some(bucket(*write, &clock)), clock, metrics }
            }
        }
    }

    pub fn reconfigure(&mut self, billing: &Billing) {
        match (billing, &self.read, &self.write) {
            (Billing::Provisioned { read, write }, Some(r), Some(w)) => {
                r.reconfigure(read * 2, read * 2 * BURST_SECONDS);
                w.reconfigure(*write, write * BURST_SECONDS);
            }
            _ => *self = Self::with_metrics(self.metrics.clone(), billing, self.clock.clone()),
        }
    }

    /// Admits a read if the table has capacity left (its exact cost is known only after reading).
    pub fn admit_read(&self) -> Result<()> {
        self.admit(self.read.as_ref(), &self.metrics.read_throttles)
    }

    pub fn admit_write(&self) -> Result<()> {
        self.admit(self.write.as_ref(), &self.metrics.write_throttles)
    }

    pub fn charge_read(&self, half_units: u64) {
        if let Some(b) = &self.read {
            b.consume(half_units);
        }
        self.metrics.consumed_read.increment(half_units as f64 / 2.0);
    }

    pub fn charge_write(&self, units: u64) {
        if let Some(b) = &self.write {
            b.consume(units);
        }
        self.metrics.consumed_write.increment(units);
    }

    fn admit(&self, bucket: Option<&SharedBucket>, events: &metrics::Counter) -> Result<()> {
        match bucket {
            Some(b) if b.available() == 0 => {
                self.metrics.throttled.increment(1);
                events.increment(1);
                Err(EngineError::Throttled)
            }
            _ => Ok(()),
        }
    }
}

/// What an operation consumed, reported in ConsumedCapacity.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Consumed {
    pub table: String,
    /// The base table's own units (indexes are in `indexes`).
    pub read: f64,
    pub write: f64,
    pub indexes: Vec<IndexConsumed>,
}

/// One secondary index's units within an operation (ReturnConsumedCapacity INDEXES).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexConsumed {
    pub name: String,
    pub global: bool,
    pub read: f64,
    pub write: f64,
}

impl Consumed {
    pub fn read(table: &str, half_units: u64) -> Self {
        Consumed { table: table.into(), read: half_units as f64 / 2.0, ..Default::default() }
    }
    pub fn write(table: &str, units: u64) -> Self {
        Consumed { table: table.into(), write: units as f64, ..Default::default() }
    }
    /// Table and index units together (ConsumedCapacity.CapacityUnits).
    pub fn total(&self) -> f64 {
        self.read + self.write + self.indexes.iter().map(|i| i.read + i.write).sum::<f64>()
    }
    pub fn add_index(&mut self, units: IndexConsumed) {
        match self.indexes.iter_mut().find(|i| i.name == units.name) {
            Some(i) => {
                i.read += units.read;
                i.write += units.write;
            }
            None => self.indexes.push(units),
        }
    }
    /// Adds another operation's units on the same table (batches, transactions).
    pub fn merge(&mut self, other: Consumed) {
        self.read += other.read;
        self.write += other.write;
        for i in other.indexes {
            self.add_index(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::clock::FakeClock;
    use std::time::Duration;

    #[test]
    fn unit_rounding() {
        assert_eq!(read_half_units(1, true), 2);
        assert_eq!(read_half_units(4096, true), 2);
        assert_eq!(read_half_units(4097, true), 4);
        assert_eq!(read_half_units(4097, false), 2);
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
    }

    #[test]
    fn provisioned_table_admits_its_burst_then_its_rate() {
        let clock = FakeClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let cap = TableCapacity::new("t", &Billing::Provisioned { read: 10, write: 5 }, clock.clone());
        for _ in 0..1500 {
            cap.admit_write().unwrap();
            cap.charge_write(1);
        }
        assert!(matches!(cap.admit_write(), Err(EngineError::Throttled)));
        clock.advance(Duration::from_secs(1));
        for _ in 0..5 {
            cap.admit_write().unwrap();
            cap.charge_write(1);
        }
        assert!(cap.admit_write().is_err());
        let free = TableCapacity::new("t", &Billing::PayPerRequest, clock);
        for _ in 0..10_000 {
            free.admit_write().unwrap();
            free.charge_write(1);
        }
    }
}
