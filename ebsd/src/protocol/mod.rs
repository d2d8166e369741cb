//! ebsd's wire layers: the EC2 Query API and the EBS direct APIs (one HTTP port), and NBD.

pub mod ebs;
pub mod ec2;
pub mod nbd;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::any;
use common::sigv4::Verifier;

use crate::engine::VolumeEngine;

/// The API port: paths under `/snapshots` are the EBS direct APIs (SigV4 service `ebs`), everything
/// else the EC2 Query API (service `ec2`).
pub fn router(engine: Arc<VolumeEngine>, ec2: Arc<Verifier>, ebs: Arc<Verifier>) -> Router {
    let direct = {
        let engine = engine.clone();
        move |req: Request<Body>| {
            let (engine, ebs) = (engine.clone(), ebs.clone());
            async move { ebs::handle(engine, ebs, req).await }
        }
    };
    Router::new()
        .route("/snapshots", any(direct.clone()))
        .route("/snapshots/{*rest}", any(direct))
        .fallback_service(ec2::router(engine, ec2))
}
