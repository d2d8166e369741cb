//! The S3 load itself, against any endpoint: concurrent PUT / GET / LIST / DELETE of one run's
//! objects, and a multipart upload. Every request is checked (status, sizes, key counts).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::harness::{Latency, Round};
use benches::client::{Body, Connection, Endpoint};

/// Bounds of one run's PUT phase, so that 64 MiB × 32 clients stays within disk and time.
const MAX_RUN_BYTES: usize = 1 << 30;
const MAX_RUN_OBJECTS: usize = 5_000;
/// Headers asking for SSE-S3.
pub const SSE_S3: &[(&str, &str)] = &[("x-amz-server-side-encryption", "AES256")];

/// A keep-alive connection sending signed S3 requests to one endpoint.
pub struct Conn {
    conn: Connection,
    target: Endpoint,
}

impl Conn {
    pub async fn open(target: &Endpoint) -> anyhow::Result<Self> {
        Ok(Self { conn: Connection::open(&target.addr).await?, target: target.clone() })
    }

    /// One request; (status, body length). `keep` keeps the body for [`Conn::body`].
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        keep: bool,
    ) -> anyhow::Result<(u16, usize)> {
        let head = self.target.signed_head(method, path, headers, "s3");
        let response = if keep { Body::Keep } else { Body::Discard };
        tokio::time::timeout(Duration::from_secs(300), self.conn.exchange(&head, body, response))
            .await
            .with_context(|| format!("{} {method} {path} timed out", self.target.name))?
    }

    pub fn body(&self) -> String {
        String::from_utf8_lossy(self.conn.body()).into_owned()
    }
}

pub async fn create_bucket(target: &Endpoint, bucket: &str) -> anyhow::Result<()> {
    let (status, _) = Conn::open(target).await?.call("PUT", &format!("/{bucket}"), &[], &[], true).await?;
    anyhow::ensure!(status == 200 || status == 409, "{}: CreateBucket answered {status}", target.name);
    Ok(())
}

/// Waits until s3d has freed the space of the blobs it released (gauge `s3d_blob_trash_bytes` at 0).
pub async fn wait_for_reclaim(metrics_addr: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut conn = Connection::open(metrics_addr).await?;
    loop {
        let head = format!("GET /metrics HTTP/1.1\r\nHost: {metrics_addr}\r\n");
        let (status, _) = conn.exchange(&head, &[], Body::Keep).await?;
        anyhow::ensure!(status == 200, "s3d /metrics answered {status}");
        let text = String::from_utf8_lossy(conn.body());
        let trash = text.lines().find_map(|l| l.strip_prefix("s3d_blob_trash_bytes ")).map(|v| v.trim().to_string());
        if trash.as_deref().is_none_or(|v| v == "0") {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "s3d still has {trash:?} bytes of trash after 300 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The objects one run wrote: per client, how many (keys `<prefix>/c<client>-<n>`).
pub struct Written {
    pub prefix: String,
    pub per_client: Vec<usize>,
}

impl Written {
    pub fn total(&self) -> usize {
        self.per_client.iter().sum()
    }
}

/// One measured phase: its rate (`per op` = 1 for ops/s, or bytes for MiB/s) and latencies.
fn round(ops: usize, per_op: f64, elapsed: Duration, micros: Vec<f64>) -> Round {
    let value = ops as f64 * per_op / elapsed.as_secs_f64();
    Round { value, latency: Latency::of_micros(micros) }
}

/// What one op's count is worth in the line's unit: MiB for objects of 1 MiB and more, else 1 op.
pub fn unit_of(size: usize) -> (&'static str, f64) {
    if size >= 1 << 20 { ("MiB/s", size as f64 / (1 << 20) as f64) } else { ("ops/s", 1.0) }
}

/// `clients` connections PUT new objects for `secs` (each at least one, within the run's bounds).
pub async fn put(
    target: &Endpoint,
    bucket: &str,
    prefix: &str,
    size: usize,
    clients: usize,
    secs: f64,
    headers: &'static [(&'static str, &'static str)],
) -> anyhow::Result<(Round, Written)> {
    let cap = (MAX_RUN_BYTES / size).clamp(clients, MAX_RUN_OBJECTS.max(clients)).div_ceil(clients);
    let body = Arc::new(vec![0x5au8; size]);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let per_client = on_each_client(clients, |c| {
        let (target, body, path) = (target.clone(), body.clone(), format!("/{bucket}/{prefix}/c{c}-"));
        async move {
            let mut conn = Conn::open(&target).await?;
            let mut micros = Vec::new();
            while micros.len() < cap && (micros.is_empty() || Instant::now() < deadline) {
                let key = format!("{path}{}", micros.len());
                let t = Instant::now();
                let (status, _) = conn.call("PUT", &key, headers, &body, false).await?;
                anyhow::ensure!(status == 200, "{} PUT {key}: status {status}", target.name);
                micros.push(t.elapsed().as_secs_f64() * 1e6);
            }
            Ok(micros)
        }
    })
    .await?;
    let elapsed = started.elapsed();
    let written = Written { prefix: prefix.to_string(), per_client: per_client.iter().map(Vec::len).collect() };
    let all: Vec<f64> = per_client.into_iter().flatten().collect();
    Ok((round(all.len(), unit_of(size).1, elapsed, all), written))
}

/// Runs `client(c)` for each of `clients` connections at once; each one's latencies (µs).
async fn on_each_client<F, Fut>(clients: usize, client: F) -> anyhow::Result<Vec<Vec<f64>>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Vec<f64>>> + Send + 'static,
{
    let tasks: Vec<_> = (0..clients).map(|c| tokio::spawn(client(c))).collect();
    let mut out = Vec::with_capacity(clients);
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

/// Each client GETs back its own objects round robin for `secs` (each at least all once when small).
pub async fn get(target: &Endpoint, bucket: &str, written: &Written, size: usize, secs: f64) -> anyhow::Result<Round> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let all = on_each_client(written.per_client.len(), |c| {
        let (target, have) = (target.clone(), written.per_client[c]);
        let path = format!("/{bucket}/{}/c{c}-", written.prefix);
        async move {
            let mut conn = Conn::open(&target).await?;
            let mut micros = Vec::new();
            while micros.is_empty() || Instant::now() < deadline {
                let key = format!("{path}{}", micros.len() % have.max(1));
                let t = Instant::now();
                let (status, got) = conn.call("GET", &key, &[], &[], false).await?;
                anyhow::ensure!(status == 200 && got == size, "{} GET {key}: {status}, {got} B", target.name);
                micros.push(t.elapsed().as_secs_f64() * 1e6);
            }
            Ok(micros)
        }
    })
    .await?;
    let elapsed = started.elapsed();
    let all: Vec<f64> = all.into_iter().flatten().collect();
    Ok(round(all.len(), unit_of(size).1, elapsed, all))
}

/// ListObjectsV2 pages of 1,000 over the run's prefix; keys listed per second (latency per page).
pub async fn list(target: &Endpoint, bucket: &str, written: &Written) -> anyhow::Result<Round> {
    let mut conn = Conn::open(target).await?;
    let (mut listed, mut token, mut micros) = (0usize, None::<String>, Vec::new());
    let started = Instant::now();
    loop {
        let mut query = format!("/{bucket}?list-type=2&max-keys=1000&prefix={}%2F", written.prefix);
        if let Some(t) = &token {
            query.push_str(&format!("&continuation-token={}", percent_encode(t)));
        }
        let t = Instant::now();
        let (status, _) = conn.call("GET", &query, &[], &[], true).await?;
        micros.push(t.elapsed().as_secs_f64() * 1e6);
        let xml = conn.body();
        anyhow::ensure!(status == 200, "{} ListObjectsV2: {status} {xml}", target.name);
        listed += xml.matches("<Key>").count();
        token = field(&xml, "NextContinuationToken");
        if field(&xml, "IsTruncated").as_deref() != Some("true") || token.is_none() {
            break;
        }
    }
    let elapsed = started.elapsed();
    if listed != written.total() {
        bail!("{} listed {listed} keys of the {} written", target.name, written.total());
    }
    Ok(round(listed, 1.0, elapsed, micros))
}

/// Each client DELETEs the objects it wrote; deletes per second.
pub async fn delete(target: &Endpoint, bucket: &str, written: &Written) -> anyhow::Result<Round> {
    let started = Instant::now();
    let all = on_each_client(written.per_client.len(), |c| {
        let (target, have) = (target.clone(), written.per_client[c]);
        let path = format!("/{bucket}/{}/c{c}-", written.prefix);
        async move {
            let mut conn = Conn::open(&target).await?;
            let mut micros = Vec::with_capacity(have);
            for i in 0..have {
                let t = Instant::now();
                let (status, _) = conn.call("DELETE", &format!("{path}{i}"), &[], &[], false).await?;
                anyhow::ensure!(status == 204, "{} DELETE {path}{i}: status {status}", target.name);
                micros.push(t.elapsed().as_secs_f64() * 1e6);
            }
            Ok(micros)
        }
    })
    .await?;
    let elapsed = started.elapsed();
    let all: Vec<f64> = all.into_iter().flatten().collect();
    Ok(round(all.len(), 1.0, elapsed, all))
}

/// A multipart upload of `parts` × `part_size`, `parallel` parts in flight; MiB/s from Create to
/// Complete (latency per part), then the object is deleted.
pub async fn multipart(
    target: &Endpoint,
    bucket: &str,
    key: &str,
    parts: usize,
    part_size: usize,
    parallel: usize,
) -> anyhow::Result<Round> {
    let path = format!("/{bucket}/{key}");
    let mut conn = Conn::open(target).await?;
    let started = Instant::now();
    let (status, _) = conn.call("POST", &format!("{path}?uploads"), &[], &[], true).await?;
    let xml = conn.body();
    anyhow::ensure!(status == 200, "{} CreateMultipartUpload: {status} {xml}", target.name);
    let upload = field(&xml, "UploadId").context("no UploadId")?;
    let body = Arc::new(vec![0x33u8; part_size]);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let tasks: Vec<_> = (0..parallel)
        .map(|_| {
            let (target, body, next, path, upload) =
                (target.clone(), body.clone(), next.clone(), path.clone(), percent_encode(&upload));
            tokio::spawn(async move {
                let mut conn = Conn::open(&target).await?;
                let mut done = Vec::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n > parts {
                        return Ok::<_, anyhow::Error>(done);
                    }
                    let t = Instant::now();
                    let part = format!("{path}?partNumber={n}&uploadId={upload}");
                    let (status, _) = conn.call("PUT", &part, &[], &body, true).await?;
                    anyhow::ensure!(status == 200, "{} UploadPart {n}: {status} {}", target.name, conn.body());
                    done.push((n, t.elapsed().as_secs_f64() * 1e6));
                }
            })
        })
        .collect();
    let mut done = Vec::new();
    for t in tasks {
        done.extend(t.await??);
    }
    done.sort_by_key(|d| d.0);
    // CompleteMultipartUpload needs each part's ETag: read them back with ListParts (inside the timing,
    // one request, as a client that did not keep them would).
    let complete = complete_body(&mut conn, &path, &upload, parts).await?;
    let (status, _) = conn
        .call("POST", &format!("{path}?uploadId={}", percent_encode(&upload)), &[], complete.as_bytes(), true)
        .await?;
    let xml = conn.body();
    anyhow::ensure!(
        status == 200 && !xml.contains("<Error>"),
        "{} CompleteMultipartUpload: {status} {xml}",
        target.name
    );
    let elapsed = started.elapsed();
    let (status, _) = conn.call("DELETE", &path, &[], &[], false).await?;
    anyhow::ensure!(status == 204, "{} DELETE {path}: {status}", target.name);
    let micros = done.into_iter().map(|d| d.1).collect();
    Ok(round(parts, part_size as f64 / (1 << 20) as f64, elapsed, micros))
}

/// The CompleteMultipartUpload body, with each part's ETag from ListParts.
async fn complete_body(conn: &mut Conn, path: &str, upload: &str, parts: usize) -> anyhow::Result<String> {
    let (status, _) =
        conn.call("GET", &format!("{path}?uploadId={}&max-parts=1000", percent_encode(upload)), &[], &[], true).await?;
    let xml = conn.body();
    anyhow::ensure!(status == 200, "ListParts: {status} {xml}");
    let etags: Vec<String> =
        xml.split("<ETag>").skip(1).filter_map(|s| s.split("</ETag>").next()).map(String::from).collect();
    anyhow::ensure!(etags.len() == parts, "ListParts returned {} of {parts} parts", etags.len());
    let mut body = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        body.push_str(&format!("<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>", i + 1));
    }
    body.push_str("</CompleteMultipartUpload>");
    Ok(body)
}

pub fn field(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_string())
}

/// RFC 3986 percent-encoding of a query value (tokens and upload ids may hold `+`, `/`, `=`).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("a+b/c=d~"), "a%2Bb%2Fc%3Dd~");
    }

    #[test]
    fn fields_are_read_from_xml() {
        let xml = "<R><IsTruncated>true</IsTruncated><NextContinuationToken>x/y</NextContinuationToken></R>";
        assert_eq!(field(xml, "IsTruncated").as_deref(), Some("true"));
        assert_eq!(field(xml, "NextContinuationToken").as_deref(), Some("x/y"));
        assert_eq!(field(xml, "Missing"), None);
    }

    #[test]
    fn big_objects_count_in_mib() {
        assert_eq!(unit_of(4096), ("ops/s", 1.0));
        assert_eq!(unit_of(64 << 20), ("MiB/s", 64.0));
    }
}
