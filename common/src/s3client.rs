//! A small S3 client for the daemons that keep data in an S3 endpoint (ebsd's snapshot store, dynamod's
//! table exports): path-style requests, SigV4 with the payload hash signed, a timeout on every call, and
//! response bodies bounded by the caller. Plain HTTP only (loopback endpoints such as our own s3d).

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::sigv4::{sign_request, uri_encode};

/// Error bodies and listings are small; anything bigger is not an S3 answer.
const MAX_XML_BODY: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum S3ClientError {
    #[error("invalid S3 endpoint '{0}': expected http://host:port")]
    InvalidEndpoint(String),
    #[error("S3 request failed: {0}")]
    Transport(String),
    #[error("S3 request timed out after {0:?}")]
    Timeout(Duration),
    #[error("S3 answered {status} {code}: {message}")]
    Service { status: StatusCode, code: String, message: String },
    #[error("S3 response body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("unreadable S3 response: {0}")]
    Malformed(String),
}

impl S3ClientError {
    /// The S3 error code (`NoSuchKey`, `NoSuchBucket`, …) when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            S3ClientError::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// What a HEAD tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub etag: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// One page of ListObjectsV2.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ListedObject>,
    pub next_continuation_token: Option<String>,
}

#[derive(Clone)]
pub struct S3Client {
    base: String,
    access_key: String,
    secret_key: String,
    region: String,
    timeout: Duration,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client").field("endpoint", &self.base).field("region", &self.region).finish()
    }
}

impl S3Client {
    /// `endpoint` is `http://host:port` (a trailing slash is fine).
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> Result<Self, S3ClientError> {
        let base = endpoint.trim_end_matches('/').to_string();
        let uri: Uri = base.parse().map_err(|_| S3ClientError::InvalidEndpoint(endpoint.to_string()))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() || !matches!(uri.path(), "" | "/") {
            return Err(S3ClientError::InvalidEndpoint(endpoint.to_string()));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Ok(S3Client {
            base,
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            region: region.to_string(),
            timeout: Duration::from_secs(30),
            http,
        })
    }

    /// Per-request deadline (connect, send, and reading the whole response); 30 s unless set.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// Creates the bucket; one we already own counts as success.
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), S3ClientError> {
        match self.send(Method::PUT, bucket, "", "", &[], Bytes::new(), 0).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Stores `body` under `key`; returns the ETag (quotes removed).
    pub async fn put_object(&self, bucket: &str, key: &str, body: Bytes) -> Result<String, S3ClientError> {
        let response = self.send(Method::PUT, bucket, key, "", &[], body, 0).await?;
        Ok(etag_of(&response.headers))
    }

    /// The object's bytes (or `range` = inclusive `(first, last)` of them); `None` if there is no such key.
    /// Bodies larger than `max_len` fail rather than grow memory without bound.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
        max_len: usize,
    ) -> Result<Option<Bytes>, S3ClientError> {
        let range_header = range.map(|(first, last)| format!("bytes={first}-{last}"));
        let headers: Vec<(&str, &str)> = range_header.iter().map(|r| ("range", r.as_str())).collect();
        match self.send(Method::GET, bucket, key, "", &headers, Bytes::new(), max_len).await {
            Ok(response) => Ok(Some(response.body)),
            Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectHead>, S3ClientError> {
        match self.send(Method::HEAD, bucket, key, "", &[], Bytes::new(), 0).await {
            Ok(response) => {
                let size = response
                    .headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| S3ClientError::Malformed("HEAD without Content-Length".into()))?;
                Ok(Some(ObjectHead { size, etag: etag_of(&response.headers) }))
            }
            Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deleting a key that does not exist succeeds, as in S3.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), S3ClientError> {
        self.send(Method::DELETE, bucket, key, "", &[], Bytes::new(), 0).await.map(|_| ())
    }

    pub async fn list_objects_v2(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
        max_keys: u32,
    ) -> Result<ListPage, S3ClientError> {
        let mut query = format!("list-type=2&max-keys={max_keys}&prefix={}", uri_encode(prefix, true));
        if let Some(token) = continuation {
            query.push_str(&format!("&continuation-token={}", uri_encode(token, true)));
        }
        let response = self.send(Method::GET, bucket, "", &query, &[], Bytes::new(), MAX_XML_BODY).await?;
        let text = std::str::from_utf8(&response.body).map_err(|e| S3ClientError::Malformed(e.to_string()))?;
        let parsed: ListBucketResult =
            quick_xml::de::from_str(text).map_err(|e| S3ClientError::Malformed(e.to_string()))?;
        Ok(ListPage {
            objects: parsed
                .contents
                .into_iter()
                .map(|c| ListedObject { key: c.key, size: c.size, etag: c.etag.trim_matches('"').to_string() })
                .collect(),
            next_continuation_token: parsed.next_continuation_token.filter(|_| parsed.is_truncated),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        max_body: usize,
    ) -> Result<Response, S3ClientError> {
        let mut uri = format!("{}/{}", self.base, uri_encode(bucket, true));
        if !key.is_empty() {
            uri.push('/');
            uri.push_str(&uri_encode(key, false));
        }
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(query);
        }
        let mut builder = Request::builder().method(method.clone()).uri(&uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let payload_hash = hex::encode(Sha256::digest(&body));
        builder = builder.header("x-amz-content-sha256", payload_hash);
        let request = builder.body(()).map_err(|e| S3ClientError::InvalidEndpoint(format!("{uri}: {e}")))?;
        let (mut parts, ()) = request.into_parts();
        sign_request(
            &mut parts,
            &body,
            &self.access_key,
            &self.secret_key,
            &self.region,
            "s3",
            OffsetDateTime::now_utc(),
        );
        let request = Request::from_parts(parts, Full::new(body));
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| S3ClientError::Transport(e.to_string()))?;
            let status = response.status();
            let headers = response.headers().clone();
            let limit = if status.is_success() { max_body } else { MAX_XML_BODY };
            let body = Limited::new(response.into_body(), limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        S3ClientError::BodyTooLarge(limit)
                    } else {
                        S3ClientError::Transport(e.to_string())
                    }
                })?
                .to_bytes();
            Ok::<_, S3ClientError>(Response { status, headers, body })
        };
        let response =
            tokio::time::timeout(self.timeout, exchange).await.map_err(|_| S3ClientError::Timeout(self.timeout))??;
        if response.status.is_success() {
            return Ok(response);
        }
        Err(service_error(&method, &response))
    }
}

struct Response {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

fn etag_of(headers: &http::HeaderMap) -> String {
    headers.get(header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or_default().trim_matches('"').to_string()
}

/// HEAD answers carry no body, so their error code comes from the status alone.
fn service_error(method: &Method, response: &Response) -> S3ClientError {
    let status = response.status;
    let parsed = std::str::from_utf8(&response.body).ok().and_then(|t| quick_xml::de::from_str::<ErrorBody>(t).ok());
    let (code, message) = match parsed {
        Some(e) => (e.code, e.message.unwrap_or_default()),
        None if *method == Method::HEAD && status == StatusCode::NOT_FOUND => ("NoSuchKey".to_string(), String::new()),
        None => (status.canonical_reason().unwrap_or("Error").replace(' ', ""), String::new()),
    };
    S3ClientError::Service { status, code, message }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    code: String,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
    #[serde(default)]
    contents: Vec<ListContents>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListContents {
    key: String,
    size: u64,
    #[serde(rename = "ETag", default)]
    etag: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_must_be_plain_http_host_port() {
        assert!(S3Client::new("http://127.0.0.1:9000/", "a", "b", "us-east-1").is_ok());
        assert!(S3Client::new("https://127.0.0.1:9000", "a", "b", "us-east-1").is_err());
        assert!(S3Client::new("http://127.0.0.1:9000/bucket", "a", "b", "us-east-1").is_err());
        assert!(S3Client::new("not a uri", "a", "b", "us-east-1").is_err());
    }

    #[test]
    fn listing_xml_parses() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>p/a</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"abc"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>p/b</Key><ETag>"def"</ETag><Size>4</Size></Contents><NextContinuationToken>tok</NextContinuationToken></ListBucketResult>"#;
        let parsed: ListBucketResult = quick_xml::de::from_str(xml).unwrap();
        assert!(parsed.is_truncated);
        assert_eq!(parsed.contents.len(), 2);
        assert_eq!(parsed.contents[1].key, "p/b");
        assert_eq!(parsed.contents[1].size, 4);
        assert_eq!(parsed.next_continuation_token.as_deref(), Some("tok"));
        let empty: ListBucketResult =
            quick_xml::de::from_str("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>").unwrap();
        assert!(empty.contents.is_empty());
    }

    #[test]
    fn error_xml_parses() {
        let xml = "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        let parsed: ErrorBody = quick_xml::de::from_str(xml).unwrap();
        assert_eq!(parsed.code, "NoSuchBucket");
    }
}
