//! Access control lists and S3 Object Ownership: the typed model (grantees, permissions, canned ACLs),
//! what a bucket's ownership setting lets a request carry, and who a stored ACL lets read.
//!
//! Grants name users by their user name (the protocol layer turns canonical ids into names and back),
//! so a record stays valid whatever id scheme the wire uses. The model derives serde because bucket,
//! object and upload records store it as is: a record without one decodes as "owner FULL_CONTROL".

use serde::{Deserialize, Serialize};

use super::{Caller, Engine, EngineError, Result};
use crate::store::meta::{BucketRecord, MetaBatch};

/// One permission of an ACL grant, as S3 spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "FULL_CONTROL")]
    FullControl,
    #[serde(rename = "READ")]
    Read,
    #[serde(rename = "WRITE")]
    Write,
    #[serde(rename = "READ_ACP")]
    ReadAcp,
    #[serde(rename = "WRITE_ACP")]
    WriteAcp,
}

impl Permission {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "FULL_CONTROL" => Permission::FullControl,
            "READ" => Permission::Read,
            "WRITE" => Permission::Write,
            "READ_ACP" => Permission::ReadAcp,
            "WRITE_ACP" => Permission::WriteAcp,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::FullControl => "FULL_CONTROL",
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
        }
    }

    /// FULL_CONTROL includes every other permission.
    fn covers(self, wanted: Permission) -> bool {
        self == wanted || self == Permission::FullControl
    }
}

/// S3's predefined groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Group {
    /// Everyone, signed or not.
    AllUsers,
    /// Every signed request from a known user.
    AuthenticatedUsers,
    /// The server access log writer.
    LogDelivery,
}

impl Group {
    pub fn uri(self) -> &'static str {
        match self {
            Group::AllUsers => "http://acs.amazonaws.com/groups/global/AllUsers",
            Group::AuthenticatedUsers => "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
            Group::LogDelivery => "http://acs.amazonaws.com/groups/s3/LogDelivery",
        }
    }

    pub fn from_uri(uri: &str) -> Result<Self> {
        [Group::AllUsers, Group::AuthenticatedUsers, Group::LogDelivery]
            .into_iter()
            .find(|g| g.uri() == uri)
            .ok_or_else(|| EngineError::InvalidArgument("Invalid group uri".into()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Grantee {
    /// A user of this server (S3's CanonicalUser), by user name.
    User {
        name: String,
    },
    Group {
        group: Group,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

impl Grant {
    pub fn user(name: &str, permission: Permission) -> Self {
        Grant { grantee: Grantee::User { name: name.into() }, permission }
    }
    pub fn group(group: Group, permission: Permission) -> Self {
        Grant { grantee: Grantee::Group { group }, permission }
    }
}

/// S3 accepts at most 100 grants in one ACL.
pub const MAX_GRANTS: usize = 100;

/// A resource's grants (its owner is the record's owner, not part of the ACL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub grants: Vec<Grant>,
}

impl Acl {
    /// `private`: the owner has FULL_CONTROL, nobody else anything (also what a record without an
    /// ACL means).
    pub fn private(owner: &str) -> Self {
        Acl { grants: vec![Grant::user(owner, Permission::FullControl)] }
    }

    /// The ACL a canned name stands for, for a resource owned by `owner` in a bucket owned by
    /// `bucket_owner`. Duplicate grants (an owner who also owns the bucket) are dropped.
    pub fn canned(canned: Canned, owner: &str, bucket_owner: &str) -> Self {
        use Permission as P;
        let mut grants = vec![Grant::user(owner, P::FullControl)];
        match canned {
            // The EC2 account aws-exec-read grants READ to does not exist on this server.
            Canned::Private | Canned::AwsExecRead => {}
            Canned::PublicRead => grants.push(Grant::group(Group::AllUsers, P::Read)),
            Canned::PublicReadWrite => {
                grants.push(Grant::group(Group::AllUsers, P::Read));
                grants.push(Grant::group(Group::AllUsers, P::Write));
            }
            Canned::AuthenticatedRead => grants.push(Grant::group(Group::AuthenticatedUsers, P::Read)),
            Canned::BucketOwnerRead => grants.push(Grant::user(bucket_owner, P::Read)),
            Canned::BucketOwnerFullControl => grants.push(Grant::user(bucket_owner, P::FullControl)),
            Canned::LogDeliveryWrite => {
                grants.push(Grant::group(Group::LogDelivery, P::Write));
                grants.push(Grant::group(Group::LogDelivery, P::ReadAcp));
            }
        }
        let mut acl = Acl { grants: Vec::with_capacity(grants.len()) };
        for g in grants {
            if g.grantee == (Grantee::User { name: owner.into() }) && acl.grants.iter().any(|x| x.grantee == g.grantee)
            {
                continue; // the owner's FULL_CONTROL already covers it
            }
            acl.grants.push(g);
        }
        acl
    }

    /// Whether `who` (`None` = an anonymous request) holds `wanted` through this ACL.
    pub fn allows(&self, who: Option<&str>, wanted: Permission) -> bool {
        self.grants.iter().any(|g| {
            g.permission.covers(wanted)
                && match &g.grantee {
                    Grantee::User { name } => who == Some(name.as_str()),
                    Grantee::Group { group: Group::AllUsers } => true,
                    Grantee::Group { group: Group::AuthenticatedUsers } => who.is_some(),
                    Grantee::Group { group: Group::LogDelivery } => false,
                }
        })
    }

    /// Grants nothing but FULL_CONTROL to `owner` (what a bucket with ACLs disabled accepts).
    pub fn is_owner_full_control_only(&self, owner: &str) -> bool {
        !self.grants.is_empty()
            && self
                .grants
                .iter()
                .all(|g| g.permission == Permission::FullControl && g.grantee == Grantee::User { name: owner.into() })
    }
}

/// The canned ACLs (`x-amz-acl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canned {
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
    AwsExecRead,
    BucketOwnerRead,
    BucketOwnerFullControl,
    LogDeliveryWrite,
}

impl Canned {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "private" => Canned::Private,
            "public-read" => Canned::PublicRead,
            "public-read-write" => Canned::PublicReadWrite,
            "authenticated-read" => Canned::AuthenticatedRead,
            "aws-exec-read" => Canned::AwsExecRead,
            "bucket-owner-read" => Canned::BucketOwnerRead,
            "bucket-owner-full-control" => Canned::BucketOwnerFullControl,
            "log-delivery-write" => Canned::LogDeliveryWrite,
            _ => return Err(EngineError::InvalidArgument(String::new())),
        })
    }

    /// On a bucket, the bucket-owner-* ACLs are ignored (the bucket's owner is its owner).
    fn for_bucket(self) -> Self {
        match self {
            Canned::BucketOwnerRead | Canned::BucketOwnerFullControl => Canned::Private,
            other => other,
        }
    }
}

/// The ACL a request asks for: a canned one, or explicit grants (`x-amz-grant-*` headers or an
/// AccessControlPolicy body, already resolved to user names by the protocol layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclRequest {
    Canned(Canned),
    Grants(Vec<Grant>),
}

impl AclRequest {
    /// S3 refuses ACLs with more than 100 grants.
    pub fn validate(&self) -> Result<()> {
        match self {
            AclRequest::Grants(g) if g.len() > MAX_GRANTS => Err(EngineError::MalformedAcl),
            _ => Ok(()),
        }
    }

    /// The ACL this request gives a resource owned by `owner` in a bucket owned by `bucket_owner`.
    pub fn resolve(&self, owner: &str, bucket_owner: &str) -> Acl {
        match self {
            AclRequest::Canned(c) => Acl::canned(*c, owner, bucket_owner),
            AclRequest::Grants(g) => Acl { grants: g.clone() },
        }
    }

    fn for_bucket(self) -> Self {
        match self {
            AclRequest::Canned(c) => AclRequest::Canned(c.for_bucket()),
            other => other,
        }
    }
}

/// S3 Object Ownership (`x-amz-object-ownership`, OwnershipControls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs disabled; the bucket owner owns everything (S3's default for new buckets since 2023).
    #[default]
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    ObjectWriter,
}

impl ObjectOwnership {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "BucketOwnerEnforced" => ObjectOwnership::BucketOwnerEnforced,
            "BucketOwnerPreferred" => ObjectOwnership::BucketOwnerPreferred,
            "ObjectWriter" => ObjectOwnership::ObjectWriter,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }
}

/// The serde default of `BucketRecord::ownership`: buckets stored before Object Ownership existed
/// behave as new ones do (`null` is kept for "controls deleted").
pub fn default_ownership() -> Option<ObjectOwnership> {
    Some(ObjectOwnership::BucketOwnerEnforced)
}

/// Whether a bucket's ACLs are disabled. A bucket whose ownership controls were deleted behaves as
/// ObjectWriter did before Object Ownership existed: ACLs enabled.
pub fn acls_disabled(bucket: &BucketRecord) -> bool {
    bucket.ownership == Some(ObjectOwnership::BucketOwnerEnforced)
}

/// The ACL a new object (PUT, copy, completed upload) is stored with, if its bucket accepts the one
/// the request carries (`None` = private). With ACLs disabled S3 accepts only no ACL, the
/// `bucket-owner-full-control` canned ACL or grants saying the same (FULL_CONTROL to the bucket
/// owner, nothing else); even `private` is refused. Nothing is stored then.
pub fn for_new_object(bucket: &BucketRecord, req: Option<&AclRequest>, writer: &str) -> Result<Option<Acl>> {
    let Some(req) = req else { return Ok(None) };
    req.validate()?;
    if acls_disabled(bucket) {
        let accepted = match req {
            AclRequest::Canned(c) => *c == Canned::BucketOwnerFullControl,
            AclRequest::Grants(g) => Acl { grants: g.clone() }.is_owner_full_control_only(&bucket.owner),
        };
        return if accepted { Ok(None) } else { Err(EngineError::AccessControlListNotSupported) };
    }
    let acl = req.resolve(writer, &bucket.owner);
    Ok((!acl.is_owner_full_control_only(writer)).then_some(acl))
}

/// The Object Ownership and bucket ACL (`None` = private) a CreateBucket starts with. Without
/// `x-amz-object-ownership` a bucket gets BucketOwnerEnforced, except that one created with an ACL
/// (which S3 accepts then only if it is private, as `rclone mkdir` sends) gets BucketOwnerPreferred,
/// as S3 does. An ACL granting anyone else needs ACLs enabled.
pub fn for_new_bucket(
    ownership: Option<ObjectOwnership>,
    req: Option<AclRequest>,
    owner: &str,
) -> Result<(ObjectOwnership, Option<Acl>)> {
    let Some(req) = req else { return Ok((ownership.unwrap_or_default(), None)) };
    req.validate()?;
    let acl = req.for_bucket().resolve(owner, owner);
    let private = acl.is_owner_full_control_only(owner);
    let ownership = match ownership {
        Some(o) => o,
        None if private => ObjectOwnership::BucketOwnerPreferred,
        None => ObjectOwnership::BucketOwnerEnforced,
    };
    if ownership == ObjectOwnership::BucketOwnerEnforced && !private {
        return Err(EngineError::InvalidBucketAclWithObjectOwnership);
    }
    Ok((ownership, (!private).then_some(acl)))
}

/// Whether `user` may read a version owned by `owner` with this ACL (`None` = private).
pub fn readable(acl: Option<&Acl>, owner: &str, user: &str) -> bool {
    owner == user || acl.is_some_and(|a| a.allows(Some(user), Permission::Read))
}

/// What GetBucketAcl / GetObjectAcl report: the owner and the grants in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclView {
    pub owner: String,
    pub acl: Acl,
}

impl Engine {
    pub fn get_bucket_acl(&self, caller: &Caller, bucket: &str) -> Result<AclView> {
        let rec = self.owned_bucket(caller, bucket)?;
        let acl = match (&rec.acl, acls_disabled(&rec)) {
            (Some(acl), false) => acl.clone(),
            _ => Acl::private(&rec.owner),
        };
        Ok(AclView { owner: rec.owner, acl })
    }

    pub async fn put_bucket_acl(&self, caller: &Caller, bucket: &str, req: AclRequest) -> Result<()> {
        self.owned_bucket(caller, bucket)?;
        let _writers = self.bucket_lock(bucket).write().await;
        let mut rec = self.meta.bucket(bucket)?.ok_or(EngineError::NoSuchBucket)?;
        if acls_disabled(&rec) {
            return Err(EngineError::AccessControlListNotSupported);
        }
        req.validate()?;
        let acl = req.for_bucket().resolve(&rec.owner, &rec.owner);
        rec.acl = (!acl.is_owner_full_control_only(&rec.owner)).then_some(acl);
        let mut batch = MetaBatch::new();
        batch.put_bucket(bucket, &rec);
        self.commit(batch).await
    }

    /// The ACL of the current version or the named one. With ACLs disabled, S3 shows the bucket owner
    /// owning the object with FULL_CONTROL whatever ACL the version was stored with.
    pub fn get_object_acl(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&super::versioning::VersionRef>,
    ) -> Result<AclView> {
        let bucket_rec = self.owned_bucket(caller, bucket)?;
        let (rec, _) = self.resolve_version(bucket, key, version)?;
        if acls_disabled(&bucket_rec) {
            return Ok(AclView { acl: Acl::private(&bucket_rec.owner), owner: bucket_rec.owner });
        }
        let acl = rec.acl.clone().unwrap_or_else(|| Acl::private(&rec.owner));
        Ok(AclView { owner: rec.owner, acl })
    }

    /// Replaces the ACL of the current or the named version; returns that version's id.
    pub async fn put_object_acl(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&super::versioning::VersionRef>,
        req: AclRequest,
    ) -> Result<Option<String>> {
        let bucket_rec = self.owned_bucket(caller, bucket)?;
        if acls_disabled(&bucket_rec) {
            return Err(EngineError::AccessControlListNotSupported);
        }
        req.validate()?;
        // Resolved against the version's own owner (canned ACLs name it), under the key lock.
        let rec = self
            .update_version(bucket, key, version, |r| {
                let acl = req.resolve(&r.owner, &bucket_rec.owner);
                r.acl = (!acl.is_owner_full_control_only(&r.owner)).then_some(acl);
            })
            .await?;
        Ok(rec.version_id)
    }

    /// Who to list `bucket` as (ListObjects, ListObjectVersions, HeadBucket): `caller` if they own
    /// it, its owner if ACLs are enabled and the bucket ACL grants `caller` READ; else AccessDenied.
    pub fn bucket_reader(&self, caller: &Caller, bucket: &str) -> Result<Caller> {
        let rec = self.meta.bucket(bucket)?.ok_or(EngineError::NoSuchBucket)?;
        if rec.owner == caller.user {
            return Ok(caller.clone());
        }
        match &rec.acl {
            Some(acl) if !acls_disabled(&rec) && acl.allows(Some(&caller.user), Permission::Read) => {
                Ok(Caller { user: rec.owner })
            }
            _ => Err(EngineError::AccessDenied),
        }
    }

    /// Who to read an object as when `caller` does not own its bucket: the bucket's owner, if ACLs
    /// are enabled and the version's ACL grants `caller` READ. Otherwise AccessDenied, except that
    /// a caller the bucket ACL lets list learns what S3 would tell them (NoSuchKey, NoSuchVersion, a
    /// delete marker). The read that follows must check the version it got with
    /// [`super::object::ObjectInfo::readable_by`]: the key may have been overwritten meanwhile.
    pub fn object_reader(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&super::versioning::VersionRef>,
    ) -> Result<Caller> {
        let rec = self.meta.bucket(bucket)?.ok_or(EngineError::NoSuchBucket)?;
        if rec.owner == caller.user {
            return Ok(caller.clone());
        }
        if acls_disabled(&rec) {
            return Err(EngineError::AccessDenied);
        }
        let lists = rec.acl.as_ref().is_some_and(|a| a.allows(Some(&caller.user), Permission::Read));
        match self.resolve_version(bucket, key, version) {
            Ok((obj, _)) if readable(obj.acl.as_ref(), &obj.owner, &caller.user) => Ok(Caller { user: rec.owner }),
            Ok(_) => Err(EngineError::AccessDenied),
            Err(e @ (EngineError::Io(_) | EngineError::Meta(_))) => Err(e),
            Err(e) if lists => Err(e),
            Err(_) => Err(EngineError::AccessDenied),
        }
    }

    pub fn get_bucket_ownership(&self, caller: &Caller, bucket: &str) -> Result<ObjectOwnership> {
        self.owned_bucket(caller, bucket)?.ownership.ok_or(EngineError::OwnershipControlsNotFound)
    }

    /// PutBucketOwnershipControls (`Some`) / DeleteBucketOwnershipControls (`None`). ACLs cannot be
    /// disabled while the bucket's ACL grants anyone but its owner.
    pub async fn set_bucket_ownership(
        &self,
        caller: &Caller,
        bucket: &str,
        ownership: Option<ObjectOwnership>,
    ) -> Result<()> {
        self.owned_bucket(caller, bucket)?;
        let _writers = self.bucket_lock(bucket).write().await;
        let mut rec = self.meta.bucket(bucket)?.ok_or(EngineError::NoSuchBucket)?;
        if ownership == Some(ObjectOwnership::BucketOwnerEnforced)
            && rec.acl.as_ref().is_some_and(|a| !a.is_owner_full_control_only(&rec.owner))
        {
            return Err(EngineError::InvalidBucketAclWithObjectOwnership);
        }
        rec.ownership = ownership;
        let mut batch = MetaBatch::new();
        batch.put_bucket(bucket, &rec);
        self.commit(batch).await
    }
}
