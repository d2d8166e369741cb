//! The EBS direct APIs' error shape (REST/JSON: `x-amzn-ErrorType` and `{"Message", "Reason"}`), and
//! the one place engine and auth errors become those wire errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::sigv4::{AuthError, WireFamily};

use crate::engine::EngineError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EbsError {
    pub status: u16,
    pub code: &'static str,
    pub reason: Option<&'static str>,
    pub message: String,
}

impl EbsError {
    pub fn validation(reason: &'static str, message: impl Into<String>) -> Self {
        Self { status: 400, code: "ValidationException", reason: Some(reason), message: message.into() }
    }

    pub fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "Message": self.message, "message": self.message });
        if let Some(reason) = self.reason {
            body["Reason"] = reason.into();
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, [("x-amzn-ErrorType", self.code), ("content-type", "application/json")], body.to_string())
            .into_response()
    }
}

impl From<AuthError> for EbsError {
    fn from(e: AuthError) -> Self {
        let wire = e.wire(WireFamily::Json);
        // The direct APIs report authentication failures as AccessDeniedException.
        let code = if wire.status == 403 { "AccessDeniedException" } else { wire.code };
        Self { status: wire.status, code, reason: None, message: wire.message }
    }
}

impl From<EngineError> for EbsError {
    fn from(e: EngineError) -> Self {
        let message = e.to_string();
        let (status, code, reason) = match &e {
            EngineError::SnapshotNotFound(_) => (404, "ResourceNotFoundException", Some("SNAPSHOT_NOT_FOUND")),
            EngineError::MalformedSnapshotId(_) => (400, "ValidationException", Some("INVALID_SNAPSHOT_ID")),
            EngineError::Validation { reason, .. } => (400, "ValidationException", Some(*reason)),
            EngineError::Conflict(_) => (409, "ConflictException", None),
            EngineError::ConcurrentSnapshotLimit(_) => (400, "ConcurrentLimitExceededException", None),
            EngineError::TagLimitExceeded => (400, "ValidationException", Some("INVALID_TAG")),
            EngineError::Kv(_) | EngineError::Io(_) | EngineError::Corrupt(..) => {
                tracing::error!(error = %e, "internal error");
                return Self {
                    status: 500,
                    code: "InternalServerException",
                    reason: None,
                    message: "An internal error has occurred".into(),
                };
            }
            _ => (400, "ValidationException", Some("INVALID_PARAMETER_VALUE")),
        };
        Self { status, code, reason, message }
    }
}
