//! TransactWriteItems and TransactGetItems: up to 100 actions on distinct items, all or nothing,
//! under the items' locks; each consumes twice the capacity of its plain counterpart.

use super::capacity::{Consumed, read_half_units, write_units};
use super::error::{CancelReason, EngineError, Result, invalid};
use super::expr::ast::Update;
use super::expr::eval::{evaluate, project};
use super::expr::{Condition, parse_update};
use super::idempotency::{Claim, TokenRecord, check_token};
use super::items::{Conditional, GetItem, check_item_values, placeholders, projection_paths, write_condition};
use super::keys::{PrimaryKey, is_key_attribute, key_of_item, key_of_key};
use super::value::{Item, MAX_ITEM_SIZE, item_size};
use super::{Engine, Table};
use crate::store::ItemBatch;
use crate::store::backups::TOKEN_PREFIX;

pub const MAX_TRANSACT_ITEMS: usize = 100;

#[derive(Debug, Clone)]
pub enum TransactWrite {
    Put { table: String, item: Item, cond: Conditional },
    Update { table: String, key: Item, update_expression: String, cond: Conditional },
    Delete { table: String, key: Item, cond: Conditional },
    ConditionCheck { table: String, key: Item, cond: Conditional },
}

enum Change {
    Put(Item),
    Update(Update),
    Delete,
    Check,
}

struct Prepared {
    table: std::sync::Arc<Table>,
    name: String,
    key: PrimaryKey,
    cond: Option<Condition>,
    return_old: bool,
    change: Change,
}

fn check_count(n: usize, what: &str) -> Result<()> {
    if n == 0 || n > MAX_TRANSACT_ITEMS {
        return Err(invalid(format!(
            "1 validation error detected: Value at '{what}' failed to satisfy constraint: Member must have length less than or equal to {MAX_TRANSACT_ITEMS}"
        )));
    }
    Ok(())
}

impl Engine {
    fn prepare(&self, action: TransactWrite) -> Result<Prepared> {
        let (name, cond_params) = match &action {
            TransactWrite::Put { table, cond, .. }
            | TransactWrite::Update { table, cond, .. }
            | TransactWrite::Delete { table, cond, .. }
            | TransactWrite::ConditionCheck { table, cond, .. } => (table.clone(), cond.clone()),
        };
        let table = self.table_named(&name, false)?;
        let meta = table.snapshot();
        let is_update = matches!(action, TransactWrite::Update { .. });
        let mut ph = placeholders(
            &cond_params.names,
            &cond_params.values,
            &[("UpdateExpression", is_update), ("ConditionExpression", cond_params.condition_expression.is_some())]
                [usize::from(!is_update)..],
        )?;
        let (key, change) = match action {
            TransactWrite::Put { item, .. } => {
                check_item_values(&item)?;
                if item_size(&item) > MAX_ITEM_SIZE {
                    return Err(invalid("Item size has exceeded the maximum allowed size"));
                }
                super::indexes::check_index_keys(&meta, &item)?;
                (key_of_item(&meta, &item)?, Change::Put(item))
            }
            TransactWrite::Update { key, update_expression, .. } => {
                let update = parse_update(&update_expression, &mut ph)?;
                for path in update.paths() {
                    if let Some(super::expr::ast::PathElem::Attr(first)) = path.first()
                        && is_key_attribute(&meta, first)
                    {
                        return Err(invalid(format!(
                            "One or more parameter values were invalid: Cannot update attribute {first}. This attribute is part of the key"
                        )));
                    }
                }
                super::keys::check_key_paths(&meta, &update.paths())?;
                (key_of_key(&meta, &key)?, Change::Update(update))
            }
            TransactWrite::Delete { key, .. } => (key_of_key(&meta, &key)?, Change::Delete),
            TransactWrite::ConditionCheck { key, .. } => {
                if cond_params.condition_expression.is_none() {
                    return Err(invalid("The ConditionExpression must be specified for a ConditionCheck"));
                }
                (key_of_key(&meta, &key)?, Change::Check)
            }
        };
        let cond = write_condition(&cond_params, &mut ph)?;
        ph.check_unused()?;
        Ok(Prepared { table, name, key, cond, return_old: cond_params.return_old_on_failure, change })
    }

    /// Start-up: tokens applied within the last ten minutes are honoured again; older ones are deleted.
    pub(super) fn restore_tokens(&self) -> Result<()> {
        let now = self.clock.wall().unix_timestamp();
        let mut records: Vec<TokenRecord> = self.store.load_records(TOKEN_PREFIX)?;
        records.sort_by_key(|r| r.at);
        let mut expired = Vec::new();
        for record in records {
            if now - record.at < super::idempotency::TOKEN_LIFETIME_SECS {
                self.transact_tokens.restore(record);
            } else {
                expired.push(record.token);
            }
        }
        self.store.delete_records(TOKEN_PREFIX, &expired)
    }

    /// TransactWriteItems; `token` is the ClientRequestToken with a fingerprint of the request's
    /// parameters (computed by the caller from the request as sent).
    pub fn transact_write_once(
        &self,
        actions: Vec<TransactWrite>,
        token: Option<(String, u64)>,
    ) -> Result<Vec<Consumed>> {
        let Some((token, fingerprint)) = token else { return self.transact_write(actions, None) };
        check_token(&token)?;
        let at = self.clock.wall().unix_timestamp();
        let claim = self.transact_tokens.claim(&token, fingerprint, at);
        if let Err(e) = self.store.delete_records(TOKEN_PREFIX, &self.transact_tokens.drain_forgotten()) {
            tracing::warn!(error = %e, "deleting expired client tokens failed");
        }
        match claim? {
            Claim::Replay(consumed) => Ok(consumed),
            Claim::Run => {
                let stamp = TokenRecord { token: token.clone(), fingerprint, at, consumed: Vec::new() };
                let result = self.transact_write(actions, Some(stamp));
                match &result {
                    Ok(consumed) => self.transact_tokens.finish(&token, consumed),
                    Err(_) => self.transact_tokens.abandon(&token),
                }
                result
            }
        }
    }

    /// Applies `actions` atomically; `token` (its `consumed` filled in here) is committed with them, so
    /// the transaction and the record of its client token are durable together.
    pub fn transact_write(&self, actions: Vec<TransactWrite>, token: Option<TokenRecord>) -> Result<Vec<Consumed>> {
        check_count(actions.len(), "transactItems")?;
        let prepared = actions.into_iter().map(|a| self.prepare(a)).collect::<Result<Vec<_>>>()?;
        let keys: Vec<Vec<u8>> = prepared.iter().map(|p| p.key.storage.clone()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("Transaction request cannot include multiple operations on one item"));
        }
        for p in &prepared {
            p.table.capacity.read().expect("capacity lock").admit_write()?;
            p.table.admit_index_writes()?;
        }
        // An item already in another ongoing transaction cancels this one (TransactionConflict)
        // rather than waiting for it, as DynamoDB does.
        let _claim = self.claim_for_transaction(&keys)?;
        let _guards = self.lock_items(&keys);
        let mut reasons = Vec::new();
        let mut results = Vec::new();
        let empty = Item::new();
        for p in &prepared {
            let old = self.store.get_item(&p.key.storage)?;
            let ok = match &p.cond {
                Some(c) => evaluate(c, old.as_ref().unwrap_or(&empty), "ConditionExpression")?,
                None => true,
            };
            if !ok {
                reasons.push(CancelReason::failed(if p.return_old { old.clone() } else { None }));
                results.push((old, None));
                continue;
            }
            reasons.push(CancelReason::none());
            let new = match &p.change {
                Change::Put(item) => Some(item.clone()),
                Change::Delete => None,
                Change::Check => old.clone(),
                Change::Update(update) => {
                    let mut base = old.clone().unwrap_or_default();
                    if old.is_none() {
                        base.insert(p.key_name_hash(), p.key.partition.clone());
                        if let (Some(name), Some(v)) = (p.key_name_range(), &p.key.sort) {
                            base.insert(name, v.clone());
                        }
                    }
                    let new = super::expr::update::apply(update, &base)?;
                    check_item_values(&new)?;
                    if item_size(&new) > MAX_ITEM_SIZE {
                        return Err(invalid("Item size to update has exceeded the maximum allowed size"));
                    }
                    super::indexes::check_index_keys(&p.table.snapshot(), &new)?;
                    Some(new)
                }
            };
            if !matches!(p.change, Change::Check) {
                let checked =
                    self.check_collection(&p.table.meta.read().expect("meta lock"), old.as_ref(), new.as_ref());
                match checked {
                    Ok(_) => {}
                    Err(EngineError::ItemCollectionSizeLimitExceeded(message)) => {
                        *reasons.last_mut().expect("pushed above") = CancelReason {
                            code: "ItemCollectionSizeLimitExceeded",
                            message: Some(message),
                            item: None,
                        };
                    }
                    Err(e) => return Err(e),
                }
            }
            results.push((old, new));
        }
        if reasons.iter().any(|r| r.code != "None") {
            metrics::counter!("dynamodb_transaction_conflicts_total").increment(1);
            return Err(EngineError::TransactionCanceled { reasons });
        }
        let mut batch = ItemBatch::default();
        let mut consumed: Vec<Consumed> = Vec::new();
        let mut index_deltas = Vec::new();
        let mut tickets = Vec::new();
        for (p, (old, new)) in prepared.iter().zip(&results) {
            if matches!(p.change, Change::Check) {
                let units = 2 * write_units(old.as_ref().map(item_size).unwrap_or(0));
                p.table.capacity.read().expect("capacity lock").charge_write(units);
                merge(&mut consumed, Consumed::write(&p.name, units));
                continue;
            }
            match new {
                Some(item) => batch.put(p.key.storage.clone(), item),
                None => batch.delete(p.key.storage.clone()),
            }
            let meta = p.table.meta.read().expect("meta lock");
            index_deltas.push(super::indexes::stage(&meta, old.as_ref(), new.as_ref(), &mut batch));
            tickets.extend(self.stage_stream(&meta, old.as_ref(), new.as_ref(), false, &mut batch));
            drop(meta);
            let units =
                2 * write_units(old.as_ref().map(item_size).unwrap_or(0).max(new.as_ref().map(item_size).unwrap_or(0)));
            p.table.capacity.read().expect("capacity lock").charge_write(units);
            merge(&mut consumed, Consumed::write(&p.name, units));
        }
        if let Some(mut record) = token {
            // What `settle_indexes` adds below, known already: a replay answers with the same.
            record.consumed = consumed.clone();
            let writes = prepared.iter().filter(|p| !matches!(p.change, Change::Check));
            for (p, deltas) in writes.zip(&index_deltas) {
                let mut c = Consumed { table: p.name.clone(), ..Default::default() };
                p.table.index_usage(deltas, 2).into_iter().for_each(|u| c.add_index(u));
                merge(&mut record.consumed, c);
            }
            batch.record(TOKEN_PREFIX, &record.token.clone(), &record)?;
        }
        self.store.commit(batch)?;
        drop(tickets);
        let mut writes = prepared.iter().zip(&results).filter(|(p, _)| !matches!(p.change, Change::Check));
        for ((p, (old, new)), deltas) in writes.by_ref().zip(index_deltas) {
            p.table.account(old.as_ref().map(item_size), new.as_ref().map(item_size));
            let mut c = Consumed { table: p.name.clone(), ..Default::default() };
            p.table.settle_indexes(&deltas, 2, Some(&mut c));
            merge(&mut consumed, c);
        }
        Ok(consumed)
    }

    /// Reads up to 100 items as of one moment (under their locks); twice the strongly consistent cost.
    pub fn transact_get(&self, gets: Vec<GetItem>) -> Result<(Vec<Option<Item>>, Vec<Consumed>)> {
        check_count(gets.len(), "transactItems")?;
        let mut plans = Vec::new();
        for g in &gets {
            let table = self.table_named(&g.table, false)?;
            let meta = table.snapshot();
            let mut ph = placeholders(&g.names, &None, &[("ProjectionExpression", g.projection.is_some())])?;
            let paths = projection_paths(&g.projection, &g.attributes_to_get, &mut ph)?;
            ph.check_unused()?;
            let key = key_of_key(&meta, &g.key)?;
            table.capacity.read().expect("capacity lock").admit_read()?;
            plans.push((table, key, paths));
        }
        let keys: Vec<Vec<u8>> = plans.iter().map(|(_, k, _)| k.storage.clone()).collect();
        let _guards = self.lock_items(&keys);
        let mut items = Vec::new();
        let mut consumed: Vec<Consumed> = Vec::new();
        for ((table, key, paths), g) in plans.iter().zip(&gets) {
            let item = self.store.get_item(&key.storage)?;
            let units = 2 * read_half_units(item.as_ref().map(item_size).unwrap_or(0), true);
            table.capacity.read().expect("capacity lock").charge_read(units);
            merge(&mut consumed, Consumed::read(&g.table, units));
            items.push(match (item, paths) {
                (Some(i), Some(p)) => Some(project(&i, p)),
                (i, _) => i,
            });
        }
        Ok((items, consumed))
    }
}

impl Prepared {
    fn key_name_hash(&self) -> String {
        self.table.snapshot().hash.name
    }
    fn key_name_range(&self) -> Option<String> {
        self.table.snapshot().range.map(|r| r.name)
    }
}

fn merge(all: &mut Vec<Consumed>, c: Consumed) {
    match all.iter_mut().find(|x| x.table == c.table) {
        Some(x) => x.merge(c),
        None => all.push(c),
    }
}

/// Items of an ongoing transaction; released when dropped.
pub(super) struct TransactionClaim<'a> {
    engine: &'a Engine,
    keys: Vec<Vec<u8>>,
}

impl Drop for TransactionClaim<'_> {
    fn drop(&mut self) {
        let mut ongoing = self.engine.transacting.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            ongoing.remove(k);
        }
    }
}

impl Engine {
    fn claim_for_transaction(&self, keys: &[Vec<u8>]) -> Result<TransactionClaim<'_>> {
        let mut ongoing = self.transacting.lock().unwrap_or_else(|e| e.into_inner());
        if keys.iter().any(|k| ongoing.contains(k)) {
            metrics::counter!("dynamodb_transaction_conflicts_total").increment(1);
            let reasons = keys
                .iter()
                .map(|k| {
                    if ongoing.contains(k) {
                        CancelReason {
                            code: "TransactionConflict",
                            message: Some("Transaction is ongoing for the item".into()),
                            item: None,
                        }
                    } else {
                        CancelReason::none()
                    }
                })
                .collect();
            return Err(EngineError::TransactionCanceled { reasons });
        }
        ongoing.extend(keys.iter().cloned());
        Ok(TransactionClaim { engine: self, keys: keys.to_vec() })
    }
}
