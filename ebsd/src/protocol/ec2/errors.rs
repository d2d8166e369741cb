//! EC2's error shape, and the one place engine and auth errors become wire errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::sigv4::{AuthError, WireFamily};

use super::xml::escape;
use crate::engine::EngineError;

/// An error as EC2 reports it: `<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Error {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Ec2Error {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameterValue", message)
    }

    pub fn into_response(self, request_id: &str) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
            self.code,
            escape(&self.message),
            request_id
        );
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, [("content-type", "text/xml;charset=UTF-8")], body).into_response()
    }
}

impl From<AuthError> for Ec2Error {
    fn from(e: AuthError) -> Self {
        let wire = e.wire(WireFamily::Ec2Query);
        Self { status: wire.status, code: wire.code, message: wire.message }
    }
}

impl From<EngineError> for Ec2Error {
    fn from(e: EngineError) -> Self {
        let message = e.to_string();
        let (status, code) = match &e {
            EngineError::InvalidParameterValue(_) => (400, "InvalidParameterValue"),
            EngineError::InvalidParameterCombination(_) => (400, "InvalidParameterCombination"),
            EngineError::MissingParameter(_) => (400, "MissingParameter"),
            EngineError::VolumeNotFound(_) => (400, "InvalidVolume.NotFound"),
            EngineError::MalformedVolumeId(_) => (400, "InvalidVolumeID.Malformed"),
            EngineError::MalformedInstanceId(_) => (400, "InvalidInstanceID.Malformed"),
            EngineError::InvalidResourceId(_) => (400, "InvalidID"),
            EngineError::SnapshotNotFound(_) => (400, "InvalidSnapshot.NotFound"),
            EngineError::MalformedSnapshotId(_) => (400, "InvalidSnapshotID.Malformed"),
            EngineError::SnapshotInUse { .. } => (400, "InvalidSnapshot.InUse"),
            EngineError::ConcurrentSnapshotLimit(_) => (400, "ConcurrentSnapshotLimitExceeded"),
            EngineError::Validation { .. } => (400, "InvalidParameterValue"),
            EngineError::Conflict(_) => (400, "IdempotentParameterMismatch"),
            EngineError::VolumeInUse(_) => (400, "VolumeInUse"),
            EngineError::IncorrectState(_) => (400, "IncorrectState"),
            EngineError::AttachmentNotFound { .. } => (400, "InvalidAttachment.NotFound"),
            EngineError::TagLimitExceeded => (400, "TagLimitExceeded"),
            EngineError::InvalidNextToken => (400, "InvalidParameterValue"),
            // One of EC2's server errors (retried by the SDKs, as AWS's own capacity errors are).
            EngineError::InsufficientVolumeCapacity => (500, "InsufficientVolumeCapacity"),
            EngineError::Kv(_) | EngineError::Io(_) | EngineError::Corrupt(..) => {
                tracing::error!(error = %e, "internal error");
                return Self::new(500, "InternalError", "An internal error has occurred");
            }
        };
        Self { status, code, message }
    }
}
