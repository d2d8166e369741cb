//! `GET /_stratus/storage-usage`: the caller's per-bucket storage report by class, as JSON. Signed
//! like any S3 request (SigV4, service `s3`); each user sees only their own buckets.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use common::CredentialStore;
use common::sigv4::{Verifier, WireFamily};

use crate::engine::{Caller, Engine};

pub const PATH: &str = "/_stratus/storage-usage";

pub fn route(engine: Arc<Engine>, credentials: Arc<CredentialStore>) -> MethodRouter {
    let verifier = Arc::new(Verifier::new(credentials, &["s3"]));
    get(move |req: Request| {
        let (engine, verifier) = (engine.clone(), verifier.clone());
        async move { report(&engine, &verifier, req) }
    })
}

fn report(engine: &Engine, verifier: &Verifier, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let who = match verifier.verify(&parts, b"", time::OffsetDateTime::now_utc()) {
        Ok(who) => who,
        Err(e) => {
            let wire = e.wire(WireFamily::Json);
            let status = StatusCode::from_u16(wire.status).unwrap_or(StatusCode::FORBIDDEN);
            return super::error_response(status, wire.code, &super::xml_escape(&wire.message));
        }
    };
    match engine.storage_usage(&Caller { user: who.user }) {
        Ok(report) => Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec_pretty(&report).expect("report serialises")))
            .expect("static response"),
        Err(e) => {
            tracing::error!(error = %e, "storage usage report failed");
            super::error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error.",
            )
        }
    }
}
