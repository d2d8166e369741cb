//! Browser POST uploads: S3 replaces `${filename}` in the form's `key` field with the name of the
//! uploaded file. s3s 0.14.1 drops the file part's `filename` before our handlers see the form, so
//! this layer reads it from the first bytes of the body (the form fields come before the file part
//! and are small), passes the body on unchanged, and hands the name to PutObject as an extension.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

/// How much of a form body is read ahead looking for the file part's headers (the fields before it
/// are bounded by the policy document and a few signature fields; s3s refuses bigger ones anyway).
const MAX_PEEK: usize = 64 * 1024;

/// The uploaded file's name from a POST form.
#[derive(Debug, Clone)]
pub(crate) struct PostFilename(pub String);

/// Substitutes `${filename}` in a POST form's key, as S3 does.
pub(crate) fn key_with_filename(key: &str, filename: Option<&PostFilename>) -> Option<String> {
    let f = filename?;
    key.contains("${filename}").then(|| key.replace("${filename}", &f.0))
}

pub(crate) async fn peek_filename(req: Request, next: Next) -> Response {
    let boundary = (req.method() == Method::POST)
        .then(|| req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(form_boundary))
        .flatten();
    let Some(boundary) = boundary else { return next.run(req).await };
    let (mut parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut head = BytesMut::new();
    let mut failed = None;
    while head.len() < MAX_PEEK {
        match stream.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(e)) => {
                failed = Some(e);
                break;
            }
            None => break,
        }
        if let Some(found) = file_part_filename(&head, &boundary) {
            if let Some(name) = found {
                parts.extensions.insert(PostFilename(name));
            }
            break;
        }
    }
    // The body goes on as it came: the bytes read ahead, any read error, then the rest.
    let ahead = futures::stream::iter([Ok::<Bytes, axum::Error>(head.freeze())].into_iter().chain(failed.map(Err)));
    let body = Body::from_stream(ahead.chain(stream));
    next.run(Request::from_parts(parts, body)).await
}

/// The boundary of a `multipart/form-data` content type.
fn form_boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    if !params.next()?.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (name, value) = p.trim().split_once('=')?;
        name.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_string())
    })
}

/// `None` while the file part's headers are not complete in `head`; then `Some(filename)`.
fn file_part_filename(head: &[u8], boundary: &str) -> Option<Option<String>> {
    let delimiter = format!("--{boundary}\r\n");
    let mut at = 0;
    while let Some(start) = find(&head[at..], delimiter.as_bytes()).map(|i| at + i + delimiter.len()) {
        let end = start + find(&head[start..], b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(&head[start..end]);
        let disposition = headers
            .split("\r\n")
            .find_map(|l| l.split_once(':').filter(|(n, _)| n.trim().eq_ignore_ascii_case("content-disposition")))
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        if param(&disposition, "name").is_some_and(|n| n.eq_ignore_ascii_case("file")) {
            return Some(param(&disposition, "filename"));
        }
        at = end;
    }
    None
}

/// A quoted (or bare) parameter of a Content-Disposition value.
fn param(disposition: &str, name: &str) -> Option<String> {
    disposition.split(';').skip(1).find_map(|p| {
        let (n, v) = p.trim().split_once('=')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_file_parts_name_once_its_headers_are_complete() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuser/${filename}\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo 1.jpg\"\r\n\
                    Content-Type: image/jpeg\r\n\r\nDATA";
        assert_eq!(form_boundary("multipart/form-data; boundary=XyZ").as_deref(), Some("XyZ"));
        assert_eq!(form_boundary("application/xml"), None);
        assert_eq!(file_part_filename(body.as_bytes(), "XyZ"), Some(Some("photo 1.jpg".into())));
        let cut = body.find("Content-Type: image").unwrap();
        assert_eq!(file_part_filename(&body.as_bytes()[..cut], "XyZ"), None, "headers not complete yet");
        let no_name = body.replace("; filename=\"photo 1.jpg\"", "");
        assert_eq!(file_part_filename(no_name.as_bytes(), "XyZ"), Some(None));
        let f = PostFilename("a.txt".into());
        assert_eq!(key_with_filename("up/${filename}", Some(&f)).as_deref(), Some("up/a.txt"));
        assert_eq!(key_with_filename("up/plain", Some(&f)), None);
        assert_eq!(key_with_filename("up/${filename}", None), None);
    }
}
