//! Every request body, watched: it fails after [`IDLE_TIMEOUT`] without a byte, and how it failed is
//! remembered so the answer can say so. s3s reads XML bodies (CompleteMultipartUpload, DeleteObjects,
//! the bucket configurations) itself, with no timeout, and calls any failure to read one an
//! InternalError, a body that does not match its `x-amz-content-sha256` included. S3 answers
//! IncompleteBody for a body that ends short, RequestTimeout for one that stalls and
//! XAmzContentSHA256Mismatch for a wrong hash, all 400. The hash is checked here for the bodies s3s
//! reads whole (POSTs, and small ones: object uploads are not hashed twice); an object upload learns
//! of a mismatch from s3s's own check as it streams (see `convert::body_in`).

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use sha2::{Digest, Sha256};
use tokio::time::{Instant, Sleep};

/// Longer than the object-upload path's own idle timeout (the engine's), which answers first there.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(65);
/// Bodies up to this size (and every POST body) are hashed here when the request names their SHA-256.
const HASHED_UP_TO: u64 = 64 * 1024;

/// How a watched body failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    /// The connection ended (or broke) before the body did.
    Incomplete,
    /// No byte for [`IDLE_TIMEOUT`].
    Stalled,
    /// The body is not what its `x-amz-content-sha256` says.
    HashMismatch,
}

/// What the handler saw of the body; read once the response is ready.
#[derive(Clone, Default)]
pub struct Watch(Arc<OnceLock<BodyFailure>>);

impl Watch {
    /// `req` with its body watched (idle timeout, and the hash check above), failures reported here.
    pub fn wrap(&self, req: Request) -> Request {
        let declared = req.headers().get("x-amz-content-sha256").and_then(|v| hex::decode(v.as_bytes()).ok());
        // A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3): an
        // empty one, which s3s still checks against a declared hash (an InternalError if it differs).
        let framed = req.headers().contains_key(http::header::CONTENT_LENGTH)
            || req.headers().contains_key(http::header::TRANSFER_ENCODING);
        let length = match req.headers().get(http::header::CONTENT_LENGTH) {
            Some(v) => v.to_str().ok().and_then(|v| v.parse::<u64>().ok()),
            None if !framed => Some(0),
            None => None,
        };
        // An empty body is judged now: nothing may ever poll it (its stream ends before it starts).
        if length == Some(0) && declared.as_ref().is_some_and(|d| d.len() == 32 && d[..] != Sha256::digest(b"")[..]) {
            let _ = self.0.set(BodyFailure::HashMismatch);
        }
        let wanted = length.is_some_and(|n| n <= HASHED_UP_TO) || req.method() == http::Method::POST;
        let check = declared.filter(|d| d.len() == 32 && wanted).map(|d| HashCheck {
            hasher: Sha256::new(),
            declared: d,
            remaining: length,
        });
        req.map(|body| self.wrap_for(body, IDLE_TIMEOUT, check))
    }

    fn wrap_for(&self, body: Body, timeout: Duration, hash: Option<HashCheck>) -> Body {
        Body::new(WatchedBody {
            inner: body,
            idle: Box::pin(tokio::time::sleep(timeout)),
            timeout,
            hash,
            watch: self.clone(),
        })
    }

    /// The response S3 gives when the body failed and the handler answered an error for it: any
    /// error when the hash was wrong (that explains whatever else went wrong), a server error else.
    pub fn correct(&self, response: Response) -> Response {
        let failure = self.0.get().copied();
        if failure == Some(BodyFailure::HashMismatch) && !response.status().is_success() {
            return super::error_response(
                StatusCode::BAD_REQUEST,
                super::errors::PAYLOAD_HASH_MISMATCH,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            );
        }
        if !response.status().is_server_error() {
            return response;
        }
        match failure {
            Some(BodyFailure::Incomplete) => super::error_response(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            ),
            Some(BodyFailure::Stalled) => super::error_response(
                StatusCode::BAD_REQUEST,
                "RequestTimeout",
                "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.",
            ),
            Some(BodyFailure::HashMismatch) | None => response,
        }
    }
}

struct WatchedBody {
    inner: Body,
    idle: Pin<Box<Sleep>>,
    timeout: Duration,
    hash: Option<HashCheck>,
    watch: Watch,
}

/// A body's running SHA-256 against the one its request declared. It is compared once the
/// Content-Length is in (s3s stops reading there, before the end of the stream) or at the end.
struct HashCheck {
    hasher: Sha256,
    declared: Vec<u8>,
    remaining: Option<u64>,
}

impl WatchedBody {
    fn finish_hash(&mut self) {
        if let Some(check) = self.hash.take()
            && check.hasher.finalize().as_slice() != check.declared.as_slice()
        {
            let _ = self.watch.0.set(BodyFailure::HashMismatch);
        }
    }
}

impl HttpBody for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let deadline = Instant::now() + self.timeout;
                self.idle.as_mut().reset(deadline);
                if let (Some(check), Some(data)) = (self.hash.as_mut(), frame.data_ref()) {
                    check.hasher.update(data);
                    check.remaining = check.remaining.map(|n| n.saturating_sub(data.len() as u64));
                    if check.remaining == Some(0) {
                        self.finish_hash();
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let _ = self.watch.0.set(BodyFailure::Incomplete);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.finish_hash();
                Poll::Ready(None)
            }
            Poll::Pending => match self.idle.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let _ = self.watch.0.set(BodyFailure::Stalled);
                    Poll::Ready(Some(Err(axum::Error::new("request body idle timeout"))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn a_stalled_body_fails_after_the_idle_timeout() {
        let watch = Watch::default();
        let stalls = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"abc"))])
            .chain(futures::stream::pending());
        let timeout = Duration::from_millis(100);
        let mut body = watch.wrap_for(Body::from_stream(stalls), timeout, None);
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "abc");
        let started = Instant::now();
        assert!(body.frame().await.unwrap().is_err());
        assert!(started.elapsed() >= timeout);
        assert_eq!(watch.0.get(), Some(&BodyFailure::Stalled));
        let answer =
            watch.correct(super::super::error_response(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "x"));
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_broken_body_turns_an_internal_error_into_incomplete_body() {
        let watch = Watch::default();
        let broken = futures::stream::iter([Err::<Bytes, _>(std::io::Error::other("connection closed"))]);
        let mut body = watch.wrap_for(Body::from_stream(broken), IDLE_TIMEOUT, None);
        assert!(body.frame().await.unwrap().is_err());
        assert_eq!(watch.0.get(), Some(&BodyFailure::Incomplete));
        let internal = super::super::error_response(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "x");
        let answer = watch.correct(internal);
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        let text = answer.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&text).contains("<Code>IncompleteBody</Code>"));
        // Other answers are the handler's own.
        let fine = Response::new(Body::empty());
        assert_eq!(watch.correct(fine).status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_request_without_a_body_is_checked_against_its_declared_sha256() {
        let request = |declared: &[u8], length: Option<&str>| {
            let mut b = Request::builder().method("PUT").uri("/bucket?versioning");
            b = b.header("x-amz-content-sha256", hex::encode(declared));
            if let Some(n) = length {
                b = b.header("content-length", n);
            }
            b.body(Body::empty()).unwrap()
        };
        let other = <Sha256 as Digest>::digest(b"1000 bytes that never came").to_vec();
        let empty = <Sha256 as Digest>::digest(b"").to_vec();
        for (declared, length, failed) in [
            (&other, None, Some(&BodyFailure::HashMismatch)),
            (&other, Some("0"), Some(&BodyFailure::HashMismatch)),
            (&empty, None, None),
            (&other, Some("1000"), None),
        ] {
            let watch = Watch::default();
            let _ = watch.wrap(request(declared, length));
            assert_eq!(watch.0.get(), failed, "{length:?}");
        }
    }

    #[tokio::test]
    async fn a_body_that_is_not_its_declared_sha256_is_a_hash_mismatch() {
        let declared = <Sha256 as Digest>::digest(b"<Delete/>").to_vec();
        for (sent, failed) in [(&b"<Delete/>"[..], None), (&b"<Delete/ >"[..], Some(&BodyFailure::HashMismatch))] {
            let watch = Watch::default();
            let check =
                HashCheck { hasher: Sha256::new(), declared: declared.clone(), remaining: Some(sent.len() as u64) };
            let body = watch.wrap_for(Body::from(sent.to_vec()), IDLE_TIMEOUT, Some(check));
            body.collect().await.unwrap();
            assert_eq!(watch.0.get(), failed);
        }
        let watch = Watch::default();
        let check = HashCheck { hasher: Sha256::new(), declared, remaining: None };
        watch.wrap_for(Body::from("x"), IDLE_TIMEOUT, Some(check)).collect().await.unwrap();
        let any_error = super::super::error_response(StatusCode::FORBIDDEN, "AccessDenied", "x");
        let answer = watch.correct(any_error);
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        let text = answer.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&text).contains("<Code>XAmzContentSHA256Mismatch</Code>"));
    }
}
