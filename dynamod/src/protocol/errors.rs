//! The one place where failures become DynamoDB wire errors: `{"__type": "…#Code", "message": …}`
//! with DynamoDB's HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::json::item_json;
use crate::engine::error::EngineError;

const DYNAMODB: &str = "com.amazonaws.dynamodb.v20120810";
const CORAL: &str = "com.amazon.coral.service";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Serialization(String),
    #[error("unknown operation")]
    UnknownOperation,
    #[error("{}", .0.message)]
    Auth(common::sigv4::WireError),
    #[error("request too large")]
    TooLarge,
    /// The body did not arrive within [`super::BODY_TIMEOUT`] (the connection is closed after).
    #[error("request body timed out")]
    BodyTimeout,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, String, String) {
        let d = |code: &str| format!("{DYNAMODB}#{code}");
        match self {
            ApiError::Engine(e) => {
                let (status, code) = match e {
                    EngineError::Validation(_) => (400, "ValidationException"),
                    EngineError::ResourceNotFound(_) => (400, "ResourceNotFoundException"),
                    EngineError::ResourceInUse(_) => (400, "ResourceInUseException"),
                    EngineError::LimitExceeded(_) => (400, "LimitExceededException"),
                    EngineError::ConditionalCheckFailed { .. } => (400, "ConditionalCheckFailedException"),
                    EngineError::Throttled => (400, "ProvisionedThroughputExceededException"),
                    EngineError::TransactionCanceled { .. } => (400, "TransactionCanceledException"),
                    EngineError::IdempotentParameterMismatch(_) => (400, "IdempotentParameterMismatchException"),
                    EngineError::TransactionInProgress(_) => (400, "TransactionInProgressException"),
                    EngineError::DuplicateItem(_) => (400, "DuplicateItemException"),
                    EngineError::BackupNotFound(_) => (400, "BackupNotFoundException"),
                    EngineError::BackupInUse(_) => (400, "BackupInUseException"),
                    EngineError::TableNotFound(_) => (400, "TableNotFoundException"),
                    EngineError::TableAlreadyExists(_) => (400, "TableAlreadyExistsException"),
                    EngineError::ExportNotFound(_) => (400, "ExportNotFoundException"),
                    EngineError::PointInTimeRecoveryUnavailable(_) => (400, "PointInTimeRecoveryUnavailableException"),
                    EngineError::InvalidExportTime(_) => (400, "InvalidExportTimeException"),
                    EngineError::ItemCollectionSizeLimitExceeded(_) => {
                        (400, "ItemCollectionSizeLimitExceededException")
                    }
                    EngineError::ExpiredIterator(_) => (400, "ExpiredIteratorException"),
                    EngineError::TrimmedDataAccess(_) => (400, "TrimmedDataAccessException"),
                    EngineError::Internal(_) => (500, "InternalServerError"),
                };
                let message = match e {
                    EngineError::Internal(_) => "Internal server error".to_string(),
                    other => other.to_string(),
                };
                (StatusCode::from_u16(status).expect("valid"), d(code), message)
            }
            ApiError::Serialization(m) => {
                (StatusCode::BAD_REQUEST, format!("{CORAL}#SerializationException"), m.clone())
            }
            ApiError::UnknownOperation => {
                (StatusCode::BAD_REQUEST, format!("{CORAL}#UnknownOperationException"), String::new())
            }
            ApiError::Auth(w) => (
                StatusCode::from_u16(w.status).unwrap_or(StatusCode::BAD_REQUEST),
                format!("{CORAL}#{}", w.code),
                w.message.clone(),
            ),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{CORAL}#RequestEntityTooLarge"),
                "Request Entity Too Large".into(),
            ),
            ApiError::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                format!("{CORAL}#RequestTimeoutException"),
                "The request body was not received in time".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if let ApiError::Engine(EngineError::Internal(detail)) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let mut body = json!({ "__type": code, "message": message });
        if let ApiError::Engine(EngineError::ConditionalCheckFailed { item: Some(item) }) = &self {
            body["Item"] = item_json(item);
        }
        if let ApiError::Engine(EngineError::TransactionCanceled { reasons }) = &self {
            let list: Vec<serde_json::Value> = reasons
                .iter()
                .map(|r| {
                    let mut v = json!({ "Code": r.code });
                    if let Some(m) = &r.message {
                        v["Message"] = json!(m);
                    }
                    if let Some(i) = &r.item {
                        v["Item"] = item_json(i);
                    }
                    v
                })
                .collect();
            body["CancellationReasons"] = json!(list);
        }
        let short = code.rsplit('#').next().unwrap_or_default().to_string();
        metrics::counter!("dynamodb_errors_total", "code" => short.clone()).increment(1);
        let kind = if status.is_server_error() { "dynamodb_system_errors_total" } else { "dynamodb_user_errors_total" };
        metrics::counter!(kind).increment(1);
        (
            status,
            [("content-type", "application/x-amz-json-1.0"), ("x-amzn-errortype", short.as_str())],
            body.to_string(),
        )
            .into_response()
    }
}

impl From<common::sigv4::AuthError> for ApiError {
    fn from(e: common::sigv4::AuthError) -> Self {
        ApiError::Auth(e.wire(common::sigv4::WireFamily::Json))
    }
}

/// The code of one failed statement of a BatchExecuteStatement (BatchStatementError.Code).
pub fn batch_statement_code(e: &EngineError) -> &'static str {
    match e {
        EngineError::ConditionalCheckFailed { .. } => "ConditionalCheckFailed",
        EngineError::DuplicateItem(_) => "DuplicateItem",
        EngineError::ResourceNotFound(_) => "ResourceNotFound",
        EngineError::Throttled => "ProvisionedThroughputExceeded",
        EngineError::TransactionCanceled { .. } | EngineError::TransactionInProgress(_) => "TransactionConflict",
        EngineError::ItemCollectionSizeLimitExceeded(_) => "ItemCollectionSizeLimitExceeded",
        EngineError::Internal(_) => "InternalServerError",
        _ => "ValidationError",
    }
}
