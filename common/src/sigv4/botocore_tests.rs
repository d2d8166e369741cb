//! Verification of requests built and signed by botocore itself (boto3's dynamodb, ec2 and ebs clients,
//! and botocore's presigner), via `tests/fixtures/botocore_sign.py`.

use std::process::Command;
use std::sync::Arc;

use base64::Engine;
use time::OffsetDateTime;

use super::*;
use crate::credentials::{CredentialStore, SecretKey, User};

struct Signed {
    name: String,
    parts: http::request::Parts,
    body: Vec<u8>,
}

fn botocore_requests(access_key: &str, secret: &str) -> Vec<Signed> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/botocore_sign.py");
    let out = Command::new("python3")
        .arg(script)
        .env("SIGN_ACCESS_KEY", access_key)
        .env("SIGN_SECRET_KEY", secret)
        .output()
        .expect("python3 must be installed (the README's test command installs it)");
    assert!(
        out.status.success(),
        "botocore signer failed (pip install boto3): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let items: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    items
        .into_iter()
        .map(|item| {
            let url: http::Uri = item["url"].as_str().unwrap().parse().unwrap();
            let mut builder = http::Request::builder()
                .method(item["method"].as_str().unwrap())
                .uri(url.path_and_query().unwrap().as_str());
            let mut has_host = false;
            for pair in item["headers"].as_array().unwrap() {
                let (k, v) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
                has_host |= k.eq_ignore_ascii_case("host");
                builder = builder.header(k, v);
            }
            if !has_host {
                // What the HTTP layer adds from the URL when it sends the request.
                builder = builder.header("host", url.authority().unwrap().as_str());
            }
            let body = base64::engine::general_purpose::STANDARD.decode(item["body"].as_str().unwrap()).unwrap();
            let (parts, ()) = builder.body(()).unwrap().into_parts();
            Signed { name: item["name"].as_str().unwrap().into(), parts, body }
        })
        .collect()
}

fn store_with(access_key: &str, secret: &str) -> Arc<CredentialStore> {
    Arc::new(CredentialStore::from_users(vec![
        User { name: "alice".into(), access_key: access_key.into(), secret_key: SecretKey::new(secret) },
        User {
            name: "bob".into(),
            access_key: "AKIABOBBOBBOBBOBBOB1".into(),
            secret_key: SecretKey::new("bob-secret"),
        },
    ]))
}

const AK: &str = "AKIAALICEALICEALICE1";
const SK: &str = "alice/secret+key/0123456789abcdefghijklmn";

fn verifier() -> Verifier {
    Verifier::new(store_with(AK, SK), &["dynamodb", "ec2", "ebs"])
}

#[test]
fn botocore_signed_requests_verify() {
    let v = verifier();
    let requests = botocore_requests(AK, SK);
    assert_eq!(requests.len(), 6);
    for r in &requests {
        let ctx = v.verify(&r.parts, &r.body, OffsetDateTime::now_utc()).unwrap_or_else(|e| panic!("{}: {e}", r.name));
        assert_eq!(ctx.user, "alice", "{}", r.name);
        let expected_region = match r.name.as_str() {
            "ec2-describe-volumes" => "eu-west-3",
            "dynamodb-presigned" => "us-west-2",
            _ => "us-east-1",
        };
        assert_eq!(ctx.region, expected_region, "{}", r.name);
    }
}

#[test]
fn tampering_wrong_secret_skew_and_expiry_are_rejected() {
    let v = verifier();
    let now = OffsetDateTime::now_utc();
    for r in botocore_requests(AK, SK) {
        let presigned = r.name.ends_with("presigned");
        assert!(v.verify(&r.parts, &r.body, now).is_ok(), "{}: the untouched request verifies", r.name);
        if !presigned && !r.body.is_empty() {
            let mut body = r.body.clone();
            body[0] ^= 1;
            assert_eq!(
                v.verify(&r.parts, &body, now),
                Err(AuthError::SignatureMismatch),
                "{}: tampered payload",
                r.name
            );
        }
        let mut tampered = r.parts.clone();
        let uri = format!("{}{}extra=1", tampered.uri, if tampered.uri.query().is_some() { "&" } else { "?" });
        tampered.uri = uri.parse().unwrap();
        assert_eq!(v.verify(&tampered, &r.body, now), Err(AuthError::SignatureMismatch), "{}: tampered query", r.name);

        let wrong_secret = Verifier::new(store_with(AK, "not-the-secret"), &["dynamodb", "ec2", "ebs"]);
        assert_eq!(
            wrong_secret.verify(&r.parts, &r.body, now),
            Err(AuthError::SignatureMismatch),
            "{}: wrong secret",
            r.name
        );

        let unknown = Verifier::new(store_with("AKIAOTHEROTHEROTHER1", SK), &["dynamodb", "ec2", "ebs"]);
        assert_eq!(unknown.verify(&r.parts, &r.body, now), Err(AuthError::UnknownAccessKey), "{}: unknown key", r.name);

        if presigned {
            // Signed with X-Amz-Expires=60.
            let later = now + time::Duration::seconds(120);
            assert_eq!(v.verify(&r.parts, &r.body, later), Err(AuthError::Expired), "{}: expired", r.name);
        } else {
            let skewed = now + time::Duration::minutes(20);
            assert!(
                matches!(v.verify(&r.parts, &r.body, skewed), Err(AuthError::TimeTooSkewed { .. })),
                "{}: skew",
                r.name
            );
            let early = now - time::Duration::minutes(20);
            assert!(
                matches!(v.verify(&r.parts, &r.body, early), Err(AuthError::TimeTooSkewed { .. })),
                "{}: skew",
                r.name
            );
        }
    }
}

#[test]
fn wrong_service_and_missing_auth_are_rejected() {
    let only_kms = Verifier::new(store_with(AK, SK), &["kms"]);
    let r = &botocore_requests(AK, SK)[0];
    assert!(matches!(
        only_kms.verify(&r.parts, &r.body, OffsetDateTime::now_utc()),
        Err(AuthError::WrongService { .. })
    ));
    let (bare, ()) = http::Request::post("/").body(()).unwrap().into_parts();
    assert_eq!(verifier().verify(&bare, b"", OffsetDateTime::now_utc()), Err(AuthError::Missing));
}

#[test]
fn declared_payload_hash_must_match_the_body() {
    let (mut parts, ()) = http::Request::post("http://127.0.0.1:8000/")
        .header("content-type", "application/x-amz-json-1.0")
        .body(())
        .unwrap()
        .into_parts();
    let body = br#"{"TableName":"t"}"#;
    parts.headers.insert("x-amz-content-sha256", hex_sha256(body).parse().unwrap());
    sign_request(&mut parts, body, AK, SK, "us-east-1", "dynamodb", OffsetDateTime::now_utc());
    let v = verifier();
    assert!(v.verify(&parts, body, OffsetDateTime::now_utc()).is_ok());
    assert_eq!(
        v.verify(&parts, br#"{"TableName":"u"}"#, OffsetDateTime::now_utc()),
        Err(AuthError::PayloadHashMismatch)
    );
}

#[test]
fn presign_expiry_bound_is_enforced() {
    let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAALICEALICEALICE1%2F20261126%2Fus-east-1%2Fec2%2Faws4_request&X-Amz-Date=20261126T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
    let (parts, ()) = http::Request::get(format!("/?{query}")).header("host", "x").body(()).unwrap().into_parts();
    assert!(matches!(verifier().verify(&parts, b"", OffsetDateTime::now_utc()), Err(AuthError::InvalidExpires(_))));
}

#[test]
fn our_signer_agrees_with_our_verifier() {
    let (mut parts, ()) =
        http::Request::post("http://127.0.0.1:9100/snapshots/snap-1/blocks?a=b%20c").body(()).unwrap().into_parts();
    let now = OffsetDateTime::now_utc();
    sign_request(&mut parts, b"body", AK, SK, "us-east-1", "ebs", now);
    parts.uri = "/snapshots/snap-1/blocks?a=b%20c".parse().unwrap();
    assert_eq!(verifier().verify(&parts, b"body", now).unwrap().service, "ebs");
}

#[test]
fn our_signer_signs_a_declared_unsigned_payload() {
    let (mut parts, ()) = http::Request::post("http://127.0.0.1:8000/").body(()).unwrap().into_parts();
    parts.headers.insert("x-amz-content-sha256", UNSIGNED_PAYLOAD.parse().unwrap());
    let now = OffsetDateTime::now_utc();
    sign_request(&mut parts, b"", AK, SK, "us-east-1", "dynamodb", now);
    parts.uri = "/".parse().unwrap();
    assert!(verifier().verify(&parts, br#"{"any":"body"}"#, now).is_ok());
}
