//! EC2 Query parameters: `Name=value` pairs where lists are `Name.1`, `Name.2`, … and structures are
//! `Name.1.Field` (botocore's EC2 serialiser: `VolumeId.1`, `Filter.1.Name`, `Filter.1.Value.1`,
//! `TagSpecification.1.Tag.1.Key`).

use std::collections::BTreeMap;

use super::errors::Ec2Error;
use crate::engine::Filter;

/// Longest form body accepted; EC2 calls are small.
pub const MAX_BODY: usize = 1 << 20;
/// Members read from one list.
const MAX_LIST: usize = 1_000;

#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Parses the URL query and, for form posts, the body (body values win).
    pub fn parse(query: Option<&str>, body: &[u8]) -> Self {
        let mut values = BTreeMap::new();
        if let Some(q) = query {
            values.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        values.extend(form_urlencoded::parse(body).into_owned());
        Self { values }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn required(&self, name: &str) -> Result<&str, Ec2Error> {
        self.get(name).ok_or_else(|| {
            Ec2Error::new(400, "MissingParameter", format!("The request must contain the parameter {name}"))
        })
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, Ec2Error> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| Ec2Error::invalid_value(format!("Invalid value '{v}' for {name}")))
            })
            .transpose()
    }

    pub fn u32(&self, name: &str) -> Result<Option<u32>, Ec2Error> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<u32>().map_err(|_| Ec2Error::invalid_value(format!("Invalid value '{v}' for {name}")))
            })
            .transpose()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, Ec2Error> {
        self.get(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(Ec2Error::invalid_value(format!("Invalid value '{v}' for {name}; expecting true or false"))),
            })
            .transpose()
    }

    /// `prefix.1`, `prefix.2`, … until the first gap.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        (1..=MAX_LIST).map_while(|i| self.get(&format!("{prefix}.{i}")).map(str::to_string)).collect()
    }

    /// How many `prefix.N.*` structures there are.
    fn struct_count(&self, prefix: &str) -> usize {
        (1..=MAX_LIST)
            .take_while(|i| {
                self.values
                    .range(format!("{prefix}.{i}.")..)
                    .next()
                    .is_some_and(|(k, _)| k.starts_with(&format!("{prefix}.{i}.")))
            })
            .count()
    }

    /// `Filter.N.Name` + `Filter.N.Value.M`.
    pub fn filters(&self) -> Result<Vec<Filter>, Ec2Error> {
        let mut out = Vec::new();
        for i in 1..=self.struct_count("Filter") {
            let name = self.get(&format!("Filter.{i}.Name")).ok_or_else(|| {
                Ec2Error::new(
                    400,
                    "MissingParameter",
                    format!("The request must contain the parameter Filter.{i}.Name"),
                )
            })?;
            out.push(Filter { name: name.to_string(), values: self.list(&format!("Filter.{i}.Value")) });
        }
        Ok(out)
    }

    /// `{prefix}.N.Key` / `{prefix}.N.Value` pairs (a missing value is `None`).
    pub fn tags(&self, prefix: &str) -> Result<Vec<(String, Option<String>)>, Ec2Error> {
        let mut out = Vec::new();
        for i in 1..=self.struct_count(prefix) {
            let key = self.get(&format!("{prefix}.{i}.Key")).ok_or_else(|| {
                Ec2Error::new(
                    400,
                    "MissingParameter",
                    format!("The request must contain the parameter {prefix}.{i}.Key"),
                )
            })?;
            out.push((key.to_string(), self.get(&format!("{prefix}.{i}.Value")).map(str::to_string)));
        }
        Ok(out)
    }

    /// Tags of `TagSpecification.N` entries for `resource_type`; other resource types are an error.
    pub fn tag_specifications(&self, resource_type: &str) -> Result<Vec<(String, String)>, Ec2Error> {
        let mut out = Vec::new();
        for i in 1..=self.struct_count("TagSpecification") {
            let kind = self.get(&format!("TagSpecification.{i}.ResourceType")).unwrap_or(resource_type);
            if kind != resource_type {
                return Err(Ec2Error::invalid_value(format!(
                    "'{kind}' is not a valid taggable resource type for this operation."
                )));
            }
            for (k, v) in self.tags(&format!("TagSpecification.{i}.Tag"))? {
                out.push((k, v.unwrap_or_default()));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn botocore_shapes_parse() {
        let body = "Action=DescribeVolumes&VolumeId.1=vol-1&VolumeId.2=vol-2&Filter.1.Name=volume-type&Filter.1.Value.1=gp2&Filter.1.Value.2=gp3&Filter.2.Name=tag%3AName&Filter.2.Value.1=a%20b&TagSpecification.1.ResourceType=volume&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v";
        let p = Params::parse(None, body.as_bytes());
        assert_eq!(p.list("VolumeId"), vec!["vol-1", "vol-2"]);
        let f = p.filters().unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].values, vec!["gp2", "gp3"]);
        assert_eq!((f[1].name.as_str(), f[1].values[0].as_str()), ("tag:Name", "a b"));
        assert_eq!(p.tag_specifications("volume").unwrap(), vec![("k".to_string(), "v".to_string())]);
        assert!(p.tag_specifications("snapshot").is_err());
        assert!(Params::parse(Some("Size=abc"), b"").u64("Size").is_err());
    }
}
