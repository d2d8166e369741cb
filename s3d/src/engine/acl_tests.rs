//! The ACL model and the Object Ownership rules against the engine (see `acl`).

use super::acl::*;
use super::object::PutRequest;
use super::testing::*;
use super::versioning::{VersionRef, Versioning};
use super::{Caller, EngineError};

#[test]
fn canned_acls_expand_as_s3_documents() {
    use Permission as P;
    let acl = Acl::canned(Canned::PublicRead, "alice", "alice");
    assert_eq!(acl.grants, vec![Grant::user("alice", P::FullControl), Grant::group(Group::AllUsers, P::Read)]);
    let acl = Acl::canned(Canned::BucketOwnerFullControl, "alice", "alice");
    assert!(acl.is_owner_full_control_only("alice"), "the owner's grant is not repeated: {acl:?}");
    let acl = Acl::canned(Canned::BucketOwnerRead, "bob", "alice");
    assert_eq!(acl.grants, vec![Grant::user("bob", P::FullControl), Grant::user("alice", P::Read)]);
    let acl = Acl::canned(Canned::LogDeliveryWrite, "alice", "alice");
    assert_eq!(acl.grants.len(), 3);
    assert!(matches!(Canned::parse("public"), Err(EngineError::InvalidArgument(_))));
    assert_eq!(Canned::parse("authenticated-read").unwrap(), Canned::AuthenticatedRead);
}

#[test]
fn grants_decide_who_reads() {
    use Permission as P;
    let public = Acl::canned(Canned::PublicRead, "alice", "alice");
    assert!(public.allows(None, P::Read) && public.allows(Some("bob"), P::Read));
    assert!(!public.allows(Some("bob"), P::Write) && !public.allows(Some("bob"), P::ReadAcp));
    assert!(public.allows(Some("alice"), P::WriteAcp), "FULL_CONTROL covers every permission");
    let auth = Acl::canned(Canned::AuthenticatedRead, "alice", "alice");
    assert!(auth.allows(Some("bob"), P::Read) && !auth.allows(None, P::Read));
    let log = Acl::canned(Canned::LogDeliveryWrite, "alice", "alice");
    assert!(!log.allows(Some("bob"), P::Write) && !log.allows(None, P::Write));
    let bob = Acl { grants: vec![Grant::user("bob", P::Read)] };
    assert!(bob.allows(Some("bob"), P::Read) && !bob.allows(Some("carol"), P::Read));
    assert!(!Acl::private("alice").allows(Some("bob"), P::Read));
}

fn put(acl: Option<AclRequest>) -> PutRequest {
    PutRequest { acl, ..Default::default() }
}

#[tokio::test]
async fn new_buckets_disable_acls_but_accept_owner_full_control() {
    let e = engine();
    e.create_bucket(&alice(), "bkt", None).await.unwrap();
    assert_eq!(e.get_bucket_ownership(&alice(), "bkt").unwrap(), ObjectOwnership::BucketOwnerEnforced);
    let public = AclRequest::Canned(Canned::PublicRead);
    assert!(matches!(
        e.put_object(&alice(), "bkt", "k", body(b"x"), put(Some(public.clone())), None).await,
        Err(EngineError::AccessControlListNotSupported)
    ));
    assert!(matches!(
        e.put_object(&alice(), "bkt", "k", body(b"x"), put(Some(AclRequest::Canned(Canned::Private))), None).await,
        Err(EngineError::AccessControlListNotSupported)
    ));
    let bofc = AclRequest::Canned(Canned::BucketOwnerFullControl);
    e.put_object(&alice(), "bkt", "k", body(b"x"), put(Some(bofc)), None).await.unwrap();
    let view = e.get_object_acl(&alice(), "bkt", "k", None).unwrap();
    assert_eq!(view, AclView { owner: "alice".into(), acl: Acl::private("alice") });
    assert!(matches!(
        e.put_object_acl(&alice(), "bkt", "k", None, AclRequest::Canned(Canned::Private)).await,
        Err(EngineError::AccessControlListNotSupported)
    ));
    assert!(matches!(
        e.put_bucket_acl(&alice(), "bkt", public.clone()).await,
        Err(EngineError::AccessControlListNotSupported)
    ));
    assert!(matches!(
        e.create_bucket_with(&alice(), "cee", None, None, Some(public.clone())).await,
        Err(EngineError::InvalidBucketAclWithObjectOwnership)
    ));
    e.create_bucket_with(&alice(), "cee", None, None, Some(AclRequest::Canned(Canned::Private))).await.unwrap();
    assert_eq!(e.get_bucket_ownership(&alice(), "cee").unwrap(), ObjectOwnership::BucketOwnerPreferred);
    let enforced = Some(ObjectOwnership::BucketOwnerEnforced);
    e.create_bucket_with(&alice(), "dee", None, enforced, Some(AclRequest::Canned(Canned::Private))).await.unwrap();
    assert_eq!(e.get_bucket_ownership(&alice(), "dee").unwrap(), ObjectOwnership::BucketOwnerEnforced);
    e.set_bucket_ownership(&alice(), "cee", None).await.unwrap();
    assert!(matches!(e.get_bucket_ownership(&alice(), "cee"), Err(EngineError::OwnershipControlsNotFound)));
    // Without controls ACLs are enabled again, and a public bucket cannot go back to enforced.
    e.put_bucket_acl(&alice(), "cee", public).await.unwrap();
    assert!(matches!(
        e.set_bucket_ownership(&alice(), "cee", Some(ObjectOwnership::BucketOwnerEnforced)).await,
        Err(EngineError::InvalidBucketAclWithObjectOwnership)
    ));
    let bob = Caller { user: "bob".into() };
    assert!(matches!(e.get_bucket_acl(&bob, "cee"), Err(EngineError::AccessDenied)));
}

#[tokio::test]
async fn object_acls_belong_to_their_version() {
    let e = engine();
    let writer = Some(ObjectOwnership::ObjectWriter);
    e.create_bucket_with(&alice(), "ver", None, writer, None).await.unwrap();
    e.put_bucket_versioning(&alice(), "ver", Versioning::Enabled).await.unwrap();
    let v1 = e.put_object(&alice(), "ver", "k", body(b"1"), put(None), None).await.unwrap().version_id.unwrap();
    let public = AclRequest::Canned(Canned::PublicRead);
    let v2 = e.put_object(&alice(), "ver", "k", body(b"2"), put(Some(public)), None).await.unwrap();
    let v2 = v2.version_id.unwrap();
    let v1r = VersionRef::Id(v1.clone());
    assert_eq!(e.get_object_acl(&alice(), "ver", "k", Some(&v1r)).unwrap().acl, Acl::private("alice"));
    assert_eq!(e.get_object_acl(&alice(), "ver", "k", None).unwrap().acl.grants.len(), 2);
    let bob_reads = AclRequest::Grants(vec![Grant::user("bob", Permission::Read)]);
    let set = e.put_object_acl(&alice(), "ver", "k", Some(&v1r), bob_reads).await.unwrap();
    assert_eq!(set, Some(v1.clone()));
    let got = e.get_object_acl(&alice(), "ver", "k", Some(&v1r)).unwrap().acl;
    assert_eq!(got.grants, vec![Grant::user("bob", Permission::Read)]);
    assert_eq!(e.get_object_acl(&alice(), "ver", "k", None).unwrap().acl.grants.len(), 2, "v2 unchanged");
    let unknown = VersionRef::Id(format!("{:024x}", 7));
    assert!(matches!(e.get_object_acl(&alice(), "ver", "k", Some(&unknown)), Err(EngineError::NoSuchVersion)));
    let marker = e.delete_object(&alice(), "ver", "k", None).await.unwrap().version_id.unwrap();
    let marker = VersionRef::Id(marker);
    assert!(matches!(
        e.get_object_acl(&alice(), "ver", "k", Some(&marker)),
        Err(EngineError::VersionIsDeleteMarker { .. })
    ));
    assert!(matches!(
        e.put_object_acl(&alice(), "ver", "k", Some(&marker), AclRequest::Canned(Canned::Private)).await,
        Err(EngineError::VersionIsDeleteMarker { .. })
    ));
    assert!(matches!(e.get_object_acl(&alice(), "ver", "k", None), Err(EngineError::LatestIsDeleteMarker { .. })));
    let v2r = VersionRef::Id(v2);
    assert_eq!(e.get_object_acl(&alice(), "ver", "k", Some(&v2r)).unwrap().acl.grants.len(), 2);
    // Disabling ACLs hides stored ones (the owner has FULL_CONTROL) without losing them.
    e.set_bucket_ownership(&alice(), "ver", Some(ObjectOwnership::BucketOwnerEnforced)).await.unwrap();
    assert_eq!(e.get_object_acl(&alice(), "ver", "k", Some(&v2r)).unwrap().acl, Acl::private("alice"));
    e.set_bucket_ownership(&alice(), "ver", Some(ObjectOwnership::BucketOwnerPreferred)).await.unwrap();
    assert_eq!(e.get_object_acl(&alice(), "ver", "k", Some(&v2r)).unwrap().acl.grants.len(), 2);
}

#[tokio::test]
async fn object_read_grants_let_others_read_as_the_owner() {
    let e = engine();
    let bob = Caller { user: "bob".into() };
    e.create_bucket(&alice(), "enf", None).await.unwrap();
    e.put_object(&alice(), "enf", "k", body(b"x"), put(None), None).await.unwrap();
    assert!(matches!(e.object_reader(&bob, "enf", "k", None), Err(EngineError::AccessDenied)));
    assert_eq!(e.object_reader(&alice(), "enf", "k", None).unwrap(), alice());

    e.create_bucket_with(&alice(), "open", None, Some(ObjectOwnership::ObjectWriter), None).await.unwrap();
    let public = Some(AclRequest::Canned(Canned::PublicRead));
    e.put_object(&alice(), "open", "pub", body(b"x"), put(public), None).await.unwrap();
    e.put_object(&alice(), "open", "priv", body(b"x"), put(None), None).await.unwrap();
    let to_bob = AclRequest::Grants(vec![Grant::user("bob", Permission::Read)]);
    e.put_object(&alice(), "open", "bob", body(b"x"), put(Some(to_bob)), None).await.unwrap();
    assert_eq!(e.object_reader(&bob, "open", "pub", None).unwrap(), alice());
    assert_eq!(e.object_reader(&bob, "open", "bob", None).unwrap(), alice());
    let carol = Caller { user: "carol".into() };
    assert!(matches!(e.object_reader(&carol, "open", "bob", None), Err(EngineError::AccessDenied)));
    assert!(matches!(e.object_reader(&bob, "open", "priv", None), Err(EngineError::AccessDenied)));
    assert!(matches!(e.object_reader(&bob, "open", "none", None), Err(EngineError::AccessDenied)));
    assert!(matches!(e.bucket_reader(&bob, "open"), Err(EngineError::AccessDenied)));
    // Whoever may list the bucket learns that a key does not exist.
    e.put_bucket_acl(&alice(), "open", AclRequest::Canned(Canned::AuthenticatedRead)).await.unwrap();
    assert_eq!(e.bucket_reader(&bob, "open").unwrap(), alice());
    assert!(matches!(e.object_reader(&bob, "open", "none", None), Err(EngineError::NoSuchKey)));
    assert!(matches!(e.object_reader(&bob, "open", "priv", None), Err(EngineError::AccessDenied)));
    // Disabling ACLs takes every grant away.
    e.put_bucket_acl(&alice(), "open", AclRequest::Canned(Canned::Private)).await.unwrap();
    e.set_bucket_ownership(&alice(), "open", Some(ObjectOwnership::BucketOwnerEnforced)).await.unwrap();
    assert!(matches!(e.object_reader(&bob, "open", "pub", None), Err(EngineError::AccessDenied)));
    assert!(matches!(e.bucket_reader(&bob, "open"), Err(EngineError::AccessDenied)));
    assert!(matches!(e.bucket_reader(&bob, "nope"), Err(EngineError::NoSuchBucket)));
    let info = e.head_object(&alice(), "open", "bob", None, &Default::default(), None, None).unwrap().0;
    assert!(info.readable_by("bob") && info.readable_by("alice") && !info.readable_by("carol"));
}
