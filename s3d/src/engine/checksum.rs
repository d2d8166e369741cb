//! S3's additional checksums (`x-amz-checksum-*`): computed while a body streams in, stored, and
//! compared with what the client sent. Values are base64 of the big-endian digest, as S3 sends them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use sha1::Digest as _;

use std::collections::HashMap;

use super::{EngineError, Result};
use crate::store::meta::{ChecksumRecord, PartRecord, UploadRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256];

    /// The name S3 uses (`x-amz-checksum-algorithm`, XML).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// Length of the raw digest, to validate what clients send.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    pub fn hasher(self) -> ChecksumHasher {
        let state = match self {
            Self::Crc32 => State::Crc(CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc), 4),
            Self::Crc32c => State::Crc(CrcDigest::new(CrcAlgorithm::Crc32Iscsi), 4),
            Self::Crc64Nvme => State::Crc(CrcDigest::new(CrcAlgorithm::Crc64Nvme), 8),
            Self::Sha1 => State::Sha1(sha1::Sha1::new()),
            Self::Sha256 => State::Sha256(<sha2::Sha256 as sha2::Digest>::new()),
        };
        ChecksumHasher { state }
    }

    /// Whether `value` is well-formed base64 of a digest of this algorithm.
    pub fn is_valid_value(self, value: &str) -> bool {
        STANDARD.decode(value).is_ok_and(|raw| raw.len() == self.digest_len())
    }

    /// The checksum of a multipart object made of parts with these (base64) checksums: the digest of the
    /// concatenated raw digests, suffixed `-N` (S3's COMPOSITE type).
    pub fn composite<'a>(self, parts: impl ExactSizeIterator<Item = &'a str>) -> Option<String> {
        let n = parts.len();
        let mut h = self.hasher();
        for p in parts {
            h.update(&STANDARD.decode(p).ok()?);
        }
        Some(format!("{}-{n}", h.finish()))
    }
}

/// How a multipart object's checksum comes from its parts' (`x-amz-checksum-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumType {
    /// The digest of the parts' concatenated digests, suffixed `-N`: any algorithm but CRC64NVME.
    Composite,
    /// The checksum of the whole body, as a single PUT of it would have: CRCs only, since two CRCs
    /// combine into the CRC of the concatenation without reading the bytes again.
    FullObject,
}

impl ChecksumType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Composite => "COMPOSITE",
            Self::FullObject => "FULL_OBJECT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Composite, Self::FullObject].into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl ChecksumAlgorithm {
    fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            Self::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            Self::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            Self::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            Self::Sha1 | Self::Sha256 => None,
        }
    }

    /// The checksum type a multipart upload with this algorithm gets when `requested` (or, when
    /// none is, its default: FULL_OBJECT for CRC64NVME, COMPOSITE otherwise); `Err` carries S3's
    /// message for a combination it refuses.
    pub fn multipart_type(self, requested: Option<ChecksumType>) -> Result<ChecksumType, String> {
        let allowed = |t: ChecksumType| match t {
            ChecksumType::Composite => self != Self::Crc64Nvme,
            ChecksumType::FullObject => self.crc().is_some(),
        };
        match requested {
            None if self == Self::Crc64Nvme => Ok(ChecksumType::FullObject),
            None => Ok(ChecksumType::Composite),
            Some(t) if allowed(t) => Ok(t),
            Some(t) => Err(format!(
                "The {} checksum type cannot be used with the {} checksum algorithm.",
                t.as_str(),
                self.as_str().to_ascii_lowercase()
            )),
        }
    }

    /// The whole-object CRC of parts given as (base64 CRC, size) in order, from the parts' CRCs
    /// alone; `None` for a non-CRC algorithm, no parts, or a malformed value.
    pub fn combine<'a>(self, parts: impl IntoIterator<Item = (&'a str, u64)>) -> Option<String> {
        let crc = self.crc()?;
        let width = self.digest_len();
        let mut total: Option<u64> = None;
        for (value, size) in parts {
            let raw = STANDARD.decode(value).ok().filter(|r| r.len() == width)?;
            let part = raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            total = Some(match total {
                None => part,
                Some(sum) => crc_fast::checksum_combine(crc, sum, part, size),
            });
        }
        let bytes = total?.to_be_bytes();
        Some(STANDARD.encode(&bytes[8 - width..]))
    }
}

/// What a CompleteMultipartUpload request says of the object's checksum.
#[derive(Debug, Clone, Default)]
pub struct ClaimedChecksum {
    /// `x-amz-checksum-type`: must be the upload's.
    pub checksum_type: Option<ChecksumType>,
    /// `x-amz-checksum-<algorithm>`: `(algorithm, base64 value)`, checked against the object's.
    pub value: Option<(ChecksumAlgorithm, String)>,
    /// Each listed part's `<Checksum…>` element, by part number: checked against the stored part's,
    /// and required (for every part) by a COMPOSITE upload, as S3 does.
    pub parts: HashMap<i64, (ChecksumAlgorithm, String)>,
}

/// The checksum type of an upload with an algorithm (COMPOSITE for uploads recorded before types).
pub(crate) fn upload_checksum_type(upload: &UploadRecord) -> ChecksumType {
    upload.checksum_type.as_deref().and_then(ChecksumType::parse).unwrap_or(ChecksumType::Composite)
}

/// A part's stored checksum of `algo`, if it has one of that algorithm.
fn part_sum(part: &PartRecord, algo: ChecksumAlgorithm) -> Option<&str> {
    part.checksum.as_ref().filter(|c| c.algorithm == algo.as_str()).map(|c| c.value.as_str())
}

/// The object checksum of `kind` made from every part's `algo` checksum (kept with it, in part order);
/// `None` when a part lacks one.
fn object_checksum(algo: ChecksumAlgorithm, kind: ChecksumType, parts: &[(u32, PartRecord)]) -> Option<ChecksumRecord> {
    let values: Vec<String> = parts.iter().map(|(_, p)| part_sum(p, algo).map(str::to_owned)).collect::<Option<_>>()?;
    let sums = values.iter().map(String::as_str);
    let value = match kind {
        ChecksumType::Composite => algo.composite(sums),
        ChecksumType::FullObject => algo.combine(sums.zip(parts.iter().map(|(_, p)| p.size))),
    }?;
    Some(ChecksumRecord { algorithm: algo.as_str().into(), value, kind: kind.as_str().into(), parts: values })
}

/// The completed object's checksum, made from its parts' as the upload's type says and checked
/// against what the Complete request claims; `None` when a part lacks its checksum. An upload that
/// named no algorithm gets what S3 keeps by default: the whole body's CRC64NVME, combined from the
/// parts' default ones (`None` if a part's client chose another algorithm for it).
pub(crate) fn completed_checksum(
    upload: &UploadRecord,
    parts: &[(u32, PartRecord)],
    claimed: &ClaimedChecksum,
) -> Result<Option<ChecksumRecord>> {
    let Some(algo) = upload.checksum_algorithm.as_deref().and_then(ChecksumAlgorithm::parse) else {
        return Ok(object_checksum(super::ingest::DEFAULT_CHECKSUM, ChecksumType::FullObject, parts));
    };
    let kind = upload_checksum_type(upload);
    if claimed.checksum_type.is_some_and(|t| t != kind) {
        return Err(EngineError::InvalidRequest(format!(
            "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
            kind.as_str()
        )));
    }
    for (n, part) in parts {
        match claimed.parts.get(&i64::from(*n)) {
            None if kind == ChecksumType::Composite => {
                return Err(EngineError::InvalidRequest(format!(
                    "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {n} in the request.",
                    algo.as_str().to_ascii_lowercase()
                )));
            }
            Some((part_algo, value)) if *part_algo != algo || Some(value.as_str()) != part_sum(part, algo) => {
                return Err(EngineError::InvalidPart(super::multipart::INVALID_PART.into()));
            }
            _ => {}
        }
    }
    let Some(record) = object_checksum(algo, kind, parts) else { return Ok(None) };
    if let Some((claimed_algo, claimed_value)) = &claimed.value {
        if *claimed_algo != algo {
            return Err(EngineError::InvalidRequest(format!(
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                algo.as_str().to_ascii_lowercase(),
                claimed_algo.as_str().to_ascii_lowercase()
            )));
        }
        // A composite value may be claimed with or without its `-N` suffix.
        let bare = record.value.split('-').next().unwrap_or(&record.value);
        if *claimed_value != record.value && claimed_value != bare {
            return Err(EngineError::ChecksumMismatch(algo.as_str()));
        }
    }
    Ok(Some(record))
}

enum State {
    Crc(CrcDigest, usize),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

pub struct ChecksumHasher {
    state: State,
}

impl ChecksumHasher {
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc(d, _) => d.update(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => sha2::Digest::update(h, data),
        }
    }

    /// Base64 of the digest.
    pub fn finish(self) -> String {
        let raw: Vec<u8> = match self.state {
            State::Crc(d, 4) => (d.finalize() as u32).to_be_bytes().to_vec(),
            State::Crc(d, _) => d.finalize().to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => sha2::Digest::finalize(h).to_vec(),
        };
        STANDARD.encode(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut h = a.hasher();
        let (x, y) = data.split_at(data.len() / 2);
        h.update(x);
        h.update(y);
        h.finish()
    }

    #[test]
    fn known_values_match_what_aws_sdks_send() {
        // Values for "hello world" as computed by botocore / the AWS docs' examples.
        assert_eq!(sum(ChecksumAlgorithm::Crc32, b"hello world"), "DUoRhQ==");
        assert_eq!(sum(ChecksumAlgorithm::Crc32c, b"hello world"), "yZRlqg==");
        assert_eq!(sum(ChecksumAlgorithm::Sha1, b"hello world"), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
        assert_eq!(sum(ChecksumAlgorithm::Sha256, b"hello world"), "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=");
        assert_eq!(sum(ChecksumAlgorithm::Crc64Nvme, b"hello world").len(), 12);
    }

    #[test]
    fn multipart_types_follow_s3s_rules() {
        use ChecksumAlgorithm::*;
        use ChecksumType::*;
        assert_eq!(Crc32.multipart_type(None), Ok(Composite));
        assert_eq!(Crc64Nvme.multipart_type(None), Ok(FullObject));
        assert_eq!(Crc32c.multipart_type(Some(FullObject)), Ok(FullObject));
        assert_eq!(Sha1.multipart_type(Some(Composite)), Ok(Composite));
        assert_eq!(
            Sha256.multipart_type(Some(FullObject)),
            Err("The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm.".into())
        );
        assert_eq!(
            Crc64Nvme.multipart_type(Some(Composite)),
            Err("The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.".into())
        );
        assert_eq!(ChecksumType::parse("full_object"), Some(FullObject));
        assert_eq!(Sha1.combine([(sum(Sha1, b"x").as_str(), 1)]), None);
    }

    proptest::proptest! {
        /// The CRC combined from the parts' CRCs is the CRC of the whole body, for every CRC.
        #[test]
        fn combined_part_crcs_are_the_whole_body_crc(
            parts in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 1..6),
        ) {
            let whole: Vec<u8> = parts.concat();
            for a in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64Nvme] {
                let sums: Vec<String> = parts.iter().map(|p| sum(a, p)).collect();
                let combined = a.combine(sums.iter().map(String::as_str).zip(parts.iter().map(|p| p.len() as u64)));
                proptest::prop_assert_eq!(combined, Some(sum(a, &whole)), "{:?}", a);
            }
        }
    }

    #[test]
    fn names_parse_back_and_values_are_validated() {
        for a in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::parse(a.as_str()), Some(a));
            assert!(a.is_valid_value(&sum(a, b"x")));
        }
        assert!(!ChecksumAlgorithm::Crc32.is_valid_value("not base64!"));
        assert!(!ChecksumAlgorithm::Crc32.is_valid_value(&sum(ChecksumAlgorithm::Sha1, b"x")));
    }
}
