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

    /// A server that answers one request per connection and says so: the client must reconnect.
    #[tokio::test]
    async fn connection_close_makes_the_next_request_reconnect() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            for i in 0..2u8 {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let n = sock.read(&mut buf).await.unwrap();
                assert!(buf[..n].ends_with(b"\r\n\r\n"));
                let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n{i}");
                sock.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        let mut conn = super::Connection::open(&addr).await.unwrap();
        for i in 0..2 {
            let head = "GET / HTTP/1.1\r\nHost: x\r\n";
            assert_eq!(conn.exchange(head, &[], super::Body::Keep).await.unwrap(), (200, 1));
            assert_eq!(conn.body(), i.to_string().as_bytes());
        }
        server.await.unwrap();
    }
}

/// A server under load and the credentials to sign for it.
#[derive(Clone)]
pub struct Endpoint {
    pub name: &'static str,
    pub addr: String,
    pub access_key: String,
    pub secret_key: String,
}

impl Endpoint {
    /// [`signed_head`] for this endpoint.
    pub fn signed_head(&self, method: &str, path: &str, headers: &[(&str, &str)], service: &str) -> String {
        signed_head(method, path, &self.addr, headers, service, &self.access_key, &self.secret_key)
    }
}

/// A minimal keep-alive HTTP/1.1 client connection: the load generators need no more, and it costs the
/// client next to nothing per request.
pub struct Connection {
    addr: String,
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    /// The last response said `Connection: close`: the next request opens a new connection.
    closed: bool,
    body: Vec<u8>,
    scratch: Vec<u8>,
}

/// What to do with a response body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Keep it (read it back with [`Connection::body`]).
    Keep,
    /// Read and drop it (large objects).
    Discard,
    /// There is none (responses to HEAD).
    None,
}

impl Connection {
    pub async fn open(addr: &str) -> anyhow::Result<Self> {
        Ok(Self {
            addr: addr.to_string(),
            stream: Self::connect(addr).await?,
            closed: false,
            body: Vec::new(),
            scratch: Vec::new(),
        })
    }

    async fn connect(addr: &str) -> anyhow::Result<tokio::io::BufReader<tokio::net::TcpStream>> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(tokio::io::BufReader::with_capacity(256 * 1024, stream))
    }

    /// Sends `head` (from [`signed_head`]) with `Content-Length` and `body`, reads the response; returns
    /// the status and the body length.
    pub async fn exchange(&mut self, head: &str, body: &[u8], response: Body) -> anyhow::Result<(u16, usize)> {
        use anyhow::Context;
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        if self.closed {
            self.stream = Self::connect(&self.addr).await?;
            self.closed = false;
        }
        let request = format!("{head}Content-Length: {}\r\n\r\n", body.len());
        let s = self.stream.get_mut();
        s.write_all(request.as_bytes()).await?;
        if !body.is_empty() {
            s.write_all(body).await?;
        }
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("bad status line")?;
        let (mut len, mut chunked) = (0usize, false);
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                anyhow::bail!("connection closed");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse()?;
                } else if k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                } else if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
                    self.closed = true;
                }
            }
        }
        self.body.clear();
        if response == Body::None {
            return Ok((status, 0));
        }
        let keep = response == Body::Keep;
        if !chunked {
            self.read_body(len, keep).await?;
            return Ok((status, len));
        }
        let mut total = 0;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)?;
            self.read_body(n, keep).await?;
            let mut crlf = [0u8; 2];
            self.stream.read_exact(&mut crlf).await?;
            total += n;
            if n == 0 {
                return Ok((status, total));
            }
        }
    }

    /// The body of the last response read with [`Body::Keep`].
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    async fn read_body(&mut self, mut n: usize, keep: bool) -> anyhow::Result<()> {
        use tokio::io::AsyncReadExt;
        self.scratch.resize(256 * 1024, 0);
        while n > 0 {
            let want = n.min(self.scratch.len());
            let got = self.stream.read(&mut self.scratch[..want]).await?;
            if got == 0 {
                anyhow::bail!("connection closed mid-body");
            }
            if keep {
                self.body.extend_from_slice(&self.scratch[..got]);
            }
            n -= got;
        }
        Ok(())
    }
}
