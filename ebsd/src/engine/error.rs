//! What can go wrong in the volume engine. The EC2 protocol layer maps each variant to EC2's wire error
//! (code, status, message) in one place (`protocol::ec2::errors`).

use common::kv::KvError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A parameter has a value EC2 rejects (`InvalidParameterValue`).
    #[error("{0}")]
    InvalidParameterValue(String),
    /// Parameters that cannot be used together (`InvalidParameterCombination`).
    #[error("{0}")]
    InvalidParameterCombination(String),
    /// A required parameter is absent (`MissingParameter`).
    #[error("The request must contain the parameter {0}")]
    MissingParameter(String),
    #[error("The volume '{0}' does not exist.")]
    VolumeNotFound(String),
    #[error("Invalid id: \"{0}\" (expecting \"vol-...\")")]
    MalformedVolumeId(String),
    #[error("Invalid id: \"{0}\" (expecting \"i-...\")")]
    MalformedInstanceId(String),
    #[error("The ID '{0}' is not valid")]
    InvalidResourceId(String),
    #[error("The snapshot '{0}' does not exist.")]
    SnapshotNotFound(String),
    #[error("Invalid id: \"{0}\" (expecting \"snap-...\")")]
    MalformedSnapshotId(String),
    /// A volume is still hydrating from the snapshot (`InvalidSnapshot.InUse`).
    #[error("The snapshot {snapshot} is currently in use by {volume}")]
    SnapshotInUse { snapshot: String, volume: String },
    /// An EBS direct API request EC2 would answer with `ValidationException` and this reason.
    #[error("{message}")]
    Validation { reason: &'static str, message: String },
    /// A second snapshot of a volume while one is in progress (`ConcurrentSnapshotLimitExceeded`).
    #[error("{0}")]
    ConcurrentSnapshotLimit(String),
    /// StartSnapshot with a client token already used for different parameters.
    #[error("{0}")]
    Conflict(String),
    /// The volume is attached (delete, or a second attachment of a single-attach volume).
    #[error("{0}")]
    VolumeInUse(String),
    /// The volume is not in a state that allows the action (`IncorrectState`).
    #[error("{0}")]
    IncorrectState(String),
    #[error("The volume {volume} is not attached to instance {instance}")]
    AttachmentNotFound { volume: String, instance: String },
    #[error("The maximum number of tags for a resource has been reached (50).")]
    TagLimitExceeded,
    #[error("Invalid NextToken value")]
    InvalidNextToken,
    /// The data directory's file system cannot hold a volume this large (ext4 files stop 4 KiB short
    /// of 16 TiB, so a 16,384 GiB volume does not fit).
    #[error(
        "There is not enough capacity to fulfill your EBS volume provision request. You can try to provision a different volume type, EBS volume in a different availability zone, or you can wait and try again later."
    )]
    InsufficientVolumeCapacity,
    #[error("metadata store: {0}")]
    Kv(#[from] KvError),
    #[error("volume data: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt metadata for {0}: {1}")]
    Corrupt(String, String),
}

pub type EngineResult<T> = Result<T, EngineError>;

impl EngineError {
    /// Sizing a volume's file failed: EFBIG means the file system's largest file is smaller than the
    /// volume, which EC2 would report as a lack of capacity; anything else is internal.
    pub fn sizing(e: std::io::Error) -> Self {
        if e.raw_os_error() == Some(libc::EFBIG) { EngineError::InsufficientVolumeCapacity } else { EngineError::Io(e) }
    }
}
