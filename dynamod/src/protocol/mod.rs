//! DynamoDB JSON 1.0 wire layer: one POST endpoint, the operation in `X-Amz-Target`, SigV4, bounded
//! bodies, and engine calls on the blocking pool (they wait for durable writes).

mod backups;
mod control;
mod data;
pub mod errors;
pub mod export_sink;
pub mod json;
mod partiql;
mod streams;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use common::clock::FakeClock;
use common::sigv4::Verifier;
use serde_json::Value;

use crate::engine::Engine;
use errors::ApiError;
use json::Fields;

/// DynamoDB's largest request (BatchWriteItem / BatchGetItem payloads), plus room for the JSON framing.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024 + 64 * 1024;
/// How long a request's body may take to arrive: a client that sends headers and then stalls would
/// otherwise hold its connection slot for ever.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
const TARGET_PREFIX: &str = "DynamoDB_20120810.";
/// The DynamoDB Streams API, served on the same endpoint (boto3 signs it for service `dynamodb`).
const STREAMS_TARGET_PREFIX: &str = "DynamoDBStreams_20120810.";

#[derive(Clone)]
pub struct App {
    pub engine: Arc<Engine>,
    pub verifier: Arc<Verifier>,
    /// Set only when the daemon runs with `--fake-clock` (tests move time forward over HTTP).
    pub fake_clock: Option<Arc<FakeClock>>,
    /// Every operation's latency histogram, registered once: a registry lookup per request (with a
    /// freshly allocated label) cost ~1 % of a GetItem.
    latency: Arc<HashMap<&'static str, metrics::Histogram>>,
}

impl App {
    pub fn new(engine: Arc<Engine>, verifier: Arc<Verifier>, fake_clock: Option<Arc<FakeClock>>) -> Self {
        let operations = [data::OPERATIONS, control::OPERATIONS, partiql::OPERATIONS, backups::OPERATIONS]
            .into_iter()
            .chain([streams::OPERATIONS])
            .flatten();
        let latency = operations
            .map(|&op| (op, metrics::histogram!("dynamodb_successful_request_latency_seconds", "operation" => op)))
            .collect();
        App { engine, verifier, fake_clock, latency: Arc::new(latency) }
    }
}

pub fn router(app: App) -> Router {
    Router::new().fallback(handle).with_state(app)
}

/// What an operation needs besides its JSON: who called, for the region in ARNs, and the Host header.
pub struct Call {
    pub region: String,
    pub host: String,
}

async fn handle(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if parts.uri.path() == "/_stratus/advance-clock"
        && let Some(clock) = &app.fake_clock
    {
        return advance_clock(clock, body).await;
    }
    match serve(&app, parts, body).await {
        Ok(v) => ([("content-type", "application/x-amz-json-1.0")], v.to_string()).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn advance_clock(clock: &FakeClock, body: Body) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, 64).await else {
        return (axum::http::StatusCode::BAD_REQUEST, "bad body").into_response();
    };
    match std::str::from_utf8(&bytes).ok().and_then(|s| s.trim().parse::<f64>().ok()) {
        Some(secs) if secs >= 0.0 => {
            clock.advance(std::time::Duration::from_secs_f64(secs));
            "ok".into_response()
        }
        _ => (axum::http::StatusCode::BAD_REQUEST, "body must be seconds to advance").into_response(),
    }
}

async fn serve(app: &App, parts: http::request::Parts, body: Body) -> Result<Value, ApiError> {
    let bytes = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_REQUEST_BYTES))
        .await
        .map_err(|_| ApiError::BodyTimeout)?
        .map_err(|_| ApiError::TooLarge)?;
    let auth = app.verifier.verify(&parts, &bytes, time::OffsetDateTime::now_utc())?;
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let (op, is_stream_op) = match (target.strip_prefix(TARGET_PREFIX), target.strip_prefix(STREAMS_TARGET_PREFIX)) {
        (Some(op), _) if !streams::is_operation(op) => (op, false),
        (_, Some(op)) if streams::is_operation(op) => (op, true),
        _ => return Err(ApiError::UnknownOperation),
    };
    // The operation's name as a `'static` str (the histogram map holds every one we serve).
    let Some((&op, latency)) = app.latency.get_key_value(op) else { return Err(ApiError::UnknownOperation) };
    let request: Value = if bytes.is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Serialization(format!("Start of structure or map found where not expected: {e}")))?
    };
    if !request.is_object() {
        return Err(ApiError::Serialization("Start of structure or map expected".into()));
    }
    let host = parts.headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("localhost").to_string();
    let call = Call { region: auth.region, host };
    let engine = app.engine.clone();
    let started = Instant::now();
    let run = move || {
        let fields = Fields(request.as_object().expect("checked above"));
        if is_stream_op {
            streams::dispatch(&engine, op, fields, &call)
        } else if backups::is_operation(op) {
            backups::dispatch(&engine, op, fields, &call)
        } else if partiql::is_operation(op) {
            partiql::dispatch(&engine, op, fields)
        } else if data::is_operation(op) {
            data::dispatch(&engine, op, fields)
        } else {
            control::dispatch(&engine, op, fields, &call)
        }
    };
    // A GetItem is one point lookup (memtable / block cache): cheaper inline than a hop to the blocking
    // pool. Everything else may wait for a synced write or read up to 1 MB, so it runs there.
    let result = if op == "GetItem" {
        run()
    } else {
        tokio::task::spawn_blocking(run).await.map_err(|e| {
            ApiError::Engine(crate::engine::error::EngineError::Internal(format!("operation task failed: {e}")))
        })?
    };
    if result.is_ok() {
        latency.record(started.elapsed().as_secs_f64());
    }
    result
}
