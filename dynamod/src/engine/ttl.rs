//! Time to Live: UpdateTimeToLive / DescribeTimeToLive, and the sweeper that deletes items whose TTL
//! attribute (a number of epoch seconds) lies in the past. Until the sweeper reaches it an expired
//! item is still returned by every read, as DynamoDB documents. Sweeper deletions consume no table
//! capacity; they maintain indexes in the same batch as the delete.

use common::kv::{Direction, KeyRange, prefix_successor};

use super::error::{Result, invalid};
use super::number::Number;
use super::value::{AttrValue, Item, item_size};
use super::{Engine, indexes, lock_stripes};
use crate::store::ItemBatch;
use crate::store::keys::table_prefix;

/// Items examined per locked chunk of a sweep.
const SWEEP_CHUNK: usize = 200;
/// DynamoDB ignores TTL values more than five years in the past (likely not epoch seconds).
const FIVE_YEARS: i64 = 5 * 365 * 24 * 3600;

/// Whether `item` has expired at `now` (epoch seconds) under the TTL attribute `attr`.
pub fn is_expired(item: &Item, attr: &str, now: i64) -> bool {
    let Some(AttrValue::N(ttl)) = item.get(attr) else { return false };
    let parse = |secs: i64| Number::parse(&secs.to_string()).expect("an integer is a number");
    *ttl <= parse(now) && *ttl >= parse(now - FIVE_YEARS)
}

impl Engine {
    /// Enables or disables TTL on `attribute`; returns the specification as applied.
    pub fn update_time_to_live(&self, name: &str, enabled: bool, attribute: &str) -> Result<()> {
        if attribute.is_empty() || attribute.len() > 255 {
            return Err(invalid(format!(
                "1 validation error detected: Value '{attribute}' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length {}",
                if attribute.is_empty() { "greater than or equal to 1" } else { "less than or equal to 255" }
            )));
        }
        let table = self.table_named(name, true)?;
        let mut meta = table.meta.write().expect("meta lock");
        match (&meta.ttl_attribute, enabled) {
            (Some(_), true) => return Err(invalid("TimeToLive is already enabled")),
            (None, false) => return Err(invalid("TimeToLive is already disabled")),
            (Some(current), false) if current != attribute => {
                return Err(invalid(format!(
                    "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
                )));
            }
            _ => {}
        }
        let mut updated = meta.clone();
        updated.ttl_attribute = enabled.then(|| attribute.to_string());
        self.store.put_table(&updated, None)?;
        *meta = updated;
        Ok(())
    }

    /// The TTL attribute while TTL is enabled.
    pub fn describe_time_to_live(&self, name: &str) -> Result<Option<String>> {
        Ok(self.table_named(name, true)?.snapshot().ttl_attribute)
    }

    /// One pass of the sweeper over every table with TTL enabled; returns how many items it deleted.
    pub fn sweep_expired(&self) -> Result<usize> {
        let tables: Vec<_> = self.tables.read().expect("tables lock").values().cloned().collect();
        let mut deleted = 0;
        for table in tables {
            let meta = table.snapshot();
            let Some(attr) = meta.ttl_attribute.clone() else { continue };
            let prefix = table_prefix(meta.id);
            let end = prefix_successor(&prefix);
            let mut start = prefix;
            loop {
                let now = self.clock.wall().unix_timestamp();
                let (mut expired, mut last, mut seen) = (Vec::new(), None, 0);
                self.store.scan_items(
                    KeyRange { start: start.clone(), end: end.clone() },
                    Direction::Forward,
                    |k, item, _| {
                        seen += 1;
                        if is_expired(&item, &attr, now) {
                            expired.push(k.to_vec());
                        }
                        last = Some(k.to_vec());
                        seen < SWEEP_CHUNK
                    },
                )?;
                let Some(mut next) = last else { break };
                if !expired.is_empty() {
                    let _guards = lock_stripes(&self.item_locks, &expired);
                    let mut batch = ItemBatch::default();
                    let mut removed = Vec::new();
                    // Read-locked while records are numbered (see `Engine::update_stream`).
                    let current = table.meta.read().expect("meta lock");
                    let mut deltas = Vec::new();
                    let mut tickets = Vec::new();
                    for key in &expired {
                        // Re-read under the lock: a write may have renewed the item since the scan.
                        let Some(item) = self.store.get_item(key)? else { continue };
                        if current.ttl_attribute.as_deref() != Some(attr.as_str()) || !is_expired(&item, &attr, now) {
                            continue;
                        }
                        batch.delete(key.clone());
                        deltas.extend(indexes::stage(&current, Some(&item), None, &mut batch));
                        // DynamoDB's own deletion: the record names the service as its author.
                        tickets.extend(self.stage_stream(&current, Some(&item), None, true, &mut batch));
                        removed.push(item_size(&item));
                    }
                    drop(current);
                    if !batch.is_empty() {
                        self.store.commit(batch)?;
                    }
                    drop(tickets);
                    for size in &removed {
                        table.account(Some(*size), None);
                    }
                    table.settle_indexes(&deltas, 1, None);
                    metrics::counter!("dynamodb_time_to_live_deleted_item_count_total", "table" => meta.name.clone())
                        .increment(removed.len() as u64);
                    deleted += removed.len();
                }
                next.push(0);
                start = next;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_follows_the_epoch_second_attribute() {
        let item = |v: AttrValue| Item::from([("ttl".to_string(), v)]);
        let n = |s: &str| AttrValue::N(Number::parse(s).unwrap());
        assert!(is_expired(&item(n("1000")), "ttl", 1000));
        assert!(is_expired(&item(n("999.5")), "ttl", 1000));
        assert!(!is_expired(&item(n("1001")), "ttl", 1000));
        assert!(!is_expired(&item(AttrValue::S("1".into())), "ttl", 1000), "only numbers expire");
        assert!(!is_expired(&item(n("1000")), "other", 1000));
        assert!(!is_expired(&item(n("1")), "ttl", 1 + FIVE_YEARS + 10), "more than five years old is ignored");
    }
}
