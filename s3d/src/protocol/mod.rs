//! S3 REST wire layer: s3s does routing, DTOs, XML and SigV4 (header, presigned, aws-chunked, POST
//! policy); this module plugs our engine, credentials and host names into it and adds what s3s leaves
//! to us: a bound on requests in flight, an idle timeout on request bodies, and S3's
//! `<Resource>`/`<RequestId>` in every error body.

mod acl;
mod attributes;
mod auth;
mod body_watch;
mod buckets;
mod convert;
mod cors;
mod errors;
pub mod kms;
mod lifecycle;
mod listing;
mod multipart;
mod objects;
mod post_form;
mod range_header;
mod service;
mod sse;
mod usage;
mod versions;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use common::CredentialStore;
use common::server::RequestId;
use http_body_util::BodyExt;
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::service::S3ServiceBuilder;
use tokio::sync::Semaphore;

use crate::engine::Engine;

/// Requests being handled at once; more wait up to [`QUEUE_WAIT`], then get 503 SlowDown.
pub const MAX_IN_FLIGHT: usize = 512;
pub const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// Largest XML request body (DeleteObjects with 1000 long keys fits).
pub const MAX_XML_BODY: usize = 4 * 1024 * 1024;
/// Error bodies larger than this are passed through untouched.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How the API listener is set up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra base domain for virtual-hosted-style addressing.
    pub domain: Option<String>,
    /// SSE-C keys may be sent on this listener: it is TLS, or `--allow-sse-c-over-http` was given.
    pub sse_c_allowed: bool,
}

pub fn router(engine: Arc<Engine>, credentials: Arc<CredentialStore>, options: Options) -> Router {
    let kms = Arc::new(kms::KmsApi::new(engine.kms(), credentials.clone()));
    let api = service::S3Api::new(engine.clone(), credentials.clone()).with_sse_c_allowed(options.sse_c_allowed);
    let mut builder = S3ServiceBuilder::new(api);
    builder.set_auth(auth::StoreAuth(credentials.clone()));
    builder.set_access(auth::SignedOnly);
    builder.set_host(auth::Hosts::new(options.domain.clone()));
    let cors = Arc::new(cors::CorsState { engine: engine.clone(), hosts: auth::Hosts::new(options.domain) });
    let mut config = S3Config::default();
    config.xml_max_body_size = MAX_XML_BODY;
    builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(config))));
    let s3 = HandleError::new(builder.build(), |e: s3s::HttpError| async move {
        tracing::error!(error = ?e, "s3 service error");
        error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    });
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // `_stratus` is no valid bucket name, so this path never shadows an S3 request.
    Router::new()
        .route(usage::PATH, usage::route(engine, credentials))
        .fallback_service(s3)
        .layer(axum::middleware::from_fn(post_form::peek_filename))
        .layer(axum::middleware::from_fn_with_state(kms, kms::route))
        .layer(axum::middleware::from_fn_with_state(cors, cors::layer))
        .layer(axum::middleware::from_fn_with_state(slots, guard))
}

/// A status an operation answers with where s3s would always send another (RestoreObject's 202).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatusOverride(pub StatusCode);

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(Body::from(body))
        .expect("static response")
}

/// Bounds concurrency and completes error bodies with the request's resource and id.
async fn guard(State(slots): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let resource = req.uri().path().to_string();
    let permit = match tokio::time::timeout(QUEUE_WAIT, slots.acquire_owned()).await {
        Ok(Ok(p)) => p,
        _ => {
            metrics::counter!("s3d_requests_shed_total").increment(1);
            return finish_error(
                error_response(StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "Please reduce your request rate."),
                &resource,
                &request_id,
            )
            .await;
        }
    };
    let watch = body_watch::Watch::default();
    let req = watch.wrap(range_header::normalize(req));
    let mut response = watch.correct(next.run(req).await);
    drop(permit);
    if let Some(order) = response.headers_mut().remove(versions::ORDER_HEADER) {
        return versions::interleave(response, &order).await;
    }
    if let Some(StatusOverride(status)) = response.extensions().get::<StatusOverride>().cloned() {
        *response.status_mut() = status;
    }
    if response.extensions().get::<attributes::UnquotedEtag>().is_some() {
        return attributes::unquote_etag(response).await;
    }
    if response.status().is_client_error()
        || response.status().is_server_error()
        || response.status() == StatusCode::NOT_MODIFIED
    {
        return finish_error(response, &resource, &request_id).await;
    }
    response
}

async fn finish_error(response: Response, resource: &str, request_id: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    if parts.status == StatusCode::NOT_MODIFIED {
        parts.headers.remove(http::header::CONTENT_TYPE);
        parts.headers.remove(http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    let small = axum::body::HttpBody::size_hint(&body).upper().is_some_and(|n| n <= MAX_ERROR_BODY as u64);
    if !small {
        return Response::from_parts(parts, body);
    }
    let Ok(collected) = http_body_util::Limited::new(body, MAX_ERROR_BODY).collect().await else {
        return Response::from_parts(parts, Body::empty());
    };
    let text = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
    let completed = complete_error_xml(&text, resource, request_id);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(completed))
}

/// Adds `<Message>` (S3's text for the code), `<Resource>` and `<RequestId>` when s3s left them out
/// (it answers a malformed bucket name or path with the code alone).
fn complete_error_xml(xml: &str, resource: &str, request_id: &str) -> String {
    let Some(end) = xml.rfind("</Error>") else { return xml.to_string() };
    if !xml.contains("<Message>")
        && let (Some(start), Some(code_end)) = (xml.find("<Code>"), xml.find("</Code>"))
        && start < code_end
    {
        let code = &xml[start + "<Code>".len()..code_end];
        let at = code_end + "</Code>".len();
        let with_message = format!("{}<Message>{}</Message>{}", &xml[..at], default_message(code), &xml[at..]);
        return complete_error_xml(&with_message, resource, request_id);
    }
    let mut extra = String::new();
    if !xml.contains("<Resource>") {
        extra.push_str(&format!("<Resource>{}</Resource>", xml_escape(resource)));
    }
    if !xml.contains("<RequestId>") && !request_id.is_empty() {
        extra.push_str(&format!("<RequestId>{}</RequestId>", xml_escape(request_id)));
    }
    format!("{}{}{}", &xml[..end], extra, &xml[end..])
}

/// The message S3 sends with an error code (AWS's error-code table), for errors s3s raises bare.
fn default_message(code: &str) -> &'static str {
    match code {
        "InvalidBucketName" => "The specified bucket is not valid.",
        "AccessDenied" => "Access Denied",
        "InvalidArgument" => "Invalid Argument",
        "InvalidRequest" => "Invalid Request",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "KeyTooLongError" => "Your key is too long.",
        "MalformedXML" => "The XML you provided was not well-formed or did not validate against our published schema.",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented.",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "InvalidAccessKeyId" => "The AWS access key Id you provided does not exist in our records.",
        "RequestTimeTooSkewed" => "The difference between the request time and the server's time is too large.",
        _ => "The request could not be processed.",
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_bodies_gain_resource_and_request_id() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>m</Message></Error>";
        let out = super::complete_error_xml(xml, "/b/a&b", "ABC");
        assert!(out.ends_with("<Resource>/b/a&amp;b</Resource><RequestId>ABC</RequestId></Error>"), "{out}");
        assert_eq!(super::complete_error_xml("not xml", "/", "x"), "not xml");
    }

    #[test]
    fn a_bare_code_gains_s3s_missing_message() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>InvalidBucketName</Code></Error>";
        let out = super::complete_error_xml(xml, "/Bad_Bucket/k", "ID");
        assert!(
            out.contains(
                "<Code>InvalidBucketName</Code><Message>The specified bucket is not valid.</Message><Resource>"
            ),
            "{out}"
        );
        assert!(out.ends_with("<RequestId>ID</RequestId></Error>"), "{out}");
    }
}
