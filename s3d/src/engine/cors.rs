//! Bucket CORS (Put/Get/DeleteBucketCors) and the rule a cross-origin request matches, so that a
//! web page can upload to a presigned URL or read objects from another origin. Matching follows S3:
//! the first rule whose origin (one `*` wildcard allowed), method and every requested header fit.

use serde::{Deserialize, Serialize};

use super::{Caller, Engine, EngineError, Result};
use crate::store::meta::MetaBatch;

/// Rules per configuration, as S3 allows.
pub const MAX_RULES: usize = 100;
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

/// What a matching rule grants a request from `origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsGrant {
    /// `*` when the rule allows every origin, else the request's origin.
    pub allow_origin: String,
    pub allow_methods: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

/// `pattern` with at most one `*`, matched against `value` (case-insensitively for header names).
fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| if ignore_case { a.eq_ignore_ascii_case(b) } else { a == b };
    match pattern.split_once('*') {
        None => eq(pattern, value),
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.is_char_boundary(head.len())
                && value.is_char_boundary(value.len() - tail.len())
                && eq(&value[..head.len()], head)
                && eq(&value[value.len() - tail.len()..], tail)
        }
    }
}

fn validate(rules: &[CorsRule]) -> Result<()> {
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(EngineError::MalformedXml);
    }
    for rule in rules {
        if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
            return Err(EngineError::MalformedXml);
        }
        if let Some(m) = rule.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(EngineError::InvalidRequest(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        if let Some(o) = rule.allowed_origins.iter().find(|o| o.matches('*').count() > 1) {
            return Err(EngineError::InvalidRequest(format!(
                "AllowedOrigin \"{o}\" can not have more than one wildcard."
            )));
        }
        if let Some(h) = rule.allowed_headers.iter().find(|h| h.matches('*').count() > 1) {
            return Err(EngineError::InvalidRequest(format!(
                "AllowedHeader \"{h}\" can not have more than one wildcard."
            )));
        }
    }
    Ok(())
}

/// The first rule allowing `method` from `origin` with every one of `headers` (a preflight's
/// Access-Control-Request-Headers; an actual request checks none).
pub fn find_grant(rules: &[CorsRule], origin: &str, method: &str, headers: &[&str]) -> Option<CorsGrant> {
    rules.iter().find_map(|rule| {
        let matched_origin = rule.allowed_origins.iter().find(|o| wildcard_match(o, origin, false))?;
        if !rule.allowed_methods.iter().any(|m| m == method) {
            return None;
        }
        let header_ok = |h: &&str| rule.allowed_headers.iter().any(|p| wildcard_match(p, h, true));
        if !headers.iter().all(header_ok) {
            return None;
        }
        Some(CorsGrant {
            allow_origin: if matched_origin == "*" { "*".into() } else { origin.into() },
            allow_methods: rule.allowed_methods.clone(),
            expose_headers: rule.expose_headers.clone(),
            max_age_seconds: rule.max_age_seconds,
        })
    })
}

impl Engine {
    pub fn get_bucket_cors(&self, caller: &Caller, bucket: &str) -> Result<Vec<CorsRule>> {
        self.owned_bucket(caller, bucket)?.cors.ok_or(EngineError::NoSuchCorsConfiguration)
    }

    /// Sets (`Some`) or removes (`None`) the bucket's CORS rules.
    pub async fn set_bucket_cors(&self, caller: &Caller, bucket: &str, rules: Option<Vec<CorsRule>>) -> Result<()> {
        if let Some(r) = &rules {
            validate(r)?;
        }
        self.owned_bucket(caller, bucket)?;
        let _writers = self.bucket_lock(bucket).write().await;
        let mut rec = self.meta.bucket(bucket)?.ok_or(EngineError::NoSuchBucket)?;
        rec.cors = rules;
        let mut batch = MetaBatch::new();
        batch.put_bucket(bucket, &rec);
        self.commit(batch).await
    }

    /// The bucket's CORS rules for a cross-origin request, whoever sends it (a preflight is never
    /// signed): `Ok(None)` when the bucket has none.
    pub fn cors_rules(&self, bucket: &str) -> Result<Option<Vec<CorsRule>>> {
        Ok(self.meta.bucket(bucket)?.ok_or(EngineError::NoSuchBucket)?.cors)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        CorsRule {
            allowed_origins: v(origins),
            allowed_methods: v(methods),
            allowed_headers: v(headers),
            ..Default::default()
        }
    }

    #[test]
    fn the_first_rule_fitting_origin_method_and_headers_grants() {
        let rules = vec![
            rule(&["https://*.example.com"], &["PUT"], &["content-*", "x-amz-*"]),
            rule(&["*"], &["GET", "HEAD"], &[]),
        ];
        let put = find_grant(&rules, "https://app.example.com", "PUT", &["Content-Type", "x-amz-date"]).unwrap();
        assert_eq!(put.allow_origin, "https://app.example.com");
        assert_eq!(put.allow_methods, ["PUT"]);
        assert!(find_grant(&rules, "https://app.example.com", "PUT", &["authorization"]).is_none());
        assert!(find_grant(&rules, "https://example.org", "PUT", &[]).is_none());
        assert!(find_grant(&rules, "http://app.example.com", "PUT", &[]).is_none());
        let get = find_grant(&rules, "https://anything.test", "GET", &[]).unwrap();
        assert_eq!(get.allow_origin, "*");
        assert!(find_grant(&rules, "https://anything.test", "GET", &["x-custom"]).is_none());
        assert!(find_grant(&rules, "https://anything.test", "DELETE", &[]).is_none());
    }

    #[test]
    fn wildcards_match_one_span() {
        assert!(wildcard_match("https://*.example.com", "https://a.b.example.com", false));
        assert!(!wildcard_match("https://*.example.com", "https://example.com", false));
        assert!(wildcard_match("*", "", false));
        assert!(wildcard_match("X-Amz-*", "x-amz-meta-a", true));
        assert!(!wildcard_match("ab*ba", "aba", false));
    }

    #[tokio::test]
    async fn configurations_are_validated_and_the_owners() {
        let e = engine();
        let bob = Caller { user: "bob".into() };
        e.create_bucket(&alice(), "web", None).await.unwrap();
        assert!(matches!(e.get_bucket_cors(&alice(), "web"), Err(EngineError::NoSuchCorsConfiguration)));
        assert!(e.cors_rules("web").unwrap().is_none());
        let owner = alice();
        let bad = |r: CorsRule| e.set_bucket_cors(&owner, "web", Some(vec![r]));
        assert!(matches!(bad(rule(&["*"], &["PATCH"], &[])).await, Err(EngineError::InvalidRequest(_))));
        assert!(matches!(bad(rule(&["*.*"], &["GET"], &[])).await, Err(EngineError::InvalidRequest(_))));
        assert!(matches!(bad(rule(&["*"], &["GET"], &["a*b*"])).await, Err(EngineError::InvalidRequest(_))));
        assert!(matches!(bad(rule(&[], &["GET"], &[])).await, Err(EngineError::MalformedXml)));
        let rules = vec![rule(&["*"], &["GET"], &[])];
        e.set_bucket_cors(&alice(), "web", Some(rules.clone())).await.unwrap();
        assert_eq!(e.get_bucket_cors(&alice(), "web").unwrap(), rules);
        assert!(matches!(e.get_bucket_cors(&bob, "web"), Err(EngineError::AccessDenied)));
        assert_eq!(e.cors_rules("web").unwrap(), Some(rules));
        e.set_bucket_cors(&alice(), "web", None).await.unwrap();
        assert!(e.cors_rules("web").unwrap().is_none());
        assert!(matches!(e.cors_rules("nope"), Err(EngineError::NoSuchBucket)));
    }
}
