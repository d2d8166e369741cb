//! The EBS direct APIs (REST/JSON, SigV4 for service `ebs`) on the API port, beside the EC2 Query API:
//! `POST /snapshots`, `GET|PUT /snapshots/{id}/blocks[/{index}]`, `GET /snapshots/{id}/changedblocks`,
//! `POST /snapshots/completion/{id}`.

mod errors;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use common::sigv4::Verifier;
use serde::Deserialize;
use serde_json::{Value, json};

pub use errors::EbsError;

use crate::engine::VolumeEngine;
use crate::engine::blocks::BLOCK_SIZE;
use crate::engine::direct::{BlockPage, StartSnapshot};
use crate::engine::snapshot::{ACCOUNT_ID, Snapshot};

/// One API call, run on a blocking thread.
type Call = Box<dyn FnOnce(&VolumeEngine) -> Result<Response, EbsError> + Send>;

/// A PutSnapshotBlock body is one 512 KiB block; StartSnapshot's JSON is small.
const MAX_BODY: usize = BLOCK_SIZE as usize + 64 * 1024;
/// How long block tokens and listings stay valid, as reported in `ExpiryTime`.
const EXPIRY_SECS: i64 = 7 * 24 * 3600;

pub async fn handle(engine: Arc<VolumeEngine>, verifier: Arc<Verifier>, req: Request<Body>) -> Response {
    match serve(engine, &verifier, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn serve(engine: Arc<VolumeEngine>, verifier: &Verifier, req: Request<Body>) -> Result<Response, EbsError> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        EbsError::validation("INVALID_BLOCK", format!("The request body is larger than {MAX_BODY} bytes"))
    })?;
    verifier.verify(&parts, &body, time::OffsetDateTime::now_utc())?;
    let segments: Vec<String> = parts.uri.path().trim_start_matches('/').split('/').map(percent_decode).collect();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let q = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let method = parts.method.clone();
    let headers = parts.headers.clone();
    let body = body.to_vec();
    let page = || -> Result<BlockPage, EbsError> {
        Ok(BlockPage {
            max_results: q("maxResults").map(|v| number(&v, "maxResults")).transpose()?.map(|v| v as usize),
            page_token: q("pageToken"),
            starting_index: q("startingBlockIndex").map(|v| number(&v, "startingBlockIndex")).transpose()?,
        })
    };
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    // Each call reads or writes the metadata store and the snapshot store: off the async workers.
    let blocking = move |f: Call| async move {
        tokio::task::spawn_blocking(move || f(&engine)).await.map_err(|_| EbsError {
            status: 500,
            code: "InternalServerException",
            reason: None,
            message: "An internal error has occurred".into(),
        })?
    };
    match (method, seg.as_slice()) {
        (Method::POST, ["snapshots"]) => {
            let req = start_request(&body)?;
            blocking(Box::new(move |e| {
                let s = e.start_snapshot(&req)?;
                Ok((StatusCode::CREATED, json_body(start_response(&s))).into_response())
            }))
            .await
        }
        (Method::GET, ["snapshots", id, "blocks"]) => {
            let (id, page) = (id.to_string(), page()?);
            blocking(Box::new(move |e| {
                let listing = e.list_snapshot_blocks(&id, &page)?;
                let blocks: Vec<Value> =
                    listing.entries.iter().map(|(i, t)| json!({"BlockIndex": i, "BlockToken": t})).collect();
                Ok(json_body(listing_body("Blocks", blocks, listing.next_token, listing.volume_size_gib))
                    .into_response())
            }))
            .await
        }
        (Method::GET, ["snapshots", id, "changedblocks"]) => {
            let (second, first, page) = (id.to_string(), q("firstSnapshotId"), page()?);
            blocking(Box::new(move |e| {
                let listing = e.list_changed_blocks(first.as_deref(), &second, &page)?;
                let blocks: Vec<Value> = listing
                    .entries
                    .iter()
                    .map(|c| {
                        let mut b = json!({"BlockIndex": c.index});
                        if let Some(t) = &c.first_token {
                            b["FirstBlockToken"] = t.clone().into();
                        }
                        if let Some(t) = &c.second_token {
                            b["SecondBlockToken"] = t.clone().into();
                        }
                        b
                    })
                    .collect();
                Ok(json_body(listing_body("ChangedBlocks", blocks, listing.next_token, listing.volume_size_gib))
                    .into_response())
            }))
            .await
        }
        (Method::GET, ["snapshots", id, "blocks", index]) => {
            let (id, index) = (id.to_string(), number(index, "blockIndex")?);
            let token = q("blockToken").ok_or_else(|| {
                EbsError::validation("INVALID_BLOCK_TOKEN", "The request must contain the parameter blockToken")
            })?;
            blocking(Box::new(move |e| {
                let (data, checksum) = e.get_snapshot_block(&id, index, &token)?;
                let length = data.len().to_string();
                let headers = [
                    ("x-amz-Data-Length", length),
                    ("x-amz-Checksum", checksum),
                    ("x-amz-Checksum-Algorithm", "SHA256".to_string()),
                    ("content-type", "application/octet-stream".to_string()),
                ];
                Ok((headers, data).into_response())
            }))
            .await
        }
        (Method::PUT, ["snapshots", id, "blocks", index]) => {
            let (id, index) = (id.to_string(), number(index, "blockIndex")?);
            let checksum = header(&headers, "x-amz-checksum")?;
            let algorithm = header(&headers, "x-amz-checksum-algorithm")?;
            let length = number(&header(&headers, "x-amz-data-length")?, "x-amz-Data-Length")?;
            if length != body.len() as u64 {
                return Err(EbsError::validation(
                    "INVALID_PARAMETER_VALUE",
                    format!("x-amz-Data-Length is {length} but the body has {} bytes", body.len()),
                ));
            }
            blocking(Box::new(move |e| {
                let checksum = e.put_snapshot_block(&id, index, &body, &checksum, &algorithm)?;
                let headers = [("x-amz-Checksum", checksum), ("x-amz-Checksum-Algorithm", algorithm)];
                Ok((StatusCode::CREATED, headers, json_body(json!({}))).into_response())
            }))
            .await
        }
        (Method::POST, ["snapshots", "completion", id]) => {
            let id = id.to_string();
            let changed = number(&header(&headers, "x-amz-changedblockscount")?, "x-amz-ChangedBlocksCount")?;
            let checksum = headers.get("x-amz-checksum").and_then(|v| v.to_str().ok()).map(str::to_string);
            let algorithm = optional(&headers, "x-amz-checksum-algorithm").unwrap_or_else(|| "SHA256".into());
            let aggregation =
                optional(&headers, "x-amz-checksum-aggregation-method").unwrap_or_else(|| "LINEAR".into());
            blocking(Box::new(move |e| {
                let check = checksum.as_deref().map(|c| (c, algorithm.as_str(), aggregation.as_str()));
                let state = e.complete_snapshot(&id, changed, check)?;
                Ok((StatusCode::ACCEPTED, json_body(json!({"Status": state.as_str()}))).into_response())
            }))
            .await
        }
        _ => Err(EbsError {
            status: 404,
            code: "UnknownOperationException",
            reason: None,
            message: "Unknown operation".into(),
        }),
    }
}

/// `%XX` decoding of one path segment (ids and indices never need more).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn number(v: &str, name: &str) -> Result<u64, EbsError> {
    v.trim()
        .parse()
        .map_err(|_| EbsError::validation("INVALID_PARAMETER_VALUE", format!("Invalid value '{v}' for {name}")))
}

fn optional(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn header(headers: &HeaderMap, name: &str) -> Result<String, EbsError> {
    optional(headers, name).ok_or_else(|| {
        EbsError::validation("INVALID_PARAMETER_VALUE", format!("The request must contain the header {name}"))
    })
}

fn json_body(v: Value) -> impl IntoResponse {
    ([("content-type", "application/json")], v.to_string())
}

fn epoch(rfc3339: &str) -> f64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp_nanos() as f64 / 1e9)
        .unwrap_or(0.0)
}

fn listing_body(field: &str, blocks: Vec<Value>, next: Option<String>, size_gib: u64) -> Value {
    let expiry = time::OffsetDateTime::now_utc().unix_timestamp() + EXPIRY_SECS;
    let mut v = json!({ field: blocks, "ExpiryTime": expiry, "VolumeSize": size_gib, "BlockSize": BLOCK_SIZE });
    if let Some(t) = next {
        v["NextToken"] = t.into();
    }
    v
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartBody {
    volume_size: Option<u64>,
    parent_snapshot_id: Option<String>,
    #[serde(default)]
    tags: Vec<TagBody>,
    description: Option<String>,
    client_token: Option<String>,
    timeout: Option<u32>,
    #[serde(default)]
    encrypted: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagBody {
    key: Option<String>,
    value: Option<String>,
}

fn start_request(body: &[u8]) -> Result<StartSnapshot, EbsError> {
    let parsed: StartBody = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|e| EbsError::validation("INVALID_PARAMETER_VALUE", format!("Malformed request body: {e}")))?;
    let volume_size_gib = parsed
        .volume_size
        .ok_or_else(|| EbsError::validation("INVALID_VOLUME_SIZE", "The request must contain VolumeSize"))?;
    Ok(StartSnapshot {
        volume_size_gib,
        parent: parsed.parent_snapshot_id,
        tags: parsed.tags.into_iter().map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())).collect(),
        description: parsed.description,
        client_token: parsed.client_token,
        timeout_minutes: parsed.timeout,
        encrypted: parsed.encrypted,
    })
}

fn start_response(s: &Snapshot) -> Value {
    let tags: Vec<Value> = s.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect();
    let mut v = json!({
        "SnapshotId": s.id,
        "OwnerId": ACCOUNT_ID,
        "Status": s.state.as_str(),
        "StartTime": epoch(&s.start_time),
        "VolumeSize": s.volume_size_gib,
        "BlockSize": BLOCK_SIZE,
        "Description": s.description,
        "Tags": tags,
        "SseType": "none",
    });
    if let crate::engine::snapshot::Origin::Direct { parent: Some(p), .. } = &s.origin {
        v["ParentSnapshotId"] = p.clone().into();
    }
    v
}
