//! Criterion micro-benchmarks of common's hot paths: SigV4 verification (every API request pays it) and
//! token-bucket admission (every EBS I/O and DynamoDB request pays it).

use std::sync::Arc;

use common::credentials::{CredentialStore, SecretKey, User};
use common::sigv4::{Verifier, sign_request};
use common::token_bucket::TokenBucket;
use criterion::{Criterion, black_box, criterion_group, criterion_main};

const AK: &str = "AKIABENCHBENCHBENCH1";
const SK: &str = "bench/secret/key/0123456789abcdefghijklmn";

fn sigv4(c: &mut Criterion) {
    let store = Arc::new(CredentialStore::from_users(vec![User {
        name: "bench".into(),
        access_key: AK.into(),
        secret_key: SecretKey::new(SK),
    }]));
    let verifier = Verifier::new(store, &["dynamodb"]);
    let body = br#"{"TableName":"usertable","Key":{"pk":{"S":"user1234"}}}"#;
    let (mut parts, ()) = http::Request::post("http://127.0.0.1:8000/")
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "DynamoDB_20120810.GetItem")
        .body(())
        .unwrap()
        .into_parts();
    let now = time::OffsetDateTime::now_utc();
    sign_request(&mut parts, body, AK, SK, "us-east-1", "dynamodb", now);
    parts.uri = "/".parse().unwrap();
    c.bench_function("sigv4_verify_dynamodb_getitem", |b| {
        b.iter(|| verifier.verify(black_box(&parts), black_box(body), now).unwrap())
    });
}

fn token_bucket(c: &mut Criterion) {
    let mut bucket = TokenBucket::full(16_000, 16_000 * 300, 0);
    let mut now = 0u64;
    c.bench_function("token_bucket_try_acquire", |b| {
        b.iter(|| {
            now += 62_500; // 16,000 requests per second
            black_box(bucket.try_acquire(1, now)).ok();
        })
    });
}

criterion_group!(benches, sigv4, token_bucket);
criterion_main!(benches);
