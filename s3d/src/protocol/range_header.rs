//! The `Range` header as S3 reads it. S3 is more forgiving than s3s, which answers 400 InvalidArgument
//! for any range it cannot parse: S3 ignores a range it cannot use (another unit, several ranges,
//! garbage, `last` before `first`, `bytes=-`) and sends the whole object with 200. Only a well-formed
//! range that starts past the end (or `bytes=-0`) is 416 InvalidRange, which the engine decides.
//!
//! s3s checks signatures over the headers as received, so a `Range` the client signed is left as it
//! is (SDKs only send well-formed ranges). Unsigned ones, from presigned URLs, browsers, media players
//! and curl, are put in the form s3s reads before it sees them.

use axum::extract::Request;
use http::header::{AUTHORIZATION, RANGE};
use http::{HeaderValue, Method};

/// What S3 makes of a `Range` header value.
#[derive(Debug, PartialEq, Eq)]
enum Reading {
    /// s3s reads it as S3 does.
    Keep,
    /// S3 ignores it: the whole object, 200.
    Ignore,
    /// S3 reads it as this (numbers past what s3s parses, clamped: the outcome is the same).
    Replace(String),
}

/// Positions past this are refused by s3s; no object is that large, so clamping changes nothing.
const MAX_POSITION: u64 = i64::MAX as u64;

fn read(value: &[u8]) -> Reading {
    let Some(spec) = value.strip_prefix(b"bytes=") else { return Reading::Ignore };
    if spec.contains(&b',') {
        return Reading::Ignore;
    }
    let Some(dash) = spec.iter().position(|&b| b == b'-') else { return Reading::Ignore };
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    if !first.iter().chain(last).all(u8::is_ascii_digit) || (first.is_empty() && last.is_empty()) {
        return Reading::Ignore;
    }
    // All digits: only overflow can fail, and an overflowing position is past any object.
    let number = |digits: &[u8]| -> Option<u64> {
        let parsed = std::str::from_utf8(digits).ok().and_then(|d| d.parse::<u64>().ok());
        (!digits.is_empty()).then(|| parsed.unwrap_or(u64::MAX))
    };
    match (number(first), number(last)) {
        (Some(first), Some(last)) if last < first => Reading::Ignore,
        (Some(first), last) if first > MAX_POSITION || last.is_some_and(|l| l > MAX_POSITION) => {
            let first = first.min(MAX_POSITION);
            match last {
                Some(last) => Reading::Replace(format!("bytes={first}-{}", last.min(MAX_POSITION))),
                None => Reading::Replace(format!("bytes={first}-")),
            }
        }
        (None, Some(length)) if length > MAX_POSITION => Reading::Replace(format!("bytes=-{MAX_POSITION}")),
        _ => Reading::Keep,
    }
}

/// Whether the request's signature covers its `Range` header (SigV4 header or presigned form; SigV2
/// never signs it).
fn range_is_signed(req: &Request) -> bool {
    let names_range = |list: &str| list.split(';').any(|h| h.trim().eq_ignore_ascii_case("range"));
    if let Some(auth) = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(rest) = auth.split_once("SignedHeaders=").map(|(_, r)| r)
    {
        return names_range(rest.split(',').next().unwrap_or(""));
    }
    let query = req.uri().query().unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "X-Amz-SignedHeaders")
        .is_some_and(|(_, v)| names_range(&v))
}

/// `req` with an unsigned `Range` header on a GET or HEAD in the form S3 would read it.
pub fn normalize(mut req: Request) -> Request {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return req;
    }
    let reading = match req.headers().get_all(RANGE).iter().count() {
        0 => return req,
        1 => read(req.headers()[RANGE].as_bytes()),
        _ => Reading::Ignore,
    };
    if reading == Reading::Keep || range_is_signed(&req) {
        return req;
    }
    match reading {
        Reading::Replace(value) => {
            req.headers_mut().insert(RANGE, HeaderValue::from_str(&value).expect("ascii range"));
        }
        _ => {
            req.headers_mut().remove(RANGE);
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[test]
    fn ranges_s3_reads_are_kept() {
        for r in ["bytes=0-4", "bytes=5-", "bytes=-3", "bytes=-0", "bytes=10-", "bytes=0-0", "bytes=007-9"] {
            assert_eq!(read(r.as_bytes()), Reading::Keep, "{r}");
        }
    }

    #[test]
    fn ranges_s3_ignores_are_ignored() {
        for r in [
            "bytes=5-3",
            "bytes=0-1,3-4",
            "bytes=abc",
            "bytes=-",
            "items=0-1",
            "bytes=0-1x",
            "bytes= 0-1",
            "bytes=0",
            "",
            "bytes=",
            "Bytes=0-1",
            "bytes=1-2-3",
            "bytes=+1-2",
        ] {
            assert_eq!(read(r.as_bytes()), Reading::Ignore, "{r}");
        }
    }

    #[test]
    fn positions_too_large_for_s3s_are_clamped() {
        let huge = "99999999999999999999999";
        assert_eq!(read(format!("bytes={huge}-").as_bytes()), Reading::Replace(format!("bytes={MAX_POSITION}-")));
        assert_eq!(read(format!("bytes=0-{huge}").as_bytes()), Reading::Replace(format!("bytes=0-{MAX_POSITION}")));
        assert_eq!(read(format!("bytes=-{huge}").as_bytes()), Reading::Replace(format!("bytes=-{MAX_POSITION}")));
        assert_eq!(read(format!("bytes={huge}-5").as_bytes()), Reading::Ignore);
    }

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = http::Request::builder().method("GET").uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn only_unsigned_ranges_are_rewritten() {
        let sigv4 = |signed: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature=00"
            )
        };
        let unsigned =
            normalize(request("/b/k", &[("range", "bytes=5-3"), ("authorization", &sigv4("host;x-amz-date"))]));
        assert!(unsigned.headers().get(RANGE).is_none());
        let signed =
            normalize(request("/b/k", &[("range", "bytes=5-3"), ("authorization", &sigv4("host;range;x-amz-date"))]));
        assert_eq!(signed.headers()[RANGE], "bytes=5-3");
        let presigned = normalize(request("/b/k?X-Amz-SignedHeaders=host%3Brange", &[("range", "bytes=5-3")]));
        assert_eq!(presigned.headers()[RANGE], "bytes=5-3");
        let presigned = normalize(request("/b/k?X-Amz-SignedHeaders=host", &[("range", "bytes=0-1,4-5")]));
        assert!(presigned.headers().get(RANGE).is_none());
        let kept = normalize(request("/b/k", &[("range", "bytes=0-1")]));
        assert_eq!(kept.headers()[RANGE], "bytes=0-1");
        let twice = normalize(request("/b/k", &[("range", "bytes=0-1"), ("range", "bytes=2-3")]));
        assert!(twice.headers().get(RANGE).is_none());
    }
}
