//! Checking primary keys against a table's key schema, with DynamoDB's messages.

use super::error::{Result, invalid};
use super::tables::{KeyAttr, ScalarType, TableMeta};
use super::value::{AttrValue, Item};

pub const MAX_PARTITION_KEY: usize = 2048;
pub const MAX_SORT_KEY: usize = 1024;

/// A validated primary key and its storage key.
#[derive(Debug, Clone)]
pub struct PrimaryKey {
    pub partition: AttrValue,
    pub sort: Option<AttrValue>,
    pub storage: Vec<u8>,
}

fn type_matches(v: &AttrValue, ty: ScalarType) -> bool {
    matches!(
        (v, ty),
        (AttrValue::S(_), ScalarType::S) | (AttrValue::N(_), ScalarType::N) | (AttrValue::B(_), ScalarType::B)
    )
}

fn check_key_value(attr: &KeyAttr, v: &AttrValue, is_partition: bool) -> Result<()> {
    match v {
        AttrValue::S(s) if s.is_empty() => {
            return Err(invalid(format!(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {}",
                attr.name
            )));
        }
        AttrValue::B(b) if b.is_empty() => {
            return Err(invalid(format!(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty binary value. Key: {}",
                attr.name
            )));
        }
        _ => {}
    }
    if is_partition && v.size() > MAX_PARTITION_KEY {
        return Err(invalid(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ));
    }
    if !is_partition && v.size() > MAX_SORT_KEY {
        return Err(invalid(
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ));
    }
    Ok(())
}

fn build(meta: &TableMeta, partition: AttrValue, sort: Option<AttrValue>) -> PrimaryKey {
    let storage = crate::store::keys::item_key(meta.id, &partition, sort.as_ref());
    PrimaryKey { partition, sort, storage }
}

/// The key of an item being put: every key attribute present with its declared type.
pub fn key_of_item(meta: &TableMeta, item: &Item) -> Result<PrimaryKey> {
    let mut parts = Vec::new();
    for (i, attr) in std::iter::once(&meta.hash).chain(meta.range.as_ref()).enumerate() {
        let v = item.get(&attr.name).ok_or_else(|| {
            invalid(format!("One or more parameter values were invalid: Missing the key {} in the item", attr.name))
        })?;
        if !type_matches(v, attr.ty) {
            return Err(invalid(format!(
                "One or more parameter values were invalid: Type mismatch for key {} expected: {} actual: {}",
                attr.name,
                attr.ty.as_str(),
                v.type_name()
            )));
        }
        check_key_value(attr, v, i == 0)?;
        parts.push(v.clone());
    }
    let mut parts = parts.into_iter();
    let partition = parts.next().expect("hash key");
    Ok(build(meta, partition, parts.next()))
}

/// A `Key` parameter: exactly the key attributes, with their declared types.
pub fn key_of_key(meta: &TableMeta, key: &Item) -> Result<PrimaryKey> {
    let mismatch = || invalid("The provided key element does not match the schema");
    let expected = 1 + usize::from(meta.range.is_some());
    if key.len() != expected {
        return Err(mismatch());
    }
    let mut parts = Vec::new();
    for (i, attr) in std::iter::once(&meta.hash).chain(meta.range.as_ref()).enumerate() {
        let v = key.get(&attr.name).ok_or_else(mismatch)?;
        if !type_matches(v, attr.ty) {
            return Err(mismatch());
        }
        check_key_value(attr, v, i == 0)?;
        parts.push(v.clone());
    }
    let mut parts = parts.into_iter();
    let partition = parts.next().expect("hash key");
    Ok(build(meta, partition, parts.next()))
}

/// The key attributes of a stored item (LastEvaluatedKey, UnprocessedKeys).
pub fn key_attributes(meta: &TableMeta, item: &Item) -> Item {
    std::iter::once(&meta.hash)
        .chain(meta.range.as_ref())
        .filter_map(|a| item.get(&a.name).map(|v| (a.name.clone(), v.clone())))
        .collect()
}

pub fn is_key_attribute(meta: &TableMeta, name: &str) -> bool {
    meta.hash.name == name || meta.range.as_ref().is_some_and(|r| r.name == name)
}

/// Key attributes are scalars: DynamoDB refuses a nested path (`k.a`, `k[0]`) into a key attribute of
/// the table (`Key: k`) or of one of its indexes (`IndexKey: k`) in projections, filters and updates.
pub fn check_key_paths<'a>(meta: &TableMeta, paths: impl IntoIterator<Item = &'a super::expr::Path>) -> Result<()> {
    use super::expr::ast::PathElem;
    let nested: Vec<&str> = paths
        .into_iter()
        .filter(|p| p.len() > 1)
        .filter_map(|p| match p.first() {
            Some(PathElem::Attr(a)) => Some(a.as_str()),
            _ => None,
        })
        .collect();
    if nested.is_empty() {
        return Ok(());
    }
    let table_keys = std::iter::once(&meta.hash).chain(meta.range.as_ref()).map(|k| ("Key", k));
    let index_keys =
        meta.indexes.iter().flat_map(|i| std::iter::once(&i.hash).chain(i.range.as_ref())).map(|k| ("IndexKey", k));
    for (what, k) in table_keys.chain(index_keys) {
        if nested.contains(&k.name.as_str()) {
            return Err(invalid(format!(
                "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: {what}: {}",
                k.name
            )));
        }
    }
    Ok(())
}
