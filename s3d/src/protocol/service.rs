//! The s3s `S3` trait, implemented by translating each operation to the engine's typed API. Operations
//! not listed here answer `NotImplemented` (501) via the trait's defaults.

use std::sync::Arc;

use common::CredentialStore;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::engine::{Caller, Engine};

#[derive(Clone)]
pub struct S3Api {
    pub(crate) engine: Arc<Engine>,
    pub(crate) credentials: Arc<CredentialStore>,
    pub(crate) region: String,
    /// SSE-C keys may travel on this listener (TLS, or `--allow-sse-c-over-http`).
    pub(crate) sse_c_allowed: bool,
}

impl S3Api {
    pub fn new(engine: Arc<Engine>, credentials: Arc<CredentialStore>) -> Self {
        Self { engine, credentials, region: "us-east-1".into(), sse_c_allowed: false }
    }

    pub fn with_sse_c_allowed(mut self, allowed: bool) -> Self {
        self.sse_c_allowed = allowed;
        self
    }

    /// The engine's caller for a signed request (s3s has verified the signature by now).
    pub(crate) fn caller<T>(&self, req: &S3Request<T>) -> S3Result<Caller> {
        let creds = req.credentials.as_ref().ok_or_else(|| s3_error!(AccessDenied, "Access Denied"))?;
        let user = self.credentials.by_access_key(&creds.access_key).ok_or_else(|| {
            s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
        })?;
        Ok(Caller { user: user.name.clone() })
    }
}

macro_rules! delegate {
    ($($op:ident($input:ty) -> $output:ty => $module:ident;)*) => {
        #[async_trait::async_trait]
        impl S3 for S3Api {
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    metrics::counter!("s3d_operations_total", "op" => stringify!($op)).increment(1);
                    super::$module::$op(self, req).await
                }
            )*
        }
    };
}

delegate! {
    create_bucket(CreateBucketInput) -> CreateBucketOutput => buckets;
    delete_bucket(DeleteBucketInput) -> DeleteBucketOutput => buckets;
    head_bucket(HeadBucketInput) -> HeadBucketOutput => buckets;
    list_buckets(ListBucketsInput) -> ListBucketsOutput => buckets;
    get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput => buckets;
    get_bucket_tagging(GetBucketTaggingInput) -> GetBucketTaggingOutput => buckets;
    put_bucket_tagging(PutBucketTaggingInput) -> PutBucketTaggingOutput => buckets;
    delete_bucket_tagging(DeleteBucketTaggingInput) -> DeleteBucketTaggingOutput => buckets;
    get_bucket_cors(GetBucketCorsInput) -> GetBucketCorsOutput => cors;
    put_bucket_cors(PutBucketCorsInput) -> PutBucketCorsOutput => cors;
    delete_bucket_cors(DeleteBucketCorsInput) -> DeleteBucketCorsOutput => cors;
    get_bucket_versioning(GetBucketVersioningInput) -> GetBucketVersioningOutput => versions;
    put_bucket_versioning(PutBucketVersioningInput) -> PutBucketVersioningOutput => versions;
    list_object_versions(ListObjectVersionsInput) -> ListObjectVersionsOutput => versions;
    put_object(PutObjectInput) -> PutObjectOutput => objects;
    get_object(GetObjectInput) -> GetObjectOutput => objects;
    head_object(HeadObjectInput) -> HeadObjectOutput => objects;
    get_object_attributes(GetObjectAttributesInput) -> GetObjectAttributesOutput => attributes;
    delete_object(DeleteObjectInput) -> DeleteObjectOutput => objects;
    delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput => objects;
    copy_object(CopyObjectInput) -> CopyObjectOutput => objects;
    get_object_tagging(GetObjectTaggingInput) -> GetObjectTaggingOutput => objects;
    put_object_tagging(PutObjectTaggingInput) -> PutObjectTaggingOutput => objects;
    delete_object_tagging(DeleteObjectTaggingInput) -> DeleteObjectTaggingOutput => objects;
    list_objects(ListObjectsInput) -> ListObjectsOutput => listing;
    list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output => listing;
    create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput => multipart;
    upload_part(UploadPartInput) -> UploadPartOutput => multipart;
    upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput => multipart;
    complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput => multipart;
    abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput => multipart;
    list_parts(ListPartsInput) -> ListPartsOutput => multipart;
    list_multipart_uploads(ListMultipartUploadsInput) -> ListMultipartUploadsOutput => multipart;
    put_bucket_encryption(PutBucketEncryptionInput) -> PutBucketEncryptionOutput => sse;
    get_bucket_encryption(GetBucketEncryptionInput) -> GetBucketEncryptionOutput => sse;
    delete_bucket_encryption(DeleteBucketEncryptionInput) -> DeleteBucketEncryptionOutput => sse;
    put_bucket_lifecycle_configuration(PutBucketLifecycleConfigurationInput) -> PutBucketLifecycleConfigurationOutput => lifecycle;
    get_bucket_lifecycle_configuration(GetBucketLifecycleConfigurationInput) -> GetBucketLifecycleConfigurationOutput => lifecycle;
    delete_bucket_lifecycle(DeleteBucketLifecycleInput) -> DeleteBucketLifecycleOutput => lifecycle;
    restore_object(RestoreObjectInput) -> RestoreObjectOutput => lifecycle;
    get_bucket_acl(GetBucketAclInput) -> GetBucketAclOutput => acl;
    put_bucket_acl(PutBucketAclInput) -> PutBucketAclOutput => acl;
    get_object_acl(GetObjectAclInput) -> GetObjectAclOutput => acl;
    put_object_acl(PutObjectAclInput) -> PutObjectAclOutput => acl;
    get_bucket_ownership_controls(GetBucketOwnershipControlsInput) -> GetBucketOwnershipControlsOutput => acl;
    put_bucket_ownership_controls(PutBucketOwnershipControlsInput) -> PutBucketOwnershipControlsOutput => acl;
    delete_bucket_ownership_controls(DeleteBucketOwnershipControlsInput) -> DeleteBucketOwnershipControlsOutput => acl;
}
