//! Validation of what users name and attach: bucket names, keys, user metadata, tags.

use std::collections::BTreeMap;

use super::{EngineError, Result};

/// S3's bucket naming rules (general purpose buckets).
pub fn validate_bucket_name(name: &str) -> Result<()> {
    let err = EngineError::InvalidBucketName;
    if name.len() < 3 || name.len() > 63 {
        return Err(err("bucket names must be between 3 and 63 characters long"));
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-') {
        return Err(err("bucket names can consist only of lowercase letters, numbers, dots and hyphens"));
    }
    let bytes = name.as_bytes();
    if !bytes[0].is_ascii_alphanumeric() || !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
        return Err(err("bucket names must begin and end with a letter or number"));
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err(err("bucket names must not contain adjacent periods or a period next to a hyphen"));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(err("bucket names must not be formatted as an IP address"));
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
    {
        return Err(err("bucket names must not use a reserved prefix or suffix"));
    }
    Ok(())
}

/// Keys are 1..=1024 bytes of UTF-8 (the protocol layer guarantees UTF-8).
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(EngineError::InvalidArgument("Object key must not be empty".into()));
    }
    if key.len() > 1024 {
        return Err(EngineError::KeyTooLong);
    }
    Ok(())
}

/// User metadata (`x-amz-meta-*`) may total 2 KB: names plus values, as S3 counts it.
pub const MAX_USER_METADATA: usize = 2048;

pub fn validate_user_metadata(meta: &BTreeMap<String, String>) -> Result<()> {
    let size: usize = meta.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_USER_METADATA {
        return Err(EngineError::MetadataTooLarge);
    }
    Ok(())
}

pub const MAX_TAGS: usize = 10;
pub const MAX_BUCKET_TAGS: usize = 50;

/// S3's object tag limits: at most 10, unique keys of 1..=128 chars, values up to 256 chars.
pub fn validate_tags(tags: &[(String, String)]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(EngineError::InvalidTag("Object tags cannot be greater than 10".into()));
    }
    validate_tag_pairs(tags)
}

/// A bucket's: the same pairs, up to 50 of them, and none in the `aws:` namespace AWS keeps for
/// the tags it sets itself.
pub fn validate_bucket_tags(tags: &[(String, String)]) -> Result<()> {
    if tags.len() > MAX_BUCKET_TAGS {
        return Err(EngineError::InvalidTag("Bucket tag count cannot be greater than 50".into()));
    }
    if tags.iter().any(|(k, _)| k.starts_with("aws:")) {
        return Err(EngineError::InvalidTag("System tags cannot be added/updated by requester".into()));
    }
    validate_tag_pairs(tags)
}

fn validate_tag_pairs(tags: &[(String, String)]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(EngineError::InvalidTag("The TagKey you have provided is invalid".into()));
        }
        if v.chars().count() > 256 {
            return Err(EngineError::InvalidTag("The TagValue you have provided is too long".into()));
        }
        if !seen.insert(k.as_str()) {
            return Err(EngineError::InvalidTag("Cannot provide multiple Tags with the same key".into()));
        }
    }
    Ok(())
}

/// The `x-amz-tagging` header: a URL query string (`k1=v1&k2=v2`).
pub fn parse_tagging_header(header: &str) -> Result<Vec<(String, String)>> {
    let tags: Vec<(String, String)> =
        form_urlencoded_pairs(header).ok_or_else(|| EngineError::InvalidArgument("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.".into()))?;
    validate_tags(&tags)?;
    Ok(tags)
}

fn form_urlencoded_pairs(s: &str) -> Option<Vec<(String, String)>> {
    let decode = |part: &str| -> Option<String> {
        let spaced = part.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(|c| c.into_owned())
    };
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket.data", "a1b", "123", &"a".repeat(63)] {
            assert!(validate_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Abc",
            "a_b",
            "-ab",
            "ab-",
            ".ab",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--ab",
            "ab-s3alias",
            "a b",
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tagging_header_parses_and_enforces_limits() {
        assert_eq!(
            parse_tagging_header("a=1&b=two%20words&c=").unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "two words".into()), ("c".into(), "".into())]
        );
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(matches!(parse_tagging_header(&eleven.join("&")), Err(EngineError::InvalidTag(_))));
        assert!(matches!(parse_tagging_header("a=1&a=2"), Err(EngineError::InvalidTag(_))));
        assert!(parse_tagging_header(&format!("{}=v", "k".repeat(129))).is_err());
    }

    #[test]
    fn user_metadata_is_limited_to_2kb() {
        let mut m = BTreeMap::new();
        m.insert("k".to_string(), "v".repeat(2047));
        assert!(validate_user_metadata(&m).is_ok());
        m.insert("x".to_string(), "y".into());
        assert!(matches!(validate_user_metadata(&m), Err(EngineError::MetadataTooLarge)));
    }

    proptest! {
        #[test]
        fn valid_bucket_names_are_lowercase_dns_labels(name in "[a-z0-9.-]{1,70}") {
            if validate_bucket_name(&name).is_ok() {
                prop_assert!((3..=63).contains(&name.len()));
                prop_assert!(!name.contains(".."));
                prop_assert!(name.as_bytes()[0].is_ascii_alphanumeric());
            }
        }
    }
}
