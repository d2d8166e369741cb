//! Identifiers shaped like AWS's.

use rand::Rng;

/// A request id like S3's: 16 upper-case hex digits.
pub fn request_id() -> String {
    format!("{:016X}", rand::thread_rng().r#gen::<u64>())
}

/// An EC2-style resource id: `prefix-` followed by 17 lower-case hex digits (`vol-0a1b…`, `snap-…`).
pub fn resource_id(prefix: &str) -> String {
    let n: u128 = rand::thread_rng().r#gen::<u128>() & ((1u128 << 68) - 1);
    format!("{prefix}-{n:017x}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn resource_ids_look_like_ec2() {
        let id = super::resource_id("vol");
        assert_eq!(id.len(), 4 + 17);
        assert!(id[4..].chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}
