//! Lingering close for HTTP connections, as nginx's `lingering_close` does.
//!
//! The server closes a connection while the client may still be sending: a request answered before
//! its body was read (a PUT refused by validation gets `Connection: close`), or pipelined requests
//! behind a malformed one. Closing a socket with unread bytes in its receive queue makes the kernel
//! send a RST and throw away what it had not sent yet, so the client lost the tail of the responses
//! it was owed (the error it should have read included) and saw "connection reset" instead. So a
//! served connection is not closed at once when hyper is done with it: its write side is shut (the
//! client sees the end of the responses), then what the client still sends is read and discarded
//! until it closes too, for at most [`LINGER`] and [`LINGER_BYTES`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Longest a closing connection keeps reading what its client still sends.
pub const LINGER: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while lingering.
pub const LINGER_BYTES: usize = 4 << 20;

/// A TCP stream that lingers when dropped (see the module docs).
#[derive(Debug)]
pub struct LingeringStream {
    inner: Option<TcpStream>,
}

impl LingeringStream {
    pub fn new(stream: TcpStream) -> Self {
        Self { inner: Some(stream) }
    }

    fn stream(&mut self) -> &mut TcpStream {
        self.inner.as_mut().expect("the stream is only taken on drop")
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let Some(stream) = self.inner.take() else { return };
        // The client closed first (the usual end of a keep-alive connection) or the connection is
        // broken: nothing more can arrive, and a plain close sends no RST. Otherwise more may be on
        // its way even when nothing is queued yet, and a close now would answer it with a RST.
        let mut probe = [0u8; 1];
        match stream.try_read(&mut probe) {
            Ok(0) => return,
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return,
            _ => {}
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(stream));
        }
    }
}

/// Ends the responses with a FIN, then drains the client's bytes until it closes or time runs out.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = vec![0u8; 64 * 1024];
    let mut drained = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while drained < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

impl AsyncRead for LingeringStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_read(cx, buf)
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// The server answers the first request and drops the connection with the rest unread; the client
    /// must still read the whole answer, however late it starts reading.
    async fn answer_and_drop(lingering: bool) -> io::Result<Vec<u8>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // Small enough for the socket buffers: the server's writes finish before the client reads.
        let answer = vec![7u8; 1 << 20];
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let mut head = [0u8; 16];
            if lingering {
                let mut s = LingeringStream::new(stream);
                s.read_exact(&mut head).await?;
                s.write_all(&answer).await?;
            } else {
                let mut s = stream;
                s.read_exact(&mut head).await?;
                s.write_all(&answer).await?;
            }
            io::Result::Ok(())
        });
        let mut client = TcpStream::connect(addr).await?;
        client.write_all(&[1u8; 16]).await?;
        // Bytes the server never reads: a body it refused, pipelined requests it will not serve.
        client.write_all(&vec![2u8; 256 * 1024]).await?;
        server.await.expect("server task")?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut got = Vec::new();
        client.read_to_end(&mut got).await?;
        Ok(got)
    }

    #[tokio::test]
    async fn a_dropped_connection_still_delivers_its_answer() {
        let got = answer_and_drop(true).await.expect("the whole answer, then EOF");
        assert_eq!(got, vec![7u8; 1 << 20]);
        // Without lingering the kernel resets the connection and the unsent tail is lost: this is
        // what the wrapper is for.
        assert!(answer_and_drop(false).await.is_err(), "a plain close with unread bytes resets");
    }
}
