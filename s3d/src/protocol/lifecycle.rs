//! Lifecycle configuration (Put/Get/DeleteBucketLifecycleConfiguration) and RestoreObject: s3s's
//! DTOs to and from the engine's types.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::convert;
use super::errors::to_s3;
use super::service::S3Api;
use crate::engine::lifecycle as lc;
use crate::engine::restore::{RestoreOutcome, RestoreTier};
use crate::engine::{ms_to_time, time_to_ms};

fn malformed() -> s3s::S3Error {
    s3_error!(MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema")
}

fn date_in(t: Option<Timestamp>) -> Option<i64> {
    convert::time(t).map(time_to_ms)
}

fn date_out(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(|t| convert::timestamp(ms_to_time(t)))
}

fn tag_in(t: Tag) -> S3Result<(String, String)> {
    match t.key {
        Some(k) => Ok((k, t.value.unwrap_or_default())),
        None => Err(malformed()),
    }
}

fn tag_out((k, v): &(String, String)) -> Tag {
    Tag { key: Some(k.clone()), value: Some(v.clone()) }
}

fn rule_in(r: LifecycleRule) -> S3Result<lc::Rule> {
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(malformed()),
    };
    let filter = match r.filter {
        None => None,
        Some(f) => Some(lc::Filter {
            prefix: f.prefix,
            tag: f.tag.map(tag_in).transpose()?,
            size_greater_than: f.object_size_greater_than,
            size_less_than: f.object_size_less_than,
            and: match f.and {
                None => None,
                Some(a) => Some(lc::AndFilter {
                    prefix: a.prefix,
                    tags: a.tags.unwrap_or_default().into_iter().map(tag_in).collect::<S3Result<_>>()?,
                    size_greater_than: a.object_size_greater_than,
                    size_less_than: a.object_size_less_than,
                }),
            },
        }),
    };
    Ok(lc::Rule {
        id: r.id.unwrap_or_default(),
        enabled,
        prefix: r.prefix,
        filter,
        expiration: r.expiration.map(|e| lc::Expiration {
            days: e.days,
            date_ms: date_in(e.date),
            expired_object_delete_marker: e.expired_object_delete_marker,
        }),
        transitions: r
            .transitions
            .unwrap_or_default()
            .into_iter()
            .map(|t| lc::Transition {
                days: t.days,
                date_ms: date_in(t.date),
                storage_class: t.storage_class.map(|c| c.as_str().to_string()).unwrap_or_default(),
            })
            .collect(),
        noncurrent_transitions: r
            .noncurrent_version_transitions
            .unwrap_or_default()
            .into_iter()
            .map(|t| lc::NoncurrentTransition {
                noncurrent_days: t.noncurrent_days,
                newer_noncurrent_versions: t.newer_noncurrent_versions,
                storage_class: t.storage_class.map(|c| c.as_str().to_string()).unwrap_or_default(),
            })
            .collect(),
        noncurrent_expiration: r.noncurrent_version_expiration.map(|e| lc::NoncurrentExpiration {
            noncurrent_days: e.noncurrent_days,
            newer_noncurrent_versions: e.newer_noncurrent_versions,
        }),
        abort_incomplete_upload_days: r.abort_incomplete_multipart_upload.and_then(|a| a.days_after_initiation),
    })
}

fn rule_out(r: &lc::Rule) -> LifecycleRule {
    LifecycleRule {
        id: Some(r.id.clone()),
        status: ExpirationStatus::from(
            if r.enabled { ExpirationStatus::ENABLED } else { ExpirationStatus::DISABLED }.to_string(),
        ),
        prefix: r.prefix.clone(),
        filter: r.filter.as_ref().map(|f| LifecycleRuleFilter {
            prefix: f.prefix.clone(),
            tag: f.tag.as_ref().map(tag_out),
            object_size_greater_than: f.size_greater_than,
            object_size_less_than: f.size_less_than,
            and: f.and.as_ref().map(|a| LifecycleRuleAndOperator {
                prefix: a.prefix.clone(),
                tags: (!a.tags.is_empty()).then(|| a.tags.iter().map(tag_out).collect()),
                object_size_greater_than: a.size_greater_than,
                object_size_less_than: a.size_less_than,
            }),
        }),
        expiration: r.expiration.as_ref().map(|e| LifecycleExpiration {
            days: e.days,
            date: date_out(e.date_ms),
            expired_object_delete_marker: e.expired_object_delete_marker,
        }),
        transitions: (!r.transitions.is_empty()).then(|| {
            r.transitions
                .iter()
                .map(|t| Transition {
                    days: t.days,
                    date: date_out(t.date_ms),
                    storage_class: Some(TransitionStorageClass::from(t.storage_class.clone())),
                })
                .collect()
        }),
        noncurrent_version_transitions: (!r.noncurrent_transitions.is_empty()).then(|| {
            r.noncurrent_transitions
                .iter()
                .map(|t| NoncurrentVersionTransition {
                    noncurrent_days: t.noncurrent_days,
                    newer_noncurrent_versions: t.newer_noncurrent_versions,
                    storage_class: Some(TransitionStorageClass::from(t.storage_class.clone())),
                })
                .collect()
        }),
        noncurrent_version_expiration: r.noncurrent_expiration.as_ref().map(|e| NoncurrentVersionExpiration {
            noncurrent_days: e.noncurrent_days,
            newer_noncurrent_versions: e.newer_noncurrent_versions,
        }),
        abort_incomplete_multipart_upload: r
            .abort_incomplete_upload_days
            .map(|d| AbortIncompleteMultipartUpload { days_after_initiation: Some(d) }),
    }
}

pub async fn put_bucket_lifecycle_configuration(
    api: &S3Api,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let min_size = match input.transition_default_minimum_object_size.as_ref() {
        None => lc::MinSizePolicy::default(),
        Some(p) => lc::MinSizePolicy::parse(p.as_str()).ok_or_else(|| {
            s3_error!(InvalidArgument, "Invalid value for x-amz-transition-default-minimum-object-size")
        })?,
    };
    let rules = input.lifecycle_configuration.ok_or_else(malformed)?.rules;
    let rules = rules.into_iter().map(rule_in).collect::<S3Result<Vec<_>>>()?;
    let config = lc::LifecycleConfig { rules, min_size };
    api.engine.put_bucket_lifecycle(&caller, &input.bucket, config).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketLifecycleConfigurationOutput {
        transition_default_minimum_object_size: Some(TransitionDefaultMinimumObjectSize::from(
            min_size.as_str().to_string(),
        )),
    }))
}

pub async fn get_bucket_lifecycle_configuration(
    api: &S3Api,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let caller = api.caller(&req)?;
    let config = api.engine.get_bucket_lifecycle(&caller, &req.input.bucket).map_err(to_s3)?;
    Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
        rules: Some(config.rules.iter().map(rule_out).collect()),
        transition_default_minimum_object_size: Some(TransitionDefaultMinimumObjectSize::from(
            config.min_size.as_str().to_string(),
        )),
    }))
}

pub async fn delete_bucket_lifecycle(
    api: &S3Api,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    let caller = api.caller(&req)?;
    api.engine.delete_bucket_lifecycle(&caller, &req.input.bucket).await.map_err(to_s3)?;
    let mut resp = S3Response::new(DeleteBucketLifecycleOutput {});
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

pub async fn restore_object(
    api: &S3Api,
    req: S3Request<RestoreObjectInput>,
) -> S3Result<S3Response<RestoreObjectOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let version = convert::version(input.version_id.as_deref())?;
    let request = input.restore_request.ok_or_else(malformed)?;
    if request.type_.is_some() || request.output_location.is_some() {
        return Err(s3_error!(NotImplemented, "Only plain restores (Days and a retrieval tier) are supported"));
    }
    let days = request.days.ok_or_else(malformed)?;
    let days = u32::try_from(days)
        .ok()
        .filter(|d| *d > 0)
        .ok_or_else(|| s3_error!(InvalidArgument, "Days must be a positive integer"))?;
    let tier = match request.glacier_job_parameters.map(|p| p.tier).or(request.tier) {
        None => RestoreTier::Standard,
        Some(t) => RestoreTier::parse(t.as_str()).ok_or_else(malformed)?,
    };
    let outcome = api
        .engine
        .restore_object(&caller, &input.bucket, &input.key, version.as_ref(), days, tier)
        .await
        .map_err(to_s3)?;
    let mut resp = S3Response::new(RestoreObjectOutput::default());
    if outcome == RestoreOutcome::Started {
        // s3s always answers RestoreObject with 200; S3 says 202 Accepted for a restore it started.
        resp.extensions.insert(super::StatusOverride(http::StatusCode::ACCEPTED));
    }
    Ok(resp)
}
