//! The EC2 Query API for volumes (`POST /` with `Action=…&Version=2016-11-15`, SigV4 for service `ec2`).

mod errors;
mod params;
mod xml;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::response::{IntoResponse, Response};
use common::server::RequestId;
use common::sigv4::Verifier;

pub use errors::Ec2Error;
use params::Params;
use xml::Xml;

use crate::engine::volume::SpecRequest;
use crate::engine::{CreateVolume, DescribeSnapshots, Page, VolumeEngine};

#[derive(Clone)]
struct Api {
    engine: Arc<VolumeEngine>,
    verifier: Arc<Verifier>,
}

pub fn router(engine: Arc<VolumeEngine>, verifier: Arc<Verifier>) -> Router {
    Router::new().fallback(handle).with_state(Api { engine, verifier })
}

async fn handle(State(api): State<Api>, Extension(id): Extension<RequestId>, req: Request<Body>) -> Response {
    match serve(&api, &id.0, req).await {
        Ok(body) => ([("content-type", "text/xml;charset=UTF-8")], body).into_response(),
        Err(e) => e.into_response(&id.0),
    }
}

async fn serve(api: &Api, request_id: &str, req: Request<Body>) -> Result<String, Ec2Error> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, params::MAX_BODY)
        .await
        .map_err(|_| Ec2Error::new(413, "RequestEntityTooLarge", "The request body is too large"))?;
    let auth = api.verifier.verify(&parts, &body, time::OffsetDateTime::now_utc())?;
    let params = Params::parse(parts.uri.query(), &body);
    let action = params
        .get("Action")
        .ok_or_else(|| Ec2Error::new(400, "MissingAction", "The request must contain the parameter Action"))?;
    let action = action.to_string();
    // `--dry-run`: the caller is authenticated and the call is one we serve; EC2 answers 412.
    if params.bool("DryRun")?.unwrap_or(false) && is_known_action(&action) {
        return Err(Ec2Error::new(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set."));
    }
    let engine = api.engine.clone();
    let request_id = request_id.to_string();
    // Engine calls commit to RocksDB and fsync files: keep them off the async workers.
    tokio::task::spawn_blocking(move || dispatch(&engine, &action, &params, &auth.region, &request_id))
        .await
        .map_err(|_| Ec2Error::new(500, "InternalError", "An internal error has occurred"))?
}

fn dispatch(engine: &VolumeEngine, action: &str, p: &Params, region: &str, rid: &str) -> Result<String, Ec2Error> {
    match action {
        "CreateVolume" => create_volume(engine, p, region, rid),
        "DescribeVolumes" => describe_volumes(engine, p, rid),
        "DeleteVolume" => {
            engine.delete_volume(p.required("VolumeId")?)?;
            Ok(returns_true(action, rid))
        }
        "AttachVolume" => {
            let volume_id = p.required("VolumeId")?;
            let a = engine.attach_volume(volume_id, p.required("InstanceId")?, p.required("Device")?)?;
            let mut x = Xml::response(action, rid);
            x.attachment_fields(volume_id, &a, "attaching");
            Ok(x.finish(action))
        }
        "DetachVolume" => {
            let volume_id = p.required("VolumeId")?;
            p.bool("Force")?;
            let a = engine.detach_volume(volume_id, p.get("InstanceId"), p.get("Device"))?;
            let mut x = Xml::response(action, rid);
            x.attachment_fields(volume_id, &a, "detaching");
            Ok(x.finish(action))
        }
        "ModifyVolume" => {
            let req = SpecRequest {
                volume_type: p.get("VolumeType").map(str::to_string),
                size_gib: p.u64("Size")?,
                iops: p.u32("Iops")?,
                throughput: p.u32("Throughput")?,
                multi_attach: p.bool("MultiAttachEnabled")?,
            };
            let (volume_id, m) = engine.modify_volume(p.required("VolumeId")?, &req)?;
            let mut x = Xml::response(action, rid);
            x.open("volumeModification").modification_fields(&volume_id, &m).close("volumeModification");
            Ok(x.finish(action))
        }
        "DescribeVolumesModifications" => {
            let (mods, next) = engine.describe_modifications(&p.list("VolumeId"), &p.filters()?, &page(p)?)?;
            let mut x = Xml::response(action, rid);
            x.open("volumeModificationSet");
            for (volume_id, m) in &mods {
                x.open("item").modification_fields(volume_id, m).close("item");
            }
            x.close("volumeModificationSet").opt("nextToken", next);
            Ok(x.finish(action))
        }
        "CreateTags" => {
            let tags = p.tags("Tag")?.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect::<Vec<_>>();
            engine.create_tags(&p.list("ResourceId"), &tags)?;
            Ok(returns_true(action, rid))
        }
        "DeleteTags" => {
            engine.delete_tags(&p.list("ResourceId"), &p.tags("Tag")?)?;
            Ok(returns_true(action, rid))
        }
        "DescribeTags" => {
            let (entries, next) = engine.describe_tags(&p.filters()?, &page(p)?)?;
            let mut x = Xml::response(action, rid);
            x.open("tagSet");
            for t in &entries {
                x.open("item")
                    .elem("resourceId", &t.resource_id)
                    .elem("resourceType", t.resource_type)
                    .elem("key", &t.key)
                    .elem("value", &t.value)
                    .close("item");
            }
            x.close("tagSet").opt("nextToken", next);
            Ok(x.finish(action))
        }
        "CreateSnapshot" => {
            let s = engine.create_snapshot(
                p.required("VolumeId")?,
                p.get("Description").map(str::to_string),
                &p.tag_specifications("snapshot")?,
            )?;
            let progress = engine.snapshot_progress(&s);
            let mut x = Xml::response(action, rid);
            x.snapshot_fields(&s, progress);
            Ok(x.finish(action))
        }
        "DescribeSnapshots" => {
            let req = DescribeSnapshots {
                ids: p.list("SnapshotId"),
                owners: p.list("Owner"),
                filters: p.filters()?,
                page: page(p)?,
            };
            let (snapshots, next) = engine.describe_snapshots(&req)?;
            let mut x = Xml::response(action, rid);
            x.open("snapshotSet");
            for (s, progress) in &snapshots {
                x.open("item").snapshot_fields(s, *progress).close("item");
            }
            x.close("snapshotSet").opt("nextToken", next);
            Ok(x.finish(action))
        }
        "DeleteSnapshot" => {
            engine.delete_snapshot(p.required("SnapshotId")?)?;
            Ok(returns_true(action, rid))
        }
        "CopySnapshot" => {
            let s = engine.copy_snapshot(
                p.required("SourceSnapshotId")?,
                p.required("SourceRegion")?,
                p.get("Description").map(str::to_string),
                &p.tag_specifications("snapshot")?,
            )?;
            let mut x = Xml::response(action, rid);
            x.elem("snapshotId", &s.id);
            x.tag_set(&s.tags);
            Ok(x.finish(action))
        }
        other => {
            Err(Ec2Error::new(400, "InvalidAction", format!("The action {other} is not valid for this web service.")))
        }
    }
}

const ACTIONS: &[&str] = &[
    "CreateVolume",
    "DescribeVolumes",
    "DeleteVolume",
    "AttachVolume",
    "DetachVolume",
    "ModifyVolume",
    "DescribeVolumesModifications",
    "CreateTags",
    "DeleteTags",
    "DescribeTags",
    "CreateSnapshot",
    "DescribeSnapshots",
    "DeleteSnapshot",
    "CopySnapshot",
];

fn is_known_action(action: &str) -> bool {
    ACTIONS.contains(&action)
}

fn page(p: &Params) -> Result<Page, Ec2Error> {
    Ok(Page {
        max_results: p.u64("MaxResults")?.map(|m| m as usize),
        next_token: p.get("NextToken").map(str::to_string),
    })
}

fn returns_true(action: &str, rid: &str) -> String {
    let mut x = Xml::response(action, rid);
    x.elem("return", "true");
    x.finish(action)
}

fn create_volume(engine: &VolumeEngine, p: &Params, region: &str, rid: &str) -> Result<String, Ec2Error> {
    let req = CreateVolume {
        spec: SpecRequest {
            volume_type: p.get("VolumeType").map(str::to_string),
            size_gib: p.u64("Size")?,
            iops: p.u32("Iops")?,
            throughput: p.u32("Throughput")?,
            multi_attach: p.bool("MultiAttachEnabled")?,
        },
        availability_zone: p.get("AvailabilityZone").map(str::to_string),
        snapshot_id: p.get("SnapshotId").map(str::to_string),
        encrypted: p.bool("Encrypted")?.unwrap_or(false),
        kms_key_id: p.get("KmsKeyId").map(str::to_string),
        tags: p.tag_specifications("volume")?,
        client_token: p.get("ClientToken").map(str::to_string),
    };
    let v = engine.create_volume(req, region)?;
    // EC2 answers while the volume is still being created; it is "available" by the next Describe.
    let mut x = Xml::response("CreateVolume", rid);
    x.volume_fields(&v, Some("creating"));
    Ok(x.finish("CreateVolume"))
}

fn describe_volumes(engine: &VolumeEngine, p: &Params, rid: &str) -> Result<String, Ec2Error> {
    let (volumes, next) = engine.describe_volumes(&p.list("VolumeId"), &p.filters()?, &page(p)?)?;
    let mut x = Xml::response("DescribeVolumes", rid);
    x.open("volumeSet");
    for v in &volumes {
        x.open("item").volume_fields(v, None).close("item");
    }
    x.close("volumeSet").opt("nextToken", next);
    Ok(x.finish("DescribeVolumes"))
}
