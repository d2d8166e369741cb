//! Query (one partition, in sort-key order) and Scan (the whole table or one segment's hash range).
//! Both read a bounded range of the store, stop at Limit or 1 MB (before the filter), and resume from
//! ExclusiveStartKey.

use std::collections::HashMap;

use common::kv::{Direction, KeyRange, prefix_successor};

use super::Engine;
use super::capacity::IndexConsumed;
use super::capacity::{Consumed, read_half_units};
use super::error::{Result, invalid};
use super::expr::ast::{Condition, Path, PathElem};
use super::expr::eval::{evaluate, project};
use super::expr::{Placeholders, parse_condition};
use super::indexes::{IndexMeta, Projection, entry_key, is_projected, key_names};
use super::items::{mixed, placeholders, projection_paths};
use super::key_condition::{after, key_condition_operators, sort_matches, sort_range, split_key_condition};
use super::keys::check_key_paths;
use super::keys::{key_of_item, key_of_key};
use super::legacy::{LegacyCondition, filter_to_condition};
use super::tables::TableMeta;
use super::value::{AttrValue, Item, item_size};
use crate::store::keys::{partition_prefix, segment_bounds, table_prefix};

/// Most data one page reads, before filtering.
pub const PAGE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct ReadRequest {
    pub table: String,
    /// IndexName: read a secondary index instead of the table.
    pub index: Option<String>,
    pub consistent: bool,
    pub limit: Option<usize>,
    pub exclusive_start_key: Option<Item>,
    pub select: Option<String>,
    pub projection: Option<String>,
    pub attributes_to_get: Option<Vec<String>>,
    pub filter: Option<String>,
    pub legacy_filter: Option<Vec<(String, LegacyCondition)>>,
    pub conditional_operator: Option<String>,
    pub names: Option<HashMap<String, String>>,
    pub values: Option<HashMap<String, AttrValue>>,
    // Query only.
    pub key_condition: Option<String>,
    pub key_conditions: Option<Vec<(String, LegacyCondition)>>,
    pub forward: bool,
    // Scan only.
    pub segment: Option<u32>,
    pub total_segments: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct ReadPage {
    /// `None` for Select=COUNT.
    pub items: Option<Vec<Item>>,
    pub count: usize,
    pub scanned: usize,
    pub last_evaluated_key: Option<Item>,
    pub consumed: Consumed,
}

struct Plan {
    /// The index read, if not the table.
    index: Option<IndexMeta>,
    /// An LSI asked for attributes it does not project: read them from the table, as DynamoDB does.
    fetch_base: bool,
    range: KeyRange,
    direction: Direction,
    filter: Option<Condition>,
    projection: Option<Vec<Path>>,
    count_only: bool,
}

impl Engine {
    fn plan_common(
        &self,
        meta: &TableMeta,
        req: &ReadRequest,
        ph: &mut Placeholders,
    ) -> Result<(Option<Condition>, Option<Vec<Path>>, bool)> {
        mixed(
            &[
                ("QueryFilter/ScanFilter", req.legacy_filter.is_some()),
                ("AttributesToGet", req.attributes_to_get.is_some()),
            ],
            &[("FilterExpression", req.filter.is_some()), ("ProjectionExpression", req.projection.is_some())],
        )?;
        let filter = match (&req.filter, &req.legacy_filter) {
            (Some(f), _) => Some(parse_condition(f, "FilterExpression", ph)?),
            (None, Some(l)) => filter_to_condition(l, req.conditional_operator.as_deref())?,
            _ => None,
        };
        let projection = projection_paths(&req.projection, &req.attributes_to_get, ph)?;
        let count_only = match req.select.as_deref() {
            None | Some("ALL_ATTRIBUTES") => {
                if projection.is_some() && req.select.is_some() {
                    return Err(invalid(
                        "Cannot specify the AttributesToGet or ProjectionExpression when choosing to get ALL_ATTRIBUTES",
                    ));
                }
                false
            }
            Some("SPECIFIC_ATTRIBUTES") => false,
            Some("COUNT") => {
                if projection.is_some() {
                    return Err(invalid(
                        "Cannot specify the AttributesToGet or ProjectionExpression when choosing to get COUNT",
                    ));
                }
                true
            }
            Some("ALL_PROJECTED_ATTRIBUTES") if req.index.is_some() => {
                if projection.is_some() {
                    return Err(invalid(
                        "Cannot specify the AttributesToGet or ProjectionExpression when choosing to get ALL_PROJECTED_ATTRIBUTES",
                    ));
                }
                false
            }
            Some("ALL_PROJECTED_ATTRIBUTES") => {
                return Err(invalid(
                    "One or more parameter values were invalid: Select type ALL_PROJECTED_ATTRIBUTES is not allowed when not querying an index",
                ));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{other}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
                )));
            }
        };
        if let Some(l) = req.limit
            && l == 0
        {
            return Err(invalid(
                "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
            ));
        }
        let _ = meta;
        Ok((filter, projection, count_only))
    }

    pub fn query(&self, req: ReadRequest) -> Result<ReadPage> {
        let table = self.table_named(&req.table, false)?;
        let meta = table.snapshot();
        mixed(
            &[("KeyConditions", req.key_conditions.is_some())],
            &[("KeyConditionExpression", req.key_condition.is_some())],
        )?;
        let exprs = [
            ("ProjectionExpression", req.projection.is_some()),
            ("FilterExpression", req.filter.is_some()),
            ("KeyConditionExpression", req.key_condition.is_some()),
        ];
        let mut ph = placeholders(&req.names, &req.values, &exprs)?;
        let key_cond = match (&req.key_condition, &req.key_conditions) {
            (Some(k), _) => {
                let cond = parse_condition(k, "KeyConditionExpression", &mut ph)?;
                key_condition_operators(&cond)?;
                cond
            }
            (None, Some(l)) => {
                let cond =
                    filter_to_condition(l, None)?.ok_or_else(|| invalid("Conditions can be of length 1 or 2 only"))?;
                if l.len() > 2 {
                    return Err(invalid("Conditions can be of length 1 or 2 only"));
                }
                let not_indexable = ["NULL", "NOT_NULL", "NE", "CONTAINS", "NOT_CONTAINS", "IN"];
                if l.iter().any(|(_, c)| not_indexable.contains(&c.comparison_operator.as_str())) {
                    return Err(invalid("Attempted conditional constraint is not an indexable operation"));
                }
                cond
            }
            (None, None) => {
                return Err(invalid(
                    "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
                ));
            }
        };
        let (filter, projection, count_only) = self.plan_common(&meta, &req, &mut ph)?;
        ph.check_unused()?;
        let index = read_target(&meta, &req)?;
        let fetch_base = fetch_base(&meta, index.as_ref(), &req, &projection)?;
        let space = index.as_ref().map_or_else(|| meta.clone(), |i| index_view(&meta, i));
        check_key_paths(&meta, projection.iter().flatten())?;
        if let Some(f) = &filter {
            let heads = f.heads();
            let what = if req.filter.is_some() { "Filter Expression" } else { "QueryFilter" };
            for key in std::iter::once(&space.hash).chain(space.range.as_ref()) {
                if heads.contains(&key.name.as_str()) {
                    return Err(invalid(format!(
                        "{what} can only contain non-primary key attributes: Primary key attribute: {}",
                        key.name
                    )));
                }
            }
            check_key_paths(&meta, f.paths())?;
        }
        let (partition, sort) = split_key_condition(&space, key_cond)?;
        let prefix = partition_prefix(space.id, &partition);
        let mut range = sort_range(&prefix, sort.as_ref());
        let direction = if req.forward { Direction::Forward } else { Direction::Reverse };
        if let Some(esk) = &req.exclusive_start_key {
            let start = start_key(&meta, index.as_ref(), esk)?;
            if let (Some(sc), Some(range)) = (&sort, &space.range)
                && !esk.get(&range.name).is_some_and(|v| sort_matches(sc, v))
            {
                return Err(invalid("The provided starting key does not match the range key predicate"));
            }
            if esk.get(&space.hash.name) != Some(&partition) {
                return Err(invalid(
                    "The provided starting key is outside query boundaries based on provided conditions",
                ));
            }
            match direction {
                Direction::Forward => range.start = range.start.max(after(&start)),
                Direction::Reverse => range.end = Some(range.end.map_or(start.clone(), |e| e.min(start.clone()))),
            }
        }
        self.read_page(
            &table,
            &meta,
            &req,
            Plan { index, fetch_base, range, direction, filter, projection, count_only },
        )
    }

    pub fn scan(&self, req: ReadRequest) -> Result<ReadPage> {
        let table = self.table_named(&req.table, false)?;
        let meta = table.snapshot();
        let exprs = [("ProjectionExpression", req.projection.is_some()), ("FilterExpression", req.filter.is_some())];
        let mut ph = placeholders(&req.names, &req.values, &exprs)?;
        let (filter, projection, count_only) = self.plan_common(&meta, &req, &mut ph)?;
        ph.check_unused()?;
        check_key_paths(&meta, projection.iter().flatten())?;
        if let Some(f) = &filter {
            check_key_paths(&meta, f.paths())?;
        }
        let index = read_target(&meta, &req)?;
        let fetch_base = fetch_base(&meta, index.as_ref(), &req, &projection)?;
        let space_id = index.as_ref().map_or(meta.id, |i| i.id);
        let (start, end) = match (req.segment, req.total_segments) {
            (None, None) => (table_prefix(space_id), prefix_successor(&table_prefix(space_id))),
            (Some(s), Some(t)) => {
                if !(1..=1_000_000).contains(&t) {
                    return Err(invalid(format!(
                        "1 validation error detected: Value '{t}' at 'totalSegments' failed to satisfy constraint: Member must have value {}",
                        if t < 1 { "greater than or equal to 1" } else { "less than or equal to 1000000" }
                    )));
                }
                if s >= t {
                    return Err(invalid(format!(
                        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
                    )));
                }
                segment_bounds(space_id, s, t)
            }
            (Some(_), None) => {
                return Err(invalid(
                    "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
                ));
            }
        };
        let mut range = KeyRange { start, end };
        if let Some(esk) = &req.exclusive_start_key {
            let start = start_key(&meta, index.as_ref(), esk)?;
            if !range.contains(&start) {
                return Err(invalid(
                    "The provided starting key is invalid: Exclusive start key must lie within the segment",
                ));
            }
            range.start = after(&start);
        }
        let direction = Direction::Forward;
        self.read_page(
            &table,
            &meta,
            &req,
            Plan { index, fetch_base, range, direction, filter, projection, count_only },
        )
    }

    fn read_page(&self, table: &super::Table, meta: &TableMeta, req: &ReadRequest, plan: Plan) -> Result<ReadPage> {
        let capacity = table.capacity.read().expect("capacity lock");
        // A GSI has its own read capacity; an LSI shares the table's.
        let gsi_state = plan.index.as_ref().filter(|i| i.is_global()).and_then(|i| table.index_state(&i.name));
        match &gsi_state {
            Some(state) => state.capacity.admit_read()?,
            None => capacity.admit_read()?,
        }
        let key_names = match &plan.index {
            Some(i) => key_names(meta, i),
            None => std::iter::once(&meta.hash).chain(meta.range.as_ref()).map(|a| a.name.clone()).collect(),
        };
        let limit = req.limit.unwrap_or(usize::MAX);
        let mut page = ReadPage { items: if plan.count_only { None } else { Some(Vec::new()) }, ..Default::default() };
        let (mut bytes, mut last, mut full, mut more) = (0usize, None, false, false);
        let mut error = None;
        self.store.scan_items(plan.range, plan.direction, |_, entry, _| {
            if full {
                more = true;
                return false;
            }
            page.scanned += 1;
            bytes += item_size(&entry);
            last = Some(
                entry.iter().filter(|(k, _)| key_names.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
            );
            let item = if plan.fetch_base {
                let base = key_of_item(meta, &entry).and_then(|k| self.store.get_item(&k.storage));
                match base {
                    Ok(Some(item)) => item,
                    Ok(None) => entry,
                    Err(e) => {
                        error = Some(e);
                        return false;
                    }
                }
            } else {
                entry
            };
            let keep = match &plan.filter {
                Some(f) => match evaluate(f, &item, "FilterExpression") {
                    Ok(b) => b,
                    Err(e) => {
                        error = Some(e);
                        return false;
                    }
                },
                None => true,
            };
            if keep {
                page.count += 1;
                if let Some(items) = &mut page.items {
                    items.push(match &plan.projection {
                        Some(p) => project(&item, p),
                        None => item,
                    });
                }
            }
            full = page.scanned >= limit || bytes >= PAGE_BYTES;
            true
        })?;
        if let Some(e) = error {
            return Err(e);
        }
        if more {
            page.last_evaluated_key = last;
        }
        let units = read_half_units(bytes, req.consistent);
        match (&gsi_state, &plan.index) {
            (Some(state), Some(index)) => {
                state.capacity.charge_read(units);
                page.consumed = Consumed { table: req.table.clone(), ..Default::default() };
                page.consumed.add_index(IndexConsumed {
                    name: index.name.clone(),
                    global: true,
                    read: units as f64 / 2.0,
                    write: 0.0,
                });
            }
            (_, Some(index)) => {
                capacity.charge_read(units);
                page.consumed = Consumed { table: req.table.clone(), ..Default::default() };
                page.consumed.add_index(IndexConsumed {
                    name: index.name.clone(),
                    global: index.is_global(),
                    read: units as f64 / 2.0,
                    write: 0.0,
                });
            }
            _ => {
                capacity.charge_read(units);
                page.consumed = Consumed::read(&req.table, units);
            }
        }
        metrics::counter!("dynamodb_returned_item_count_total", "table" => req.table.clone())
            .increment(page.count as u64);
        Ok(page)
    }
}

/// The index a Query/Scan names, checked for what DynamoDB refuses on it.
fn read_target(meta: &TableMeta, req: &ReadRequest) -> Result<Option<IndexMeta>> {
    let Some(name) = &req.index else { return Ok(None) };
    let index =
        meta.index(name).ok_or_else(|| invalid(format!("The table does not have the specified index: {name}")))?;
    if index.is_global() && req.consistent {
        return Err(invalid("Consistent reads are not supported on global secondary indexes"));
    }
    if index.backfilling {
        return Err(invalid(format!("Cannot read from backfilling global secondary index: {name}")));
    }
    Ok(Some(index.clone()))
}

/// The table as seen through an index: the index's key space and key schema.
fn index_view(meta: &TableMeta, index: &IndexMeta) -> TableMeta {
    let mut view = meta.clone();
    view.id = index.id;
    view.hash = index.hash.clone();
    view.range = index.range.clone();
    view
}

/// Whether the request needs attributes the index does not store (an error on a GSI; a read of the
/// table's item on an LSI).
fn fetch_base(
    meta: &TableMeta,
    index: Option<&IndexMeta>,
    req: &ReadRequest,
    projection: &Option<Vec<Path>>,
) -> Result<bool> {
    let Some(index) = index.filter(|i| i.projection != Projection::All) else { return Ok(false) };
    let wants_all = req.select.as_deref() == Some("ALL_ATTRIBUTES");
    let wants_unprojected = projection.as_ref().is_some_and(|paths| {
        paths.iter().any(|p| matches!(p.first(), Some(PathElem::Attr(a)) if !is_projected(meta, index, a)))
    });
    if index.is_global() && wants_all {
        return Err(invalid(format!(
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
            index.name
        )));
    }
    Ok(!index.is_global() && (wants_all || wants_unprojected))
}

/// The storage key an ExclusiveStartKey names: a table key, or an index entry's (table and index keys).
fn start_key(meta: &TableMeta, index: Option<&IndexMeta>, esk: &Item) -> Result<Vec<u8>> {
    let bad = || invalid("The provided starting key is invalid: The provided key element does not match the schema");
    match index {
        None => Ok(key_of_key(meta, esk).map_err(|_| bad())?.storage),
        Some(index) => {
            if esk.len() != key_names(meta, index).len() {
                return Err(bad());
            }
            key_of_item(meta, esk).map_err(|_| bad())?;
            entry_key(meta, index, esk).ok_or_else(bad)
        }
    }
}
