//! What can go wrong in the table engine. The protocol layer maps each variant to DynamoDB's wire error
//! (code, HTTP status) in one place (`protocol::errors`).

use super::value::Item;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// A condition was false; carries the old item when ReturnValuesOnConditionCheckFailure=ALL_OLD.
    #[error("The conditional request failed")]
    ConditionalCheckFailed { item: Option<Item> },
    #[error(
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."
    )]
    Throttled,
    /// A transaction did not apply; one reason per action, in request order.
    #[error("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", reasons.iter().map(|r| r.code).collect::<Vec<_>>().join(", "))]
    TransactionCanceled { reasons: Vec<CancelReason> },
    #[error("{0}")]
    IdempotentParameterMismatch(String),
    #[error("{0}")]
    TransactionInProgress(String),
    /// A write would grow an item collection (items sharing a partition key, with their local
    /// secondary index entries) past its size limit.
    #[error("{0}")]
    ItemCollectionSizeLimitExceeded(String),
    #[error("{0}")]
    BackupNotFound(String),
    #[error("{0}")]
    BackupInUse(String),
    /// The control-plane "table not found" of backups (TableNotFoundException).
    #[error("{0}")]
    TableNotFound(String),
    #[error("{0}")]
    TableAlreadyExists(String),
    #[error("{0}")]
    ExportNotFound(String),
    #[error("{0}")]
    PointInTimeRecoveryUnavailable(String),
    #[error("{0}")]
    InvalidExportTime(String),
    /// A PartiQL INSERT of a key that exists.
    #[error("{0}")]
    DuplicateItem(String),
    #[error("{0}")]
    ExpiredIterator(String),
    #[error("{0}")]
    TrimmedDataAccess(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<common::kv::KvError> for EngineError {
    fn from(e: common::kv::KvError) -> Self {
        EngineError::Internal(e.to_string())
    }
}

/// Why one action of a transaction did not apply (`None` when it would have).
#[derive(Debug, Clone)]
pub struct CancelReason {
    pub code: &'static str,
    pub message: Option<String>,
    pub item: Option<Item>,
}

impl CancelReason {
    pub fn none() -> Self {
        Self { code: "None", message: None, item: None }
    }
    pub fn failed(item: Option<Item>) -> Self {
        Self { code: "ConditionalCheckFailed", message: Some("The conditional request failed".into()), item }
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// A ValidationException with DynamoDB's message.
pub fn invalid(message: impl Into<String>) -> EngineError {
    EngineError::Validation(message.into())
}
