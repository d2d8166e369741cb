//! Who may call: SigV4 secrets from the suite's credential store, signed requests only, and
//! virtual-hosted-style addressing (`bucket.localhost:9000`) next to path style.

use std::sync::Arc;

use common::CredentialStore;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::host::{S3Host, VirtualHost};
use s3s::{S3Result, s3_error};

/// Secrets of every user in `users.toml`.
pub struct StoreAuth(pub Arc<CredentialStore>);

#[async_trait::async_trait]
impl S3Auth for StoreAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.by_access_key(access_key) {
            Some(user) => Ok(SecretKey::from(user.secret_key.expose())),
            None => {
                Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."))
            }
        }
    }
}

/// Every operation needs a valid signature; which buckets a user may touch is the engine's business
/// (buckets belong to their creator).
pub struct SignedOnly;

#[async_trait::async_trait]
impl S3Access for SignedOnly {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        match cx.credentials() {
            Some(_) => Ok(()),
            None => Err(s3_error!(AccessDenied, "Access Denied")),
        }
    }
}

/// `localhost`, IP addresses and unknown hosts are path style; `<bucket>.localhost` (any port) and
/// `<bucket>.<configured domain>` name the bucket in the host.
pub struct Hosts {
    domains: Vec<String>,
}

impl Hosts {
    pub fn new(extra_domain: Option<String>) -> Self {
        let mut domains = vec!["localhost".to_string()];
        domains.extend(extra_domain);
        Self { domains }
    }
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

impl S3Host for Hosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = strip_port(host);
        for domain in &self.domains {
            if name.eq_ignore_ascii_case(domain) {
                return Ok(VirtualHost::new(name));
            }
            if let Some(bucket) = name.strip_suffix(domain.as_str()).and_then(|b| b.strip_suffix('.'))
                && !bucket.is_empty()
            {
                return Ok(VirtualHost::new(domain.as_str()).with_bucket(bucket));
            }
        }
        Ok(VirtualHost::new(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_select_virtual_or_path_style() {
        let h = Hosts::new(Some("s3.example.test".into()));
        assert_eq!(h.parse_host_header("localhost:9000").unwrap().bucket(), None);
        assert_eq!(h.parse_host_header("photos.localhost:9000").unwrap().bucket(), Some("photos"));
        assert_eq!(h.parse_host_header("my.dotted.bucket.localhost").unwrap().bucket(), Some("my.dotted.bucket"));
        assert_eq!(h.parse_host_header("b1.s3.example.test").unwrap().bucket(), Some("b1"));
        assert_eq!(h.parse_host_header("example.org:80").unwrap().bucket(), None);
    }
}
