//! ACL and Object Ownership operations, and the translation between s3s's ACL DTOs (canned ACL,
//! `x-amz-grant-*` headers, AccessControlPolicy XML) and the engine's model. Grantees travel as
//! canonical ids on the wire and are stored as user names: an id is resolved against the users of
//! the credential store.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};
use sha2::Digest;

use super::convert::{self, version};
use super::errors::to_s3;
use super::service::S3Api;
use crate::engine::EngineError;
use crate::engine::acl::{self as model, AclRequest, AclView, Canned, Group, ObjectOwnership, Permission};

/// The `x-amz-grant-*` headers of a request.
pub(crate) type GrantHeaders<'a> = [(Permission, Option<&'a str>)];

/// [`acl_request`] of an input DTO with `acl` and the `grant_*` fields. PutObject, CopyObject and
/// CreateMultipartUpload have no `grant_write`; CreateBucket has; the `?acl` PUTs add their body.
macro_rules! acl_request_of {
    ($api:expr, $input:expr) => {
        $crate::protocol::acl::acl_request_of!(@ $api, $input, None, None)
    };
    ($api:expr, $input:expr, grant_write, $body:expr) => {
        $crate::protocol::acl::acl_request_of!(@ $api, $input, $input.grant_write.as_deref(), $body)
    };
    (@ $api:expr, $input:expr, $write:expr, $body:expr) => {{
        let i = &$input;
        $crate::protocol::acl::acl_request(
            &$api,
            i.acl.as_ref().map(|a| a.as_str()),
            &[
                ($crate::engine::acl::Permission::FullControl, i.grant_full_control.as_deref()),
                ($crate::engine::acl::Permission::Read, i.grant_read.as_deref()),
                ($crate::engine::acl::Permission::Write, $write),
                ($crate::engine::acl::Permission::ReadAcp, i.grant_read_acp.as_deref()),
                ($crate::engine::acl::Permission::WriteAcp, i.grant_write_acp.as_deref()),
            ],
            $body,
        )
    }};
}
pub(crate) use acl_request_of;

/// The ACL a request carries, if any: S3 takes exactly one of a canned ACL, grant headers or (for the
/// `?acl` operations) an AccessControlPolicy body.
pub(crate) fn acl_request(
    api: &S3Api,
    canned: Option<&str>,
    headers: &GrantHeaders<'_>,
    body: Option<&AccessControlPolicy>,
) -> S3Result<Option<AclRequest>> {
    let any_header = headers.iter().any(|(_, v)| v.is_some());
    if canned.is_some() && any_header {
        return Err(s3s::s3_error!(InvalidRequest, "Specifying both Canned ACLs and Header Grants is not allowed"));
    }
    if body.is_some() && (canned.is_some() || any_header) {
        return Err(to_s3(EngineError::UnexpectedContent));
    }
    if let Some(c) = canned {
        return Ok(Some(AclRequest::Canned(Canned::parse(c).map_err(to_s3)?)));
    }
    if any_header {
        let mut grants = Vec::new();
        for &(permission, value) in headers {
            if let Some(v) = value {
                for grantee in parse_grant_header(v).map_err(to_s3)? {
                    grants.push(model::Grant { grantee: resolve(api, grantee).map_err(to_s3)?, permission });
                }
            }
        }
        return Ok(Some(AclRequest::Grants(grants)));
    }
    match body {
        Some(policy) => Ok(Some(AclRequest::Grants(policy_grants(api, policy).map_err(to_s3)?))),
        None => Ok(None),
    }
}

/// A grantee as a request names it, before it is resolved to a user.
#[derive(Debug, PartialEq, Eq)]
enum NamedGrantee {
    Id(String),
    Uri(String),
    Email(String),
}

/// `id="…", uri="…", emailAddress="…"` (a comma-separated list; quotes optional).
fn parse_grant_header(value: &str) -> Result<Vec<NamedGrantee>, EngineError> {
    let bad = || EngineError::InvalidArgument("Argument format not recognized".into());
    let mut out = Vec::new();
    for item in value.split(',') {
        let (k, v) = item.trim().split_once('=').ok_or_else(bad)?;
        let v = v.trim();
        let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v).to_string();
        if v.is_empty() {
            return Err(bad());
        }
        out.push(match k.trim() {
            "id" => NamedGrantee::Id(v),
            "uri" => NamedGrantee::Uri(v),
            "emailAddress" => NamedGrantee::Email(v),
            _ => return Err(bad()),
        });
    }
    Ok(out)
}

/// The canonical id S3 shows for a user (the one ListBuckets reports as the owner's ID).
fn canonical_id(user: &str) -> String {
    hex::encode(sha2::Sha256::digest(user.as_bytes()))
}

fn resolve(api: &S3Api, grantee: NamedGrantee) -> Result<model::Grantee, EngineError> {
    match grantee {
        NamedGrantee::Id(id) => api
            .credentials
            .users()
            .iter()
            .find(|u| canonical_id(&u.name) == id.to_ascii_lowercase())
            .map(|u| model::Grantee::User { name: u.name.clone() })
            .ok_or_else(|| EngineError::InvalidArgument("Invalid id".into())),
        NamedGrantee::Uri(uri) => Ok(model::Grantee::Group { group: Group::from_uri(&uri)? }),
        // Users of this server have no e-mail addresses.
        NamedGrantee::Email(_) => Err(EngineError::UnresolvableGrantByEmailAddress),
    }
}

fn policy_grants(api: &S3Api, policy: &AccessControlPolicy) -> Result<Vec<model::Grant>, EngineError> {
    let mut out = Vec::new();
    for g in policy.grants.iter().flatten() {
        let grantee = g.grantee.as_ref().ok_or(EngineError::MalformedAcl)?;
        let permission =
            g.permission.as_ref().and_then(|p| Permission::parse(p.as_str())).ok_or(EngineError::MalformedAcl)?;
        let named = match grantee.type_.as_str() {
            Type::CANONICAL_USER => NamedGrantee::Id(grantee.id.clone().ok_or(EngineError::MalformedAcl)?),
            Type::GROUP => NamedGrantee::Uri(grantee.uri.clone().ok_or(EngineError::MalformedAcl)?),
            Type::AMAZON_CUSTOMER_BY_EMAIL => {
                NamedGrantee::Email(grantee.email_address.clone().ok_or(EngineError::MalformedAcl)?)
            }
            _ => return Err(EngineError::MalformedAcl),
        };
        out.push(model::Grant { grantee: resolve(api, named)?, permission });
    }
    Ok(out)
}

/// The Owner and Grants of a GetBucketAcl / GetObjectAcl answer.
fn view_out(view: &AclView) -> (Owner, Grants) {
    let grants = view
        .acl
        .grants
        .iter()
        .map(|g| Grant {
            grantee: Some(match &g.grantee {
                model::Grantee::User { name } => Grantee {
                    display_name: Some(name.clone()),
                    email_address: None,
                    id: Some(canonical_id(name)),
                    type_: Type::from_static(Type::CANONICAL_USER),
                    uri: None,
                },
                model::Grantee::Group { group } => Grantee {
                    display_name: None,
                    email_address: None,
                    id: None,
                    type_: Type::from_static(Type::GROUP),
                    uri: Some(group.uri().to_string()),
                },
            }),
            permission: Some(s3s::dto::Permission::from(g.permission.as_str().to_string())),
        })
        .collect();
    (convert::owner(&view.owner), grants)
}

/// `?acl` PUTs need an ACL in one of the three forms.
fn required(req: Option<AclRequest>) -> S3Result<AclRequest> {
    req.ok_or_else(|| to_s3(EngineError::MissingSecurityHeader))
}

pub async fn get_bucket_acl(
    api: &S3Api,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let caller = api.caller(&req)?;
    let view = api.engine.get_bucket_acl(&caller, &req.input.bucket).map_err(to_s3)?;
    let (owner, grants) = view_out(&view);
    Ok(S3Response::new(GetBucketAclOutput { grants: Some(grants), owner: Some(owner) }))
}

pub async fn put_bucket_acl(
    api: &S3Api,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let acl = acl_request_of!(api, input, grant_write, input.access_control_policy.as_ref())?;
    api.engine.put_bucket_acl(&caller, &input.bucket, required(acl)?).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketAclOutput::default()))
}

pub async fn get_object_acl(
    api: &S3Api,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let caller = api.caller(&req)?;
    let version = version(req.input.version_id.as_deref())?;
    let view =
        api.engine.get_object_acl(&caller, &req.input.bucket, &req.input.key, version.as_ref()).map_err(to_s3)?;
    let (owner, grants) = view_out(&view);
    Ok(S3Response::new(GetObjectAclOutput { grants: Some(grants), owner: Some(owner), ..Default::default() }))
}

pub async fn put_object_acl(
    api: &S3Api,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let version = version(input.version_id.as_deref())?;
    let acl = acl_request_of!(api, input, grant_write, input.access_control_policy.as_ref())?;
    api.engine
        .put_object_acl(&caller, &input.bucket, &input.key, version.as_ref(), required(acl)?)
        .await
        .map_err(to_s3)?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}

pub async fn get_bucket_ownership_controls(
    api: &S3Api,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    let caller = api.caller(&req)?;
    let ownership = api.engine.get_bucket_ownership(&caller, &req.input.bucket).map_err(to_s3)?;
    let rule = OwnershipControlsRule { object_ownership: s3s::dto::ObjectOwnership::from_static(ownership.as_str()) };
    Ok(S3Response::new(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls { rules: vec![rule] }),
    }))
}

pub async fn put_bucket_ownership_controls(
    api: &S3Api,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    // Exactly one rule with one of the three settings.
    let ownership = match input.ownership_controls.rules.as_slice() {
        [rule] => ObjectOwnership::parse(rule.object_ownership.as_str()),
        _ => None,
    }
    .ok_or_else(|| to_s3(EngineError::MalformedXml))?;
    api.engine.set_bucket_ownership(&caller, &input.bucket, Some(ownership)).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketOwnershipControlsOutput::default()))
}

pub async fn delete_bucket_ownership_controls(
    api: &S3Api,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    let caller = api.caller(&req)?;
    api.engine.set_bucket_ownership(&caller, &req.input.bucket, None).await.map_err(to_s3)?;
    let mut resp = S3Response::new(DeleteBucketOwnershipControlsOutput::default());
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

/// `x-amz-object-ownership` on CreateBucket.
pub(crate) fn ownership_in(o: Option<&s3s::dto::ObjectOwnership>) -> S3Result<Option<ObjectOwnership>> {
    o.map(|o| {
        ObjectOwnership::parse(o.as_str())
            .ok_or_else(|| s3s::s3_error!(InvalidArgument, "Invalid x-amz-object-ownership header: {}", o.as_str()))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_headers_parse_as_s3_writes_them() {
        let got =
            parse_grant_header(r#"id="abc", uri="http://acs.amazonaws.com/groups/global/AllUsers",emailAddress=x@y.z"#)
                .unwrap();
        assert_eq!(
            got,
            vec![
                NamedGrantee::Id("abc".into()),
                NamedGrantee::Uri("http://acs.amazonaws.com/groups/global/AllUsers".into()),
                NamedGrantee::Email("x@y.z".into()),
            ]
        );
        assert!(parse_grant_header("nonsense").is_err());
        assert!(parse_grant_header("name=\"a\"").is_err());
        assert!(parse_grant_header("id=\"\"").is_err());
    }
}
