//! DynamoDB's JSON shapes: attribute values (`{"S": "x"}`, `{"N": "1"}`, base64 `B`, …) to and from the
//! engine's values, and typed access to request fields with DynamoDB's complaints about bad input.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use crate::engine::number::Number;
use crate::engine::value::{AttrValue, Item};

fn serialization(msg: impl Into<String>) -> ApiError {
    ApiError::Serialization(msg.into())
}

fn validation(msg: impl Into<String>) -> ApiError {
    ApiError::Engine(crate::engine::error::EngineError::Validation(msg.into()))
}

fn b64(s: &Value) -> Result<Vec<u8>, ApiError> {
    let s = s.as_str().ok_or_else(|| serialization("Base64 encoded binary value expected"))?;
    B64.decode(s).map_err(|_| {
        serialization(
            "Base64 encoded length is expected a multiple of 4 bytes but found: ".to_string() + &s.len().to_string(),
        )
    })
}

fn string(v: &Value) -> Result<String, ApiError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| serialization(format!("STRING_VALUE can not be converted to a String: {v}")))
}

fn number(v: &Value) -> Result<Number, ApiError> {
    let s = v.as_str().ok_or_else(|| serialization(format!("NUMBER_VALUE cannot be converted to String: {v}")))?;
    Ok(Number::parse(s)?)
}

fn array(v: &Value) -> Result<&Vec<Value>, ApiError> {
    v.as_array().ok_or_else(|| serialization(format!("Unexpected value type in payload: expected a list, got {v}")))
}

pub fn attr_value(v: &Value) -> Result<AttrValue, ApiError> {
    let obj = v.as_object().ok_or_else(|| {
        serialization(format!("Unexpected value type in payload: expected an attribute value, got {v}"))
    })?;
    let mut entries = obj.iter().filter(|(_, v)| !v.is_null());
    let Some((ty, inner)) = entries.next() else {
        return Err(validation(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ));
    };
    if entries.next().is_some() {
        return Err(validation(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ));
    }
    Ok(match ty.as_str() {
        "S" => AttrValue::S(string(inner)?),
        "N" => AttrValue::N(number(inner)?),
        "B" => AttrValue::B(b64(inner)?),
        "BOOL" => AttrValue::Bool(inner.as_bool().ok_or_else(|| serialization("BOOL value expected"))?),
        "NULL" => {
            if inner.as_bool() != Some(true) {
                return Err(validation(
                    "One or more parameter values were invalid: Null attribute value types must have the value of true",
                ));
            }
            AttrValue::Null
        }
        "L" => AttrValue::L(array(inner)?.iter().map(attr_value).collect::<Result<_, _>>()?),
        "M" => AttrValue::M(item(inner)?),
        "SS" => AttrValue::Ss(array(inner)?.iter().map(string).collect::<Result<_, _>>()?),
        "NS" => AttrValue::Ns(array(inner)?.iter().map(number).collect::<Result<_, _>>()?),
        "BS" => AttrValue::Bs(array(inner)?.iter().map(b64).collect::<Result<_, _>>()?),
        other => return Err(serialization(format!("Unknown attribute value type: {other}"))),
    })
}

pub fn item(v: &Value) -> Result<Item, ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| serialization(format!("Unexpected value type in payload: expected a map, got {v}")))?;
    obj.iter().map(|(k, v)| Ok((k.clone(), attr_value(v)?))).collect()
}

pub fn value_json(v: &AttrValue) -> Value {
    match v {
        AttrValue::S(s) => json!({ "S": s }),
        AttrValue::N(n) => json!({ "N": n.to_string() }),
        AttrValue::B(b) => json!({ "B": B64.encode(b) }),
        AttrValue::Bool(b) => json!({ "BOOL": b }),
        AttrValue::Null => json!({ "NULL": true }),
        AttrValue::L(l) => json!({ "L": l.iter().map(value_json).collect::<Vec<_>>() }),
        AttrValue::M(m) => json!({ "M": item_json(m) }),
        AttrValue::Ss(s) => json!({ "SS": s }),
        AttrValue::Ns(s) => json!({ "NS": s.iter().map(|n| n.to_string()).collect::<Vec<_>>() }),
        AttrValue::Bs(s) => json!({ "BS": s.iter().map(|b| B64.encode(b)).collect::<Vec<_>>() }),
    }
}

pub fn item_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), value_json(v))).collect())
}

/// Typed access to the fields of one request object.
#[derive(Clone, Copy)]
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.get(name).map(string).transpose()
    }

    /// A required string; `wire` is the camelCase name DynamoDB's validator reports.
    pub fn required_str(&self, name: &str, wire: &str) -> Result<String, ApiError> {
        self.str(name)?.ok_or_else(|| null_error(wire))
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|v| v.as_bool().ok_or_else(|| serialization(format!("{name}: expected a boolean, got {v}"))))
            .transpose()
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|v| match v.as_i64() {
                Some(n) if n >= 0 => Ok(n as u64),
                Some(n) => Err(validation(format!(
                    "1 validation error detected: Value '{n}' at '{}' failed to satisfy constraint: Member must have value greater than or equal to 1",
                    camel(name)
                ))),
                None => Err(serialization(format!("{name}: expected a number, got {v}"))),
            })
            .transpose()
    }

    pub fn object(&self, name: &str) -> Result<Option<Fields<'a>>, ApiError> {
        self.get(name)
            .map(|v| {
                v.as_object().map(Fields).ok_or_else(|| serialization(format!("{name}: expected an object, got {v}")))
            })
            .transpose()
    }

    pub fn array(&self, name: &str) -> Result<Option<&'a Vec<Value>>, ApiError> {
        self.get(name).map(array).transpose()
    }

    pub fn item(&self, name: &str) -> Result<Option<Item>, ApiError> {
        self.get(name).map(item).transpose()
    }

    pub fn required_item(&self, name: &str, wire: &str) -> Result<Item, ApiError> {
        self.item(name)?.ok_or_else(|| null_error(wire))
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        self.array(name)?.map(|a| a.iter().map(string).collect()).transpose()
    }

    pub fn names(&self) -> Result<Option<HashMap<String, String>>, ApiError> {
        self.object("ExpressionAttributeNames")?
            .map(|o| o.0.iter().map(|(k, v)| Ok((k.clone(), string(v)?))).collect())
            .transpose()
    }

    pub fn values(&self) -> Result<Option<HashMap<String, AttrValue>>, ApiError> {
        self.object("ExpressionAttributeValues")?
            .map(|o| {
                let mut keys: Vec<&String> = o.0.keys().collect();
                keys.sort();
                keys.into_iter()
                    .map(|k| match attr_value(&o.0[k]) {
                        Ok(v) => Ok((k.clone(), v)),
                        Err(ApiError::Engine(crate::engine::error::EngineError::Validation(m))) => Err(validation(
                            format!("ExpressionAttributeValues contains invalid value: {m} for key {k}"),
                        )),
                        Err(e) => Err(e),
                    })
                    .collect()
            })
            .transpose()
    }
}

pub fn null_error(wire: &str) -> ApiError {
    validation(format!(
        "1 validation error detected: Value null at '{wire}' failed to satisfy constraint: Member must not be null"
    ))
}

fn camel(name: &str) -> String {
    let mut c = name.chars();
    c.next().map(|f| f.to_ascii_lowercase().to_string() + c.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_round_trip() {
        let v = json!({"M": {"a": {"L": [{"N": "1.50"}, {"B": "AAE="}, {"NULL": true}, {"SS": ["x", "y"]}]}}});
        let parsed = attr_value(&v).unwrap();
        assert_eq!(
            value_json(&parsed),
            json!({"M": {"a": {"L": [{"N": "1.5"}, {"B": "AAE="}, {"NULL": true}, {"SS": ["x", "y"]}]}}})
        );
        assert!(attr_value(&json!({})).is_err());
        assert!(attr_value(&json!({"S": "a", "N": "1"})).is_err());
        assert!(attr_value(&json!({"N": "x"})).is_err());
    }
}
