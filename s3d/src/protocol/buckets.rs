//! Bucket operations, and the bucket's tag set.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::errors::to_s3;
use super::service::S3Api;

pub async fn create_bucket(api: &S3Api, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let ownership = super::acl::ownership_in(input.object_ownership.as_ref())?;
    let acl = super::acl::acl_request_of!(api, input, grant_write, None)?;
    let location =
        input.create_bucket_configuration.and_then(|c| c.location_constraint).map(|l| l.as_str().to_string());
    api.engine.create_bucket_with(&caller, &input.bucket, location, ownership, acl).await.map_err(to_s3)?;
    Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{}", input.bucket)) }))
}

pub async fn delete_bucket(api: &S3Api, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
    let caller = api.caller(&req)?;
    api.engine.delete_bucket(&caller, &req.input.bucket).await.map_err(to_s3)?;
    Ok(S3Response::new(DeleteBucketOutput::default()))
}

pub async fn head_bucket(api: &S3Api, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
    let caller = api.caller(&req)?;
    // READ on the bucket (its ACL) lets others HEAD it, as it lets them list it.
    let reader = api.engine.bucket_reader(&caller, &req.input.bucket).map_err(to_s3)?;
    let info = api.engine.head_bucket(&reader, &req.input.bucket).map_err(to_s3)?;
    let region = info.location.unwrap_or_else(|| api.region.clone());
    Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(region), ..Default::default() }))
}

pub async fn list_buckets(api: &S3Api, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
    let caller = api.caller(&req)?;
    let buckets = api.engine.list_buckets(&caller).map_err(to_s3)?;
    let buckets = buckets
        .into_iter()
        .map(|b| Bucket {
            bucket_region: Some(b.location.unwrap_or_else(|| api.region.clone())),
            creation_date: Some(super::convert::timestamp(b.created)),
            name: Some(b.name),
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(super::convert::owner(&caller.user)),
        ..Default::default()
    }))
}

pub async fn get_bucket_location(
    api: &S3Api,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let caller = api.caller(&req)?;
    let info = api.engine.head_bucket(&caller, &req.input.bucket).map_err(to_s3)?;
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint: info.location.map(BucketLocationConstraint::from),
    }))
}

pub async fn get_bucket_tagging(
    api: &S3Api,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let caller = api.caller(&req)?;
    let tags = api.engine.get_bucket_tagging(&caller, &req.input.bucket).map_err(to_s3)?;
    let tag_set = tags.into_iter().map(|(k, v)| Tag { key: Some(k), value: Some(v) }).collect();
    Ok(S3Response::new(GetBucketTaggingOutput { tag_set }))
}

pub async fn put_bucket_tagging(
    api: &S3Api,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let tags = super::objects::tag_pairs(input.tagging.tag_set)?;
    api.engine.set_bucket_tagging(&caller, &input.bucket, tags).await.map_err(to_s3)?;
    let mut resp = S3Response::new(PutBucketTaggingOutput::default());
    // s3s answers 200; S3 answers PutBucketTagging 204.
    resp.extensions.insert(super::StatusOverride(http::StatusCode::NO_CONTENT));
    Ok(resp)
}

pub async fn delete_bucket_tagging(
    api: &S3Api,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    let caller = api.caller(&req)?;
    api.engine.set_bucket_tagging(&caller, &req.input.bucket, Vec::new()).await.map_err(to_s3)?;
    Ok(S3Response::new(DeleteBucketTaggingOutput::default()))
}
