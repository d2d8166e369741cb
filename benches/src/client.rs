//! Request heads for the load generators' minimal keep-alive HTTP/1.1 clients, signed with common's
//! SigV4 signer over `UNSIGNED-PAYLOAD` (valid for our verifiers; the load pays no body hashing).

/// The request line and headers (each ending in CRLF, without the blank line that ends the head, so the
/// caller can add `Content-Length`) of `method path` to `host`, signed for `service` in us-east-1.
pub fn signed_head(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    service: &str,
    access_key: &str,
    secret: &str,
) -> String {
    let mut builder = http::Request::builder().method(method).uri(format!("http://{host}{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (mut parts, ()) = builder
        .header("x-amz-content-sha256", common::sigv4::UNSIGNED_PAYLOAD)
        .body(())
        .expect("valid request head")
        .into_parts();
    common::sigv4::sign_request(
        &mut parts,
        b"",
        access_key,
        secret,
        "us-east-1",
        service,
        time::OffsetDateTime::now_utc(),
    );
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        head.push_str(name.as_str());
        head.push_str(": ");
        head.push_str(value.to_str().expect("ascii header"));
        head.push_str("\r\n");
    }
    head
}

#[cfg(test)]
mod tests {
    #[test]
    fn head_carries_a_signature_and_the_given_headers() {
        let head = super::signed_head(
            "POST",
            "/",
            "127.0.0.1:1",
            &[("x-amz-target", "DynamoDB_20120810.GetItem")],
            "dynamodb",
            "AK",
            "SK",
        );
        assert!(head.starts_with("POST / HTTP/1.1\r\n"));
        assert!(head.contains("x-amz-target: DynamoDB_20120810.GetItem\r\n"));
        assert!(head.contains("authorization: AWS4-HMAC-SHA256 Credential=AK/"));
        assert!(head.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-target"));
        assert!(head.ends_with("\r\n") && !head.ends_with("\r\n\r\n"));
    }
}
