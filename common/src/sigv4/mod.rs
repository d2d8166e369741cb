//! AWS Signature Version 4 for the JSON and Query APIs (DynamoDB, EC2, EBS direct, KMS): the
//! `Authorization` header form and the presigned query-string form. S3's own variants (aws-chunked,
//! trailers, POST policy) come from the `s3s` crate in `s3d`, wired to the same `CredentialStore`.
//!
//! Non-S3 services sign the URI-encoded form of the path that is already percent-encoded on the wire
//! (botocore "double-encodes"); this module does the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::credentials::{CredentialStore, User};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// How far a request's clock may be from ours (AWS: 15 minutes).
pub const MAX_SKEW: time::Duration = time::Duration::minutes(15);
/// Longest presigned URL lifetime AWS accepts: one week.
pub const MAX_PRESIGN_EXPIRES: i64 = 604_800;

const AMZ_DATE: &[BorrowedFormatItem<'static>] = format_description!("[year][month][day]T[hour][minute][second]Z");
const SCOPE_DATE: &[BorrowedFormatItem<'static>] = format_description!("[year][month][day]");

type HmacSha256 = Hmac<Sha256>;

/// Why a request is not authenticated. Each daemon maps these to its service's wire error via
/// [`AuthError::wire`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("request is missing authentication")]
    Missing,
    #[error("incomplete signature: {0}")]
    Incomplete(String),
    #[error("unknown access key")]
    UnknownAccessKey,
    #[error("signature does not match")]
    SignatureMismatch,
    #[error("request time {request} is too far from server time {server}")]
    TimeTooSkewed { request: String, server: String },
    #[error("presigned request has expired")]
    Expired,
    #[error("invalid X-Amz-Expires: {0}")]
    InvalidExpires(String),
    #[error("payload hash does not match x-amz-content-sha256")]
    PayloadHashMismatch,
    #[error("credential scope is for service {got}, expected {expected}")]
    WrongService { got: String, expected: String },
}

/// The two families of wire error shapes among our non-S3 APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFamily {
    /// JSON protocols (DynamoDB, KMS, EBS direct APIs): `__type` / `x-amzn-ErrorType` codes.
    Json,
    /// The EC2 Query protocol: `<Response><Errors><Error><Code>`.
    Ec2Query,
}

/// An error as a service reports it: HTTP status, error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl AuthError {
    /// The error code, status and message the real service returns for this failure.
    pub fn wire(&self, family: WireFamily) -> WireError {
        use AuthError::*;
        use WireFamily::*;
        let mismatch = "The request signature we calculated does not match the signature you provided. \
                        Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
        let (status, code, message) = match (self, family) {
            (Missing, Json) => {
                (400, "MissingAuthenticationTokenException", "Request is missing Authentication Token".into())
            }
            (Missing, Ec2Query) => {
                (401, "AuthFailure", "AWS was not able to validate the provided access credentials".into())
            }
            (Incomplete(m), Json) => (400, "IncompleteSignatureException", m.clone()),
            (Incomplete(m), Ec2Query) => (400, "IncompleteSignature", m.clone()),
            (UnknownAccessKey, Json) => {
                (400, "UnrecognizedClientException", "The security token included in the request is invalid.".into())
            }
            (UnknownAccessKey, Ec2Query) => {
                (401, "AuthFailure", "AWS was not able to validate the provided access credentials".into())
            }
            (SignatureMismatch, Json) => (400, "InvalidSignatureException", mismatch.into()),
            (SignatureMismatch, Ec2Query) => (403, "SignatureDoesNotMatch", mismatch.into()),
            (TimeTooSkewed { request, server }, Json) => (
                400,
                "InvalidSignatureException",
                format!("Signature expired: {request} is now earlier than {server} - 15 min."),
            ),
            (TimeTooSkewed { .. }, Ec2Query) => (400, "RequestExpired", "Request has expired.".into()),
            (Expired, Json) => (403, "AccessDeniedException", "Request has expired".into()),
            (Expired, Ec2Query) => (400, "RequestExpired", "Request has expired.".into()),
            (InvalidExpires(m), Json) => (400, "IncompleteSignatureException", m.clone()),
            (InvalidExpires(m), Ec2Query) => (400, "InvalidParameterValue", m.clone()),
            (PayloadHashMismatch, Json) => (
                400,
                "InvalidSignatureException",
                "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
            ),
            (PayloadHashMismatch, Ec2Query) => (
                400,
                "SignatureDoesNotMatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
            ),
            (WrongService { expected, .. }, Json) => (
                400,
                "InvalidSignatureException",
                format!("Credential should be scoped to correct service: '{expected}'. "),
            ),
            (WrongService { expected, .. }, Ec2Query) => (
                403,
                "SignatureDoesNotMatch",
                format!("Credential should be scoped to correct service: '{expected}'. "),
            ),
        };
        WireError { status, code, message }
    }
}

/// Who signed a request, and for which scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    pub user: String,
    pub access_key: String,
    pub region: String,
    pub service: String,
}

/// Verifies SigV4 signatures against a credential store for a fixed set of service names.
pub struct Verifier {
    store: Arc<CredentialStore>,
    services: Vec<&'static str>,
    key_cache: Mutex<HashMap<KeyScope, [u8; 32]>>,
}

const KEY_CACHE_LIMIT: usize = 1024;

/// (access key, date, region, service): what a derived signing key depends on.
type KeyScope = (String, String, String, String);

/// The parts of a signature, from either the header or the query string.
struct Parsed {
    access_key: String,
    scope_date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: Vec<u8>,
    amz_date: String,
    presign_expires: Option<i64>,
}

impl Verifier {
    pub fn new(store: Arc<CredentialStore>, services: &[&'static str]) -> Self {
        Self { store, services: services.to_vec(), key_cache: Mutex::new(HashMap::new()) }
    }

    /// Checks `parts` + `body` at time `now`; on success says who signed and for which region/service.
    pub fn verify(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<AuthContext, AuthError> {
        let query = parts.uri.query().unwrap_or("");
        let parsed = match parts.headers.get(http::header::AUTHORIZATION) {
            Some(h) => parse_authorization(
                h.to_str().map_err(|_| AuthError::Incomplete("Authorization header is not ASCII".into()))?,
                &parts.headers,
            )?,
            None if query_param(query, "X-Amz-Algorithm").is_some() => parse_presigned(query)?,
            None => return Err(AuthError::Missing),
        };
        if !self.services.contains(&parsed.service.as_str()) {
            return Err(AuthError::WrongService { got: parsed.service, expected: self.services[0].into() });
        }
        let request_time = time::PrimitiveDateTime::parse(&parsed.amz_date, AMZ_DATE)
            .map_err(|_| {
                AuthError::Incomplete(format!("Date must be in ISO-8601 'basic format'. Got '{}'.", parsed.amz_date))
            })?
            .assume_utc();
        if request_time.format(SCOPE_DATE).expect("format") != parsed.scope_date {
            return Err(AuthError::SignatureMismatch);
        }
        let skewed = || AuthError::TimeTooSkewed {
            request: parsed.amz_date.clone(),
            server: now.format(AMZ_DATE).unwrap_or_default(),
        };
        match parsed.presign_expires {
            None if (now - request_time).abs() > MAX_SKEW => return Err(skewed()),
            Some(_) if request_time - now > MAX_SKEW => return Err(skewed()),
            Some(expires) if now > request_time + time::Duration::seconds(expires) => return Err(AuthError::Expired),
            _ => {}
        }
        let user = self.store.by_access_key(&parsed.access_key).ok_or(AuthError::UnknownAccessKey)?;
        let scope = format!("{}/{}/{}/aws4_request", parsed.scope_date, parsed.region, parsed.service);
        let key = self.signing_key(user, &parsed.scope_date, &parsed.region, &parsed.service);
        let presigned = parsed.presign_expires.is_some();
        let matches = payload_hashes(parts, query, body, presigned)?.into_iter().any(|payload_hash| {
            let path = canonical_uri(parts.uri.path());
            let canonical = canonical_request(parts, &path, &parsed.signed_headers, &payload_hash, presigned);
            let mut mac = HmacSha256::new_from_slice(&key).expect("any key length");
            mac.update(string_to_sign(&parsed.amz_date, &scope, &canonical).as_bytes());
            mac.verify_slice(&parsed.signature).is_ok()
        });
        if !matches {
            return Err(AuthError::SignatureMismatch);
        }
        Ok(AuthContext {
            user: user.name.clone(),
            access_key: user.access_key.clone(),
            region: parsed.region,
            service: parsed.service,
        })
    }

    fn signing_key(&self, user: &User, date: &str, region: &str, service: &str) -> [u8; 32] {
        let cache_key = (user.access_key.clone(), date.to_string(), region.to_string(), service.to_string());
        let mut cache = self.key_cache.lock().expect("key cache lock");
        if let Some(key) = cache.get(&cache_key) {
            return *key;
        }
        let key = derive_signing_key(user.secret_key.expose(), date, region, service);
        if cache.len() >= KEY_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(cache_key, key);
        key
    }
}

fn parse_authorization(value: &str, headers: &http::HeaderMap) -> Result<Parsed, AuthError> {
    let rest = value.strip_prefix(ALGORITHM).ok_or_else(|| {
        AuthError::Incomplete(format!("Unsupported authorization type: {}", value.split(' ').next().unwrap_or("")))
    })?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let missing = |what: &str| {
        AuthError::Incomplete(format!("Authorization header requires '{what}' parameter. Authorization={value}"))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| headers.get(http::header::DATE).and_then(|v| v.to_str().ok()).and_then(http_date_to_amz))
        .ok_or_else(|| {
            AuthError::Incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into(),
            )
        })?;
    build_parsed(credential, signed, signature, amz_date, None)
}

fn parse_presigned(query: &str) -> Result<Parsed, AuthError> {
    let get = |name: &str| {
        query_param(query, name)
            .ok_or_else(|| AuthError::Incomplete(format!("Query-string authentication requires the {name} parameter.")))
    };
    let algorithm = get("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(AuthError::Incomplete(format!("Unsupported algorithm {algorithm}")));
    }
    let expires_text = get("X-Amz-Expires")?;
    let expires: i64 = expires_text
        .parse()
        .map_err(|_| AuthError::InvalidExpires(format!("X-Amz-Expires should be a number: {expires_text}")))?;
    if !(1..=MAX_PRESIGN_EXPIRES).contains(&expires) {
        return Err(AuthError::InvalidExpires(
            "X-Amz-Expires must be less than a week (in seconds) that is; 604800".into(),
        ));
    }
    build_parsed(
        &get("X-Amz-Credential")?,
        &get("X-Amz-SignedHeaders")?,
        &get("X-Amz-Signature")?,
        get("X-Amz-Date")?,
        Some(expires),
    )
}

fn build_parsed(
    credential: &str,
    signed: &str,
    signature: &str,
    amz_date: String,
    presign_expires: Option<i64>,
) -> Result<Parsed, AuthError> {
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" {
        return Err(AuthError::Incomplete(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            scope.get(2).unwrap_or(&"")
        )));
    }
    let signature = hex::decode(signature).map_err(|_| AuthError::SignatureMismatch)?;
    Ok(Parsed {
        access_key: scope[0].into(),
        scope_date: scope[1].into(),
        region: scope[2].into(),
        service: scope[3].into(),
        signed_headers: signed.split(';').map(|h| h.trim().to_ascii_lowercase()).collect(),
        signature,
        amz_date,
        presign_expires,
    })
}

fn http_date_to_amz(value: &str) -> Option<String> {
    let t = OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    t.format(AMZ_DATE).ok()
}

/// The payload hashes a signer may have put in the canonical request. A declared
/// `x-amz-content-sha256` must match the body. Presigned URLs for non-S3 services are signed over the
/// body's hash by botocore and over `UNSIGNED-PAYLOAD` by some other SDKs' presigners: both are valid.
fn payload_hashes(
    parts: &http::request::Parts,
    query: &str,
    body: &[u8],
    presigned: bool,
) -> Result<Vec<String>, AuthError> {
    let declared = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| if presigned { query_param(query, "X-Amz-Content-Sha256") } else { None });
    match declared {
        Some(d) if d == UNSIGNED_PAYLOAD => Ok(vec![d]),
        Some(d) if d.eq_ignore_ascii_case(&hex_sha256(body)) => Ok(vec![d]),
        Some(_) => Err(AuthError::PayloadHashMismatch),
        None if presigned => Ok(vec![hex_sha256(body), UNSIGNED_PAYLOAD.into()]),
        None => Ok(vec![hex_sha256(body)]),
    }
}

pub fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    key
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex_sha256(canonical_request.as_bytes()))
}

/// The canonical request of SigV4 for a non-S3 service.
fn canonical_request(
    parts: &http::request::Parts,
    path: &str,
    signed_headers: &[String],
    payload_hash: &str,
    presigned: bool,
) -> String {
    let query = canonical_query(parts.uri.query().unwrap_or(""), presigned);
    let mut headers = String::new();
    for name in signed_headers {
        let value = if name == "host" && parts.headers.get("host").is_none() {
            parts.uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default()
        } else {
            parts
                .headers
                .get_all(name.as_str())
                .iter()
                .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
                .collect::<Vec<_>>()
                .join(",")
        };
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&value);
        headers.push('\n');
    }
    format!("{}\n{path}\n{query}\n{headers}\n{}\n{payload_hash}", parts.method.as_str(), signed_headers.join(";"))
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Non-S3 services: remove dot segments, then URI-encode the (already encoded) path once more.
pub fn canonical_uri(raw_path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in raw_path.split('/') {
        match seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut path = out.join("/");
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    if (raw_path.ends_with("/.") || raw_path.ends_with("/..")) && !path.ends_with('/') {
        path.push('/');
    }
    uri_encode(&path, false)
}

/// Query pairs decoded, re-encoded strictly, sorted; presigned requests leave out the signature itself.
fn canonical_query(raw: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(&k, true), uri_encode(&v, true)))
        .collect();
    pairs.sort();
    pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// AWS's UriEncode: every byte but the unreserved ones (and `/` unless `encode_slash`) as `%XX`.
pub fn uri_encode(input: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Signs a request the way an AWS SDK does, adding `x-amz-date` and `Authorization` (for our own
/// clients: snapshot uploads to an S3 endpoint, the load generators, tests). Signs `host`, `content-type`
/// and every `x-amz-*` header; the payload hash is a declared `x-amz-content-sha256` or the body's.
pub fn sign_request(
    parts: &mut http::request::Parts,
    body: &[u8],
    access_key: &str,
    secret: &str,
    region: &str,
    service: &str,
    now: OffsetDateTime,
) {
    let amz_date = now.format(AMZ_DATE).expect("format");
    let date = now.format(SCOPE_DATE).expect("format");
    parts.headers.insert("x-amz-date", amz_date.parse().expect("ascii"));
    if parts.headers.get("host").is_none()
        && let Some(authority) = parts.uri.authority()
    {
        parts.headers.insert("host", authority.as_str().parse().expect("ascii"));
    }
    let mut signed: Vec<String> = parts
        .headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k == "host" || k.starts_with("x-amz-") || k == "content-type")
        .collect();
    signed.sort();
    signed.dedup();
    // A declared payload hash (e.g. UNSIGNED-PAYLOAD, as load generators and S3 SDKs send) is what is signed.
    let payload_hash = match parts.headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()) {
        Some(declared) => declared.to_string(),
        None => hex_sha256(body),
    };
    // S3 signs the path exactly as sent (encoded once, not normalised); every other service encodes it again.
    let path = if service == "s3" { parts.uri.path().to_string() } else { canonical_uri(parts.uri.path()) };
    let canonical = canonical_request(parts, &path, &signed, &payload_hash, false);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let signature = hex::encode(hmac(
        &derive_signing_key(secret, &date, region, service),
        string_to_sign(&amz_date, &scope, &canonical).as_bytes(),
    ));
    let auth = format!(
        "{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={}, Signature={signature}",
        signed.join(";")
    );
    parts.headers.insert(http::header::AUTHORIZATION, auth.parse().expect("ascii"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encoding_matches_aws() {
        assert_eq!(uri_encode("a b/c~d", false), "a%20b/c~d");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
        assert_eq!(canonical_uri("/a/./b/../c%3A"), "/a/c%253A");
        assert_eq!(canonical_uri(""), "/");
    }

    #[test]
    fn canonical_query_sorts_and_re_encodes() {
        assert_eq!(canonical_query("b=2&a=x%20y&a=1", false), "a=1&a=x%20y&b=2");
        assert_eq!(canonical_query("X-Amz-Signature=ff&b=1", true), "b=1");
    }

    /// AWS's published example of the signing key derivation (SigV4 docs, "Examples of how to derive a
    /// signing key").
    #[test]
    fn signing_key_matches_published_example() {
        let key = derive_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
        assert_eq!(hex::encode(key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }
}

#[cfg(test)]
mod botocore_tests;
