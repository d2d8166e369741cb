//! CORS on the wire: Put/Get/DeleteBucketCors, the browser's preflight (`OPTIONS`, never signed,
//! answered here before s3s, which has no such operation), and the `Access-Control-*` headers on
//! the answers to cross-origin requests a bucket's rules allow.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use s3s::dto::*;
use s3s::host::S3Host;
use s3s::{S3Request, S3Response, S3Result};

use super::errors::to_s3;
use super::service::S3Api;
use crate::engine::cors::{CorsGrant, CorsRule, find_grant};
use crate::engine::{Engine, EngineError};

pub async fn get_bucket_cors(
    api: &S3Api,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let caller = api.caller(&req)?;
    let rules = api.engine.get_bucket_cors(&caller, &req.input.bucket).map_err(to_s3)?;
    let cors_rules = rules
        .into_iter()
        .map(|r| CORSRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: (!r.allowed_headers.is_empty()).then_some(r.allowed_headers),
            expose_headers: (!r.expose_headers.is_empty()).then_some(r.expose_headers),
            max_age_seconds: r.max_age_seconds,
        })
        .collect();
    Ok(S3Response::new(GetBucketCorsOutput { cors_rules: Some(cors_rules) }))
}

pub async fn put_bucket_cors(
    api: &S3Api,
    req: S3Request<PutBucketCorsInput>,
) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let rules = input
        .cors_configuration
        .cors_rules
        .into_iter()
        .map(|r| CorsRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: r.allowed_headers.unwrap_or_default(),
            expose_headers: r.expose_headers.unwrap_or_default(),
            max_age_seconds: r.max_age_seconds,
        })
        .collect();
    api.engine.set_bucket_cors(&caller, &input.bucket, Some(rules)).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketCorsOutput::default()))
}

pub async fn delete_bucket_cors(
    api: &S3Api,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    let caller = api.caller(&req)?;
    api.engine.set_bucket_cors(&caller, &req.input.bucket, None).await.map_err(to_s3)?;
    let mut resp = S3Response::new(DeleteBucketCorsOutput::default());
    resp.extensions.insert(super::StatusOverride(StatusCode::NO_CONTENT));
    Ok(resp)
}

/// What the CORS layer needs: the rules' store and the host names that carry a bucket.
pub struct CorsState {
    pub engine: Arc<Engine>,
    pub hosts: super::auth::Hosts,
}

const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
const NOT_ENABLED: &str = "CORSResponse: CORS is not enabled for this bucket.";
const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

/// The bucket a request addresses: in the host (virtual-hosted style) or first in the path.
fn bucket_of(hosts: &super::auth::Hosts, req: &Request) -> Option<String> {
    let host = req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).or(req.uri().host());
    if let Some(bucket) = host.and_then(|h| hosts.parse_host_header(h).ok()).and_then(|v| v.bucket().map(String::from))
    {
        return Some(bucket);
    }
    let first = req.uri().path().trim_start_matches('/').split('/').next()?;
    let bucket = percent_encoding::percent_decode_str(first).decode_utf8().ok()?;
    (!bucket.is_empty()).then(|| bucket.into_owned())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn add_grant(headers: &mut HeaderMap, grant: &CorsGrant) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("access-control-allow-origin", &grant.allow_origin);
    set("access-control-allow-methods", &grant.allow_methods.join(", "));
    if !grant.expose_headers.is_empty() {
        set("access-control-expose-headers", &grant.expose_headers.join(", "));
    }
    if let Some(age) = grant.max_age_seconds {
        set("access-control-max-age", &age.to_string());
    }
    if grant.allow_origin != "*" {
        set("access-control-allow-credentials", "true");
    }
}

/// Answers preflights, and adds the granted headers to the answer of a cross-origin request.
pub async fn layer(State(state): State<Arc<CorsState>>, req: Request, next: Next) -> Response {
    let origin = header(req.headers(), "origin").map(String::from);
    let bucket = bucket_of(&state.hosts, &req);
    if req.method() == Method::OPTIONS
        && let Some(bucket) = &bucket
    {
        return match &origin {
            Some(origin) => preflight(&state.engine, bucket, origin, req.headers()),
            None => super::error_response(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Insufficient information. Origin request header needed.",
            ),
        };
    }
    let (Some(origin), Some(bucket)) = (origin, bucket) else { return next.run(req).await };
    let method = req.method().as_str().to_string();
    let mut response = next.run(req).await;
    if let Ok(Some(rules)) = state.engine.cors_rules(&bucket) {
        let headers = response.headers_mut();
        headers.insert(http::header::VARY, HeaderValue::from_static(VARY));
        if let Some(grant) = find_grant(&rules, &origin, &method, &[]) {
            add_grant(headers, &grant);
        }
    }
    response
}

fn preflight(engine: &Engine, bucket: &str, origin: &str, headers: &HeaderMap) -> Response {
    let forbidden = |msg| super::error_response(StatusCode::FORBIDDEN, "AccessForbidden", msg);
    let method = header(headers, "access-control-request-method").unwrap_or("");
    if !["GET", "PUT", "POST", "DELETE", "HEAD"].contains(&method) {
        let msg = format!("Invalid Access-Control-Request-Method: {method}");
        return super::error_response(StatusCode::BAD_REQUEST, "BadRequest", &msg);
    }
    let requested = header(headers, "access-control-request-headers").unwrap_or("");
    let names: Vec<&str> = requested.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
    let rules = match engine.cors_rules(bucket) {
        Ok(Some(rules)) => rules,
        Ok(None) => return forbidden(NOT_ENABLED),
        Err(EngineError::NoSuchBucket) => {
            return super::error_response(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist");
        }
        Err(e) => {
            tracing::error!(error = %e, "reading CORS rules");
            return super::error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            );
        }
    };
    let Some(grant) = find_grant(&rules, origin, method, &names) else { return forbidden(NOT_ALLOWED) };
    let mut response = Response::new(Body::empty());
    let out = response.headers_mut();
    add_grant(out, &grant);
    if !requested.is_empty()
        && let Ok(v) = HeaderValue::from_str(requested)
    {
        out.insert("access-control-allow-headers", v);
    }
    out.insert(http::header::VARY, HeaderValue::from_static(VARY));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_comes_from_the_host_or_the_path() {
        let hosts = super::super::auth::Hosts::new(None);
        let req = |host: &str, path: &str| {
            http::Request::builder().uri(path).header("host", host).body(Body::empty()).unwrap()
        };
        assert_eq!(bucket_of(&hosts, &req("photos.localhost:9000", "/a/b.png")), Some("photos".into()));
        assert_eq!(bucket_of(&hosts, &req("127.0.0.1:9000", "/photos/a/b.png")), Some("photos".into()));
        assert_eq!(bucket_of(&hosts, &req("localhost:9000", "/photos")), Some("photos".into()));
        assert_eq!(bucket_of(&hosts, &req("localhost:9000", "/")), None);
    }
}
