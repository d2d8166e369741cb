//! A volume's metadata and EC2's rules for sizes, IOPS and throughput per volume type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{EngineError, EngineResult};

pub const GIB: u64 = 1 << 30;
pub const MIB: u64 = 1 << 20;
/// EBS's largest volume of every type: 16 TiB.
pub const MAX_SIZE_GIB: u64 = 16_384;
/// Tags per resource (EC2's limit).
pub const MAX_TAGS: usize = 50;
/// Instances one Multi-Attach volume may be attached to.
pub const MAX_MULTI_ATTACH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    Gp2,
    Gp3,
    Io1,
    Io2,
    St1,
    Sc1,
}

impl VolumeType {
    pub fn parse(s: &str) -> EngineResult<Self> {
        Ok(match s {
            "gp2" => Self::Gp2,
            "gp3" => Self::Gp3,
            "io1" => Self::Io1,
            "io2" => Self::Io2,
            "st1" => Self::St1,
            "sc1" => Self::Sc1,
            other => {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Value ({other}) for parameter volumeType is invalid. Valid values: gp2, gp3, io1, io2, sc1, st1"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gp2 => "gp2",
            Self::Gp3 => "gp3",
            Self::Io1 => "io1",
            Self::Io2 => "io2",
            Self::St1 => "st1",
            Self::Sc1 => "sc1",
        }
    }

    /// SSD types count one I/O per 256 KiB, HDD types one per 1 MiB (EBS's I/O size accounting).
    pub fn is_hdd(self) -> bool {
        matches!(self, Self::St1 | Self::Sc1)
    }

    pub fn min_size_gib(self) -> u64 {
        match self {
            Self::Gp2 | Self::Gp3 => 1,
            Self::Io1 | Self::Io2 => 4,
            Self::St1 | Self::Sc1 => 125,
        }
    }

    /// (min, max, max per GiB) provisioned IOPS, for the types that take an `Iops` parameter.
    fn iops_limits(self) -> Option<(u32, u32, u32)> {
        match self {
            Self::Gp3 => Some((3_000, 16_000, 500)),
            Self::Io1 => Some((100, 64_000, 50)),
            Self::Io2 => Some((100, 256_000, 500)),
            _ => None,
        }
    }

    pub fn supports_multi_attach(self) -> bool {
        matches!(self, Self::Io1 | Self::Io2)
    }
}

/// Type, size and performance settings: what CreateVolume and ModifyVolume set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub volume_type: VolumeType,
    pub size_gib: u64,
    /// Provisioned IOPS (gp3, io1, io2); `None` for the types whose IOPS follow from the size.
    pub iops: Option<u32>,
    /// Provisioned throughput in MiB/s (gp3 only).
    pub throughput: Option<u32>,
    pub multi_attach: bool,
}

/// What a caller asked for; unset fields take EC2's defaults (or the current value on modify).
#[derive(Debug, Clone, Default)]
pub struct SpecRequest {
    pub volume_type: Option<String>,
    pub size_gib: Option<u64>,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    pub multi_attach: Option<bool>,
}

impl VolumeSpec {
    /// Validates a CreateVolume request as EC2 does.
    pub fn for_create(req: &SpecRequest) -> EngineResult<Self> {
        let volume_type = VolumeType::parse(req.volume_type.as_deref().unwrap_or("gp2"))?;
        let size_gib = req.size_gib.ok_or_else(|| EngineError::MissingParameter("size".into()))?;
        let spec = Self::resolve(volume_type, size_gib, req.iops, req.throughput, req.multi_attach.unwrap_or(false))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Validates a ModifyVolume request against the current spec: sizes only grow, and a type change
    /// keeps IOPS / throughput only where the new type takes them.
    pub fn for_modify(&self, req: &SpecRequest) -> EngineResult<Self> {
        let volume_type = match &req.volume_type {
            Some(t) => VolumeType::parse(t)?,
            None => self.volume_type,
        };
        let size_gib = req.size_gib.unwrap_or(self.size_gib);
        if size_gib < self.size_gib {
            return Err(EngineError::InvalidParameterValue(format!(
                "New size cannot be smaller than existing size ({} GiB)",
                self.size_gib
            )));
        }
        let keeps_iops = volume_type == self.volume_type || volume_type.iops_limits().is_some();
        let iops = req.iops.or(if keeps_iops && volume_type.iops_limits().is_some() { self.iops } else { None });
        let throughput = req.throughput.or(if volume_type == VolumeType::Gp3 { self.throughput } else { None });
        let multi_attach = req.multi_attach.unwrap_or(self.multi_attach && volume_type.supports_multi_attach());
        let next = Self::resolve(volume_type, size_gib, iops, throughput, multi_attach)?;
        next.validate()?;
        if next == *self {
            return Err(EngineError::InvalidParameterCombination(
                "New size, volume type, IOPS, throughput or Multi-Attach setting must differ from the current ones."
                    .into(),
            ));
        }
        Ok(next)
    }

    fn resolve(
        volume_type: VolumeType,
        size_gib: u64,
        iops: Option<u32>,
        throughput: Option<u32>,
        multi_attach: bool,
    ) -> EngineResult<Self> {
        let type_name = volume_type.as_str();
        if iops.is_some() && volume_type.iops_limits().is_none() {
            return Err(EngineError::InvalidParameterCombination(format!(
                "The parameter iops is not supported for {type_name} volumes."
            )));
        }
        if throughput.is_some() && volume_type != VolumeType::Gp3 {
            return Err(EngineError::InvalidParameterCombination(format!(
                "The parameter throughput is not supported for {type_name} volumes."
            )));
        }
        let iops = match volume_type {
            VolumeType::Gp3 => Some(iops.unwrap_or(3_000)),
            VolumeType::Io1 | VolumeType::Io2 => {
                Some(iops.ok_or_else(|| EngineError::MissingParameter("iops".into()))?)
            }
            _ => None,
        };
        let throughput = (volume_type == VolumeType::Gp3).then(|| throughput.unwrap_or(125));
        Ok(Self { volume_type, size_gib, iops, throughput, multi_attach })
    }

    fn validate(&self) -> EngineResult<()> {
        let min = self.volume_type.min_size_gib();
        if self.size_gib < min {
            return Err(EngineError::InvalidParameterValue(format!(
                "Volume of size {}GiB is too small; minimum is {min}GiB.",
                self.size_gib
            )));
        }
        if self.size_gib > MAX_SIZE_GIB {
            return Err(EngineError::InvalidParameterValue(format!(
                "Volume of {}GiB is too large; maximum is {MAX_SIZE_GIB}GiB.",
                self.size_gib
            )));
        }
        if let (Some(iops), Some((lo, hi, per_gib))) = (self.iops, self.volume_type.iops_limits()) {
            if iops < lo {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Volume iops of {iops} is too low; minimum is {lo}."
                )));
            }
            if iops > hi {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Volume iops of {iops} is too high; maximum is {hi}."
                )));
            }
            // gp3's 3,000 IOPS baseline is free at any size; above it, and for io1/io2, IOPS scale with size.
            let baseline = if self.volume_type == VolumeType::Gp3 { 3_000 } else { 0 };
            if iops > baseline && u64::from(iops) > u64::from(per_gib) * self.size_gib {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Iops to volume size ratio of {:.6} is too high; maximum is {:.6}",
                    f64::from(iops) / self.size_gib as f64,
                    f64::from(per_gib)
                )));
            }
        }
        if let Some(throughput) = self.throughput {
            if !(125..=1_000).contains(&throughput) {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Throughput of {throughput} MiBps is invalid; valid range is 125 to 1000 MiBps."
                )));
            }
            let iops = self.iops.unwrap_or(3_000);
            if f64::from(throughput) / f64::from(iops) > 0.25 {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Throughput (MiBps) to iops ratio of {:.6} is too high; maximum is 0.250000 MiBps per iops.",
                    f64::from(throughput) / f64::from(iops)
                )));
            }
        }
        if self.multi_attach && !self.volume_type.supports_multi_attach() {
            return Err(EngineError::InvalidParameterCombination(format!(
                "Multi-Attach is not supported for {} volumes.",
                self.volume_type.as_str()
            )));
        }
        Ok(())
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_gib * GIB
    }

    /// The IOPS EC2 reports: provisioned, or gp2's size-derived baseline; `None` for HDD types.
    pub fn reported_iops(&self) -> Option<u32> {
        match self.volume_type {
            VolumeType::Gp2 => Some(gp2_baseline_iops(self.size_gib)),
            _ => self.iops,
        }
    }
}

/// gp2: 3 IOPS per GiB, at least 100, at most 16,000.
pub fn gp2_baseline_iops(size_gib: u64) -> u32 {
    (size_gib * 3).clamp(100, 16_000) as u32
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub instance_id: String,
    pub device: String,
    /// RFC 3339.
    pub attach_time: String,
    pub delete_on_termination: bool,
}

/// The latest ModifyVolume of a volume, as DescribeVolumesModifications reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modification {
    pub state: String,
    pub original: VolumeSpec,
    pub target: VolumeSpec,
    pub progress: u8,
    pub start_time: String,
    pub end_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub spec: VolumeSpec,
    pub availability_zone: String,
    pub snapshot_id: Option<String>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    /// RFC 3339.
    pub create_time: String,
    pub tags: BTreeMap<String, String>,
    pub attachments: Vec<Attachment>,
    pub modification: Option<Modification>,
}

impl Volume {
    pub fn status(&self) -> &'static str {
        if self.attachments.is_empty() { "available" } else { "in-use" }
    }
}

/// Checks tag keys and values as EC2 does and applies them (CreateTags overwrites existing keys).
pub fn apply_tags(tags: &mut BTreeMap<String, String>, new: &[(String, String)]) -> EngineResult<()> {
    for (key, value) in new {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(EngineError::InvalidParameterValue(format!(
                "Tag key exceeds the maximum length of 128 characters or is empty: {key}"
            )));
        }
        if value.chars().count() > 256 {
            return Err(EngineError::InvalidParameterValue(format!(
                "Tag value exceeds the maximum length of 256 characters: {value}"
            )));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(EngineError::InvalidParameterValue(
                "Tag keys starting with 'aws:' are reserved for internal use".into(),
            ));
        }
    }
    let mut next = tags.clone();
    for (key, value) in new {
        next.insert(key.clone(), value.clone());
    }
    if next.len() > MAX_TAGS {
        return Err(EngineError::TagLimitExceeded);
    }
    *tags = next;
    Ok(())
}

/// `vol-` followed by 8 or 17 lower-case hex digits.
pub fn check_volume_id(id: &str) -> EngineResult<()> {
    if is_ec2_id(id, "vol") { Ok(()) } else { Err(EngineError::MalformedVolumeId(id.into())) }
}

pub fn check_instance_id(id: &str) -> EngineResult<()> {
    if is_ec2_id(id, "i") { Ok(()) } else { Err(EngineError::MalformedInstanceId(id.into())) }
}

fn is_ec2_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(t: &str, size: u64) -> SpecRequest {
        SpecRequest { volume_type: Some(t.into()), size_gib: Some(size), ..Default::default() }
    }

    #[test]
    fn sizes_follow_ec2_ranges() {
        assert!(VolumeSpec::for_create(&req("gp2", 1)).is_ok());
        assert!(VolumeSpec::for_create(&req("gp3", 16_384)).is_ok());
        assert!(VolumeSpec::for_create(&req("gp3", 16_385)).is_err());
        assert!(VolumeSpec::for_create(&req("st1", 124)).is_err());
        assert!(VolumeSpec::for_create(&req("sc1", 125)).is_ok());
        let io1 = SpecRequest { iops: Some(100), ..req("io1", 3) };
        assert!(matches!(VolumeSpec::for_create(&io1), Err(EngineError::InvalidParameterValue(_))));
        assert!(matches!(VolumeSpec::for_create(&req("io1", 10)), Err(EngineError::MissingParameter(_))));
        assert!(matches!(VolumeSpec::for_create(&req("standard", 10)), Err(EngineError::InvalidParameterValue(_))));
    }

    #[test]
    fn iops_and_throughput_rules() {
        let ok = SpecRequest { iops: Some(500), ..req("io1", 10) };
        assert_eq!(VolumeSpec::for_create(&ok).unwrap().iops, Some(500));
        let too_dense = SpecRequest { iops: Some(501), ..req("io1", 10) };
        let err = VolumeSpec::for_create(&too_dense).unwrap_err().to_string();
        assert!(err.contains("ratio of 50.100000"), "{err}");
        let gp2_iops = SpecRequest { iops: Some(500), ..req("gp2", 10) };
        assert!(matches!(VolumeSpec::for_create(&gp2_iops), Err(EngineError::InvalidParameterCombination(_))));
        let gp3 = VolumeSpec::for_create(&req("gp3", 1)).unwrap();
        assert_eq!((gp3.iops, gp3.throughput), (Some(3_000), Some(125)));
        let gp3_fast = SpecRequest { throughput: Some(1_000), ..req("gp3", 100) };
        assert!(VolumeSpec::for_create(&gp3_fast).is_err(), "1000 MiB/s needs 4000 IOPS");
        let gp3_fast = SpecRequest { throughput: Some(1_000), iops: Some(4_000), ..req("gp3", 100) };
        assert!(VolumeSpec::for_create(&gp3_fast).is_ok());
        let multi = SpecRequest { multi_attach: Some(true), ..req("gp3", 10) };
        assert!(VolumeSpec::for_create(&multi).is_err());
        assert_eq!(gp2_baseline_iops(10), 100);
        assert_eq!(gp2_baseline_iops(100), 300);
        assert_eq!(gp2_baseline_iops(16_000), 16_000);
    }

    #[test]
    fn modify_grows_and_changes_type() {
        let gp2 = VolumeSpec::for_create(&req("gp2", 10)).unwrap();
        assert!(gp2.for_modify(&SpecRequest { size_gib: Some(5), ..Default::default() }).is_err());
        assert!(gp2.for_modify(&SpecRequest::default()).is_err(), "no change");
        let gp3 = gp2.for_modify(&SpecRequest { volume_type: Some("gp3".into()), ..Default::default() }).unwrap();
        assert_eq!((gp3.iops, gp3.throughput, gp3.size_gib), (Some(3_000), Some(125), 10));
        let back = gp3
            .for_modify(&SpecRequest { volume_type: Some("gp2".into()), size_gib: Some(20), ..Default::default() })
            .unwrap();
        assert_eq!((back.iops, back.throughput, back.size_gib), (None, None, 20));
    }

    #[test]
    fn ids_and_tags() {
        assert!(check_volume_id("vol-0123456789abcdef0").is_ok());
        assert!(check_volume_id("vol-1234abcd").is_ok());
        assert!(check_volume_id("vol-XYZ").is_err());
        assert!(check_instance_id("i-0123456789abcdef0").is_ok());
        assert!(check_instance_id("x-1").is_err());
        let mut tags = BTreeMap::new();
        apply_tags(&mut tags, &[("Name".into(), "a".into())]).unwrap();
        assert!(apply_tags(&mut tags, &[("aws:x".into(), "a".into())]).is_err());
        let many: Vec<_> = (0..50).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(matches!(apply_tags(&mut tags, &many), Err(EngineError::TagLimitExceeded)));
        assert_eq!(tags.len(), 1, "a rejected request changes nothing");
    }
}
