//! Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem, with conditions, ReturnValues
//! and capacity. Read-modify-write runs under the item's stripe lock, so conditions are atomic.

use std::collections::HashMap;

use super::capacity::{Consumed, read_half_units, write_units};
use super::error::{EngineError, Result, invalid};
use super::expr::ast::{Path, PathElem, Update};
use super::expr::eval::{evaluate, project};
use super::expr::{Condition, Placeholders, parse_condition, parse_projection, parse_update, update};
use super::indexes;
use super::keys::{is_key_attribute, key_of_item, key_of_key};
use super::legacy::{AttributeUpdate, ExpectedAttr, attribute_updates_to_update, expected_to_condition};
use super::value::{AttrValue, Item, MAX_ITEM_SIZE, item_size, validate_value};
use super::{Engine, Table};
use crate::store::ItemBatch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnValues {
    #[default]
    None,
    AllOld,
    UpdatedOld,
    AllNew,
    UpdatedNew,
}

impl ReturnValues {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "NONE" => Self::None,
            "ALL_OLD" => Self::AllOld,
            "UPDATED_OLD" => Self::UpdatedOld,
            "ALL_NEW" => Self::AllNew,
            "UPDATED_NEW" => Self::UpdatedNew,
            _ => return None,
        })
    }
}

/// Expression placeholders and the legacy condition parameters every write may carry.
#[derive(Debug, Clone, Default)]
pub struct Conditional {
    pub condition_expression: Option<String>,
    pub names: Option<HashMap<String, String>>,
    pub values: Option<HashMap<String, AttrValue>>,
    pub expected: Option<Vec<(String, ExpectedAttr)>>,
    pub conditional_operator: Option<String>,
    pub return_values: ReturnValues,
    /// ReturnValuesOnConditionCheckFailure = ALL_OLD.
    pub return_old_on_failure: bool,
}

#[derive(Debug, Clone, Default)]
pub struct WriteOutcome {
    pub attributes: Option<Item>,
    pub consumed: Consumed,
    /// The item collection's size after the write (tables with local secondary indexes).
    pub collection: Option<super::collections::CollectionMetrics>,
}

#[derive(Debug, Clone)]
pub struct GetItem {
    pub table: String,
    pub key: Item,
    pub consistent: bool,
    pub projection: Option<String>,
    pub attributes_to_get: Option<Vec<String>>,
    pub names: Option<HashMap<String, String>>,
}

/// Builds the placeholders and checks the expression/legacy parameter mix as DynamoDB does. `exprs` are the
/// request's expression parameters (name, given) in DynamoDB's order; `ProjectionExpression` takes names only.
pub fn placeholders(
    names: &Option<HashMap<String, String>>,
    values: &Option<HashMap<String, AttrValue>>,
    exprs: &[(&str, bool)],
) -> Result<Placeholders> {
    if names.is_some() && !exprs.iter().any(|(_, on)| *on) {
        return Err(invalid("ExpressionAttributeNames can only be specified when using expressions"));
    }
    let value_exprs: Vec<&str> = exprs.iter().filter(|(n, _)| *n != "ProjectionExpression").map(|(n, _)| *n).collect();
    if values.is_some() && !exprs.iter().any(|(n, on)| *on && *n != "ProjectionExpression") {
        return Err(invalid(format!(
            "ExpressionAttributeValues can only be specified when using expressions: {} {} null",
            value_exprs.join(" and "),
            if value_exprs.len() > 1 { "are" } else { "is" }
        )));
    }
    if let Some(names) = names {
        if names.is_empty() {
            return Err(invalid("ExpressionAttributeNames must not be empty"));
        }
        if let Some(bad) = sorted_keys(names).into_iter().find(|k| !placeholder_key(k, '#')) {
            return Err(invalid(format!(
                "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{bad}\""
            )));
        }
    }
    if let Some(values) = values {
        if values.is_empty() {
            return Err(invalid("ExpressionAttributeValues must not be empty"));
        }
        if let Some(bad) = sorted_keys(values).into_iter().find(|k| !placeholder_key(k, ':')) {
            return Err(invalid(format!(
                "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{bad}\""
            )));
        }
        for k in sorted_keys(values) {
            validate_value(&values[k], 0).map_err(|e| match e {
                EngineError::Validation(m) => {
                    invalid(format!("ExpressionAttributeValues contains invalid value: {m} for key {k}"))
                }
                other => other,
            })?;
        }
    }
    Ok(Placeholders::new(names.clone().unwrap_or_default(), values.clone().unwrap_or_default()))
}

fn sorted_keys<V>(m: &HashMap<String, V>) -> Vec<&String> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    keys
}

/// `#name` / `:value`: the sigil and then one or more of `[0-9a-zA-Z_]`.
fn placeholder_key(k: &str, sigil: char) -> bool {
    k.strip_prefix(sigil).is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

pub fn mixed(non_expr: &[(&str, bool)], expr: &[(&str, bool)]) -> Result<()> {
    let n: Vec<&str> = non_expr.iter().filter(|(_, on)| *on).map(|(s, _)| *s).collect();
    let e: Vec<&str> = expr.iter().filter(|(_, on)| *on).map(|(s, _)| *s).collect();
    if !n.is_empty() && !e.is_empty() {
        return Err(invalid(format!(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
            n.join(", "),
            e.join(", ")
        )));
    }
    Ok(())
}

/// The write condition of a request (expression or legacy `Expected`), parsed.
pub(super) fn write_condition(c: &Conditional, ph: &mut Placeholders) -> Result<Option<Condition>> {
    mixed(&[("Expected", c.expected.is_some())], &[("ConditionExpression", c.condition_expression.is_some())])?;
    if let Some(expr) = &c.condition_expression {
        return Ok(Some(parse_condition(expr, "ConditionExpression", ph)?));
    }
    match &c.expected {
        Some(e) => expected_to_condition(e, c.conditional_operator.as_deref()),
        None => Ok(None),
    }
}

fn check_condition(cond: &Option<Condition>, old: Option<&Item>, c: &Conditional) -> Result<()> {
    if let Some(cond) = cond {
        let empty = Item::new();
        if !evaluate(cond, old.unwrap_or(&empty), "ConditionExpression")? {
            metrics::counter!("dynamodb_conditional_check_failed_requests_total").increment(1);
            let item = if c.return_old_on_failure { old.cloned() } else { None };
            return Err(EngineError::ConditionalCheckFailed { item });
        }
    }
    Ok(())
}

pub fn projection_paths(
    projection: &Option<String>,
    attributes_to_get: &Option<Vec<String>>,
    ph: &mut Placeholders,
) -> Result<Option<Vec<Path>>> {
    mixed(&[("AttributesToGet", attributes_to_get.is_some())], &[("ProjectionExpression", projection.is_some())])?;
    if let Some(p) = projection {
        return Ok(Some(parse_projection(p, ph)?));
    }
    if let Some(names) = attributes_to_get {
        let mut seen = std::collections::HashSet::new();
        for n in names {
            if !seen.insert(n) {
                return Err(invalid(format!(
                    "One or more parameter values were invalid: Duplicate value in attribute name: {n}"
                )));
            }
        }
        return Ok(Some(names.iter().map(|n| vec![PathElem::Attr(n.clone())]).collect()));
    }
    Ok(None)
}

pub(super) fn check_item_values(item: &Item) -> Result<()> {
    for v in item.values() {
        validate_value(v, 0)?;
    }
    Ok(())
}

impl Engine {
    /// A failed condition still costs the write (as in DynamoDB): charge it, then report the failure.
    fn check_or_charge(
        &self,
        table: &Table,
        cond: &Option<Condition>,
        old: Option<&Item>,
        c: &Conditional,
    ) -> Result<()> {
        let result = check_condition(cond, old, c);
        if result.is_err() {
            let units = write_units(old.map(item_size).unwrap_or(0));
            table.capacity.read().expect("capacity lock").charge_write(units);
        }
        result
    }

    /// Stores `new` (or deletes, when `None`) in place of `old`, charging write capacity.
    fn commit_write(
        &self,
        table: &Table,
        name: &str,
        key: Vec<u8>,
        old: Option<&Item>,
        new: Option<&Item>,
    ) -> Result<(Consumed, Option<super::collections::CollectionMetrics>)> {
        let collection = self.check_collection(&table.meta.read().expect("meta lock"), old, new)?;
        let (old_size, new_size) = (old.map(item_size), new.map(item_size));
        let units = write_units(old_size.unwrap_or(0).max(new_size.unwrap_or(0)));
        let mut batch = ItemBatch::default();
        match new {
            Some(item) => batch.put(key, item),
            None if old.is_some() => batch.delete(key),
            None => {}
        }
        // The current description, read under the item lock: an index added since the request began
        // (and being backfilled) must see this write.
        let (deltas, _ticket) = {
            let meta = table.meta.read().expect("meta lock");
            (indexes::stage(&meta, old, new, &mut batch), self.stage_stream(&meta, old, new, false, &mut batch))
        };
        if !batch.is_empty() {
            self.store.commit(batch)?;
            table.account(old_size, new_size);
        }
        table.capacity.read().expect("capacity lock").charge_write(units);
        let mut consumed = Consumed::write(name, units);
        table.settle_indexes(&deltas, 1, Some(&mut consumed));
        Ok((consumed, collection))
    }

    pub fn put_item(&self, name: &str, item: Item, c: Conditional) -> Result<WriteOutcome> {
        let table = self.table_named(name, false)?;
        let meta = table.snapshot();
        if !matches!(c.return_values, ReturnValues::None | ReturnValues::AllOld) {
            return Err(invalid("ReturnValues can only be ALL_OLD or NONE"));
        }
        let mut ph = placeholders(&c.names, &c.values, &[("ConditionExpression", c.condition_expression.is_some())])?;
        let cond = write_condition(&c, &mut ph)?;
        ph.check_unused()?;
        let key = key_of_item(&meta, &item)?;
        check_item_values(&item)?;
        if item_size(&item) > MAX_ITEM_SIZE {
            return Err(invalid("Item size has exceeded the maximum allowed size"));
        }
        indexes::check_index_keys(&meta, &item)?;
        table.capacity.read().expect("capacity lock").admit_write()?;
        table.admit_index_writes()?;
        let _guard = self.lock_item(&key.storage);
        let old = self.store.get_item(&key.storage)?;
        self.check_or_charge(&table, &cond, old.as_ref(), &c)?;
        let (consumed, collection) = self.commit_write(&table, name, key.storage, old.as_ref(), Some(&item))?;
        let attributes = if c.return_values == ReturnValues::AllOld { old } else { None };
        Ok(WriteOutcome { attributes, consumed, collection })
    }

    pub fn delete_item(&self, name: &str, key: Item, c: Conditional) -> Result<WriteOutcome> {
        let table = self.table_named(name, false)?;
        let meta = table.snapshot();
        if !matches!(c.return_values, ReturnValues::None | ReturnValues::AllOld) {
            return Err(invalid("ReturnValues can only be ALL_OLD or NONE"));
        }
        let mut ph = placeholders(&c.names, &c.values, &[("ConditionExpression", c.condition_expression.is_some())])?;
        let cond = write_condition(&c, &mut ph)?;
        ph.check_unused()?;
        let key = key_of_key(&meta, &key)?;
        table.capacity.read().expect("capacity lock").admit_write()?;
        table.admit_index_writes()?;
        let _guard = self.lock_item(&key.storage);
        let old = self.store.get_item(&key.storage)?;
        self.check_or_charge(&table, &cond, old.as_ref(), &c)?;
        let (consumed, collection) = self.commit_write(&table, name, key.storage, old.as_ref(), None)?;
        let attributes = if c.return_values == ReturnValues::AllOld { old } else { None };
        Ok(WriteOutcome { attributes, consumed, collection })
    }

    pub fn update_item(
        &self,
        name: &str,
        key: Item,
        update_expression: Option<String>,
        attribute_updates: Option<Vec<(String, AttributeUpdate)>>,
        c: Conditional,
    ) -> Result<WriteOutcome> {
        let table = self.table_named(name, false)?;
        let meta = table.snapshot();
        mixed(
            &[("AttributeUpdates", attribute_updates.is_some()), ("Expected", c.expected.is_some())],
            &[
                ("UpdateExpression", update_expression.is_some()),
                ("ConditionExpression", c.condition_expression.is_some()),
            ],
        )?;
        let mut ph = placeholders(
            &c.names,
            &c.values,
            &[
                ("UpdateExpression", update_expression.is_some()),
                ("ConditionExpression", c.condition_expression.is_some()),
            ],
        )?;
        let update: Update = match (&update_expression, &attribute_updates) {
            (Some(e), _) => parse_update(e, &mut ph)?,
            (None, Some(u)) => attribute_updates_to_update(u)?,
            (None, None) => Update::default(),
        };
        let cond = write_condition(&c, &mut ph)?;
        ph.check_unused()?;
        let key = key_of_key(&meta, &key)?;
        for path in update.paths() {
            if let Some(PathElem::Attr(first)) = path.first()
                && is_key_attribute(&meta, first)
            {
                return Err(invalid(format!(
                    "One or more parameter values were invalid: Cannot update attribute {first}. This attribute is part of the key"
                )));
            }
        }
        super::keys::check_key_paths(&meta, &update.paths())?;
        table.capacity.read().expect("capacity lock").admit_write()?;
        table.admit_index_writes()?;
        let _guard = self.lock_item(&key.storage);
        let old = self.store.get_item(&key.storage)?;
        self.check_or_charge(&table, &cond, old.as_ref(), &c)?;
        let mut base = old.clone().unwrap_or_default();
        if old.is_none() {
            base.insert(meta.hash.name.clone(), key.partition.clone());
            if let (Some(r), Some(v)) = (&meta.range, &key.sort) {
                base.insert(r.name.clone(), v.clone());
            }
        }
        let new = update::apply(&update, &base)?;
        check_item_values(&new)?;
        if item_size(&new) > MAX_ITEM_SIZE {
            return Err(invalid("Item size to update has exceeded the maximum allowed size"));
        }
        indexes::check_index_keys(&meta, &new)?;
        let (consumed, collection) = self.commit_write(&table, name, key.storage, old.as_ref(), Some(&new))?;
        let paths = update.paths();
        let attributes = match c.return_values {
            ReturnValues::None => None,
            ReturnValues::AllOld => old,
            ReturnValues::AllNew => Some(new),
            ReturnValues::UpdatedOld => old.map(|o| project(&o, &paths)),
            ReturnValues::UpdatedNew => Some(project(&new, &paths)),
        };
        let attributes = attributes.filter(|a| !a.is_empty());
        Ok(WriteOutcome { attributes, consumed, collection })
    }

    pub fn get_item(&self, req: GetItem) -> Result<(Option<Item>, Consumed)> {
        let table = self.table_named(&req.table, false)?;
        let meta = table.snapshot();
        let mut ph = placeholders(&req.names, &None, &[("ProjectionExpression", req.projection.is_some())])?;
        let paths = projection_paths(&req.projection, &req.attributes_to_get, &mut ph)?;
        ph.check_unused()?;
        super::keys::check_key_paths(&meta, paths.iter().flatten())?;
        let key = key_of_key(&meta, &req.key)?;
        let capacity = table.capacity.read().expect("capacity lock");
        capacity.admit_read()?;
        let item = self.store.get_item(&key.storage)?;
        let units = read_half_units(item.as_ref().map(item_size).unwrap_or(0), req.consistent);
        capacity.charge_read(units);
        let item = match (item, paths) {
            (Some(item), Some(paths)) => Some(project(&item, &paths)),
            (item, None) => item,
            (None, _) => None,
        };
        Ok((item, Consumed::read(&req.table, units)))
    }
}
