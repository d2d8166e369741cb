//! What every daemon does the same way: bind listeners (with a clear error when a port is taken),
//! serve HTTP (optionally over TLS) with request ids, an access log, timeouts and a connection bound,
//! serve Prometheus metrics, and drain on SIGTERM.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::{CommonArgs, ServiceConfig};
use crate::credentials::CredentialStore;

/// Idle keep-alive connections and slow request heads are dropped after this long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Open connections per listener; further clients wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 4096;
/// How long shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The request id of the current request, put in its extensions and echoed as `x-amz-request-id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A running daemon's shared context.
pub struct Daemon {
    pub name: &'static str,
    pub config: ServiceConfig,
    pub credentials: Arc<CredentialStore>,
    pub shutdown: CancellationToken,
    metrics: PrometheusHandle,
    tasks: tokio::task::JoinSet<()>,
}

impl Daemon {
    /// Sets up logging, configuration, the data directory, credentials, metrics and signal handling.
    pub fn start(
        name: &'static str,
        args: &CommonArgs,
        default_listen: &str,
        default_metrics: &str,
    ) -> anyhow::Result<Self> {
        init_tracing();
        let config = args.resolve(name, default_listen, default_metrics)?;
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
        let credentials = Arc::new(CredentialStore::open(&config.root_dir)?);
        let shutdown = CancellationToken::new();
        spawn_signal_handler(shutdown.clone());
        tracing::info!(daemon = name, data_dir = %config.data_dir.display(), users = credentials.users().len(), "starting");
        Ok(Self { name, config, credentials, shutdown, metrics: metrics_handle(), tasks: tokio::task::JoinSet::new() })
    }

    /// Binds `addr`; a port in use is one clear line naming the port and the flag that changes it.
    pub async fn bind(&self, addr: SocketAddr, flag: &str) -> anyhow::Result<TcpListener> {
        bind(self.name, addr, flag).await
    }

    /// Prints the line tests and the launcher wait for.
    pub fn announce(&self, addr: SocketAddr, what: Option<&str>) {
        announce(self.name, addr, what);
    }

    /// Binds and serves `/metrics` on the configured metrics address.
    pub async fn serve_metrics(&mut self) -> anyhow::Result<SocketAddr> {
        let listener = self.bind(self.config.metrics_listen, "--metrics-listen").await?;
        let addr = listener.local_addr()?;
        let handle = self.metrics.clone();
        let router = Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let handle = handle.clone();
                async move { handle.render() }
            }),
        );
        self.spawn_http(listener, router, None);
        self.announce(addr, Some("metrics"));
        Ok(addr)
    }

    /// Serves `router` on the main listener, with TLS if configured, and announces it.
    pub async fn serve_api(&mut self, router: Router) -> anyhow::Result<SocketAddr> {
        let listener = self.bind(self.config.listen, "--listen").await?;
        let addr = listener.local_addr()?;
        let tls = crate::tls::acceptor(&self.config.tls, &self.config.data_dir)?;
        self.spawn_http(listener, router, tls);
        self.announce(addr, None);
        Ok(addr)
    }

    /// Runs `router` on `listener` until shutdown.
    pub fn spawn_http(&mut self, listener: TcpListener, router: Router, tls: Option<TlsAcceptor>) {
        let shutdown = self.shutdown.clone();
        let name = self.name;
        self.tasks.spawn(async move { serve_http(name, listener, router, tls, shutdown).await });
    }

    /// Runs a daemon-specific task (another protocol's listener, a sweeper) that stops on shutdown.
    pub fn spawn<F>(&mut self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Waits for SIGTERM / SIGINT, then for every task to drain (bounded by [`DRAIN_TIMEOUT`]).
    pub async fn run_until_shutdown(mut self) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        tracing::info!(daemon = self.name, "shutting down");
        let drained = tokio::time::timeout(DRAIN_TIMEOUT + Duration::from_secs(2), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(daemon = self.name, "tasks did not stop in time; exiting anyway");
        }
        tracing::info!(daemon = self.name, "stopped");
        Ok(())
    }
}

pub async fn bind(daemon: &str, addr: SocketAddr, flag: &str) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            anyhow::bail!("{daemon}: port {} is already in use (change it with {flag})", addr.port())
        }
        Err(e) => Err(anyhow::anyhow!("{daemon}: cannot listen on {addr} ({flag}): {e}")),
    }
}

pub fn announce(daemon: &str, addr: SocketAddr, what: Option<&str>) {
    use std::io::Write;
    match what {
        Some(what) => println!("{daemon} listening on {addr} ({what})"),
        None => println!("{daemon} listening on {addr}"),
    }
    let _ = std::io::stdout().flush();
}

/// Logs to stderr; `RUST_LOG` filters (default `info`, with s3s at `warn`: it logs every client error such
/// as a 404 at ERROR level, which is the client's business, not the operator's).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

/// The process-wide Prometheus recorder (installed once).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

fn spawn_signal_handler(token: CancellationToken) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = token.cancelled() => {}
        }
        token.cancel();
    });
}

/// One daemon's request series: `http_requests_total` by status (each registered on first use) and
/// the duration histogram. Holding the handles saves a registry lookup with a freshly formatted label
/// per request (~1 % of a small request's CPU).
struct RequestMetrics {
    daemon: &'static str,
    by_status: Box<[OnceLock<metrics::Counter>]>,
    duration: metrics::Histogram,
}

impl RequestMetrics {
    fn new(daemon: &'static str) -> Self {
        Self {
            daemon,
            by_status: (0..600).map(|_| OnceLock::new()).collect(),
            duration: metrics::histogram!("http_request_duration_seconds", "daemon" => daemon),
        }
    }

    fn record(&self, status: u16, elapsed: Duration) {
        let counter =
            || metrics::counter!("http_requests_total", "daemon" => self.daemon, "status" => status.to_string());
        match self.by_status.get(usize::from(status)) {
            Some(slot) => slot.get_or_init(counter).increment(1),
            None => counter().increment(1),
        }
        self.duration.record(elapsed.as_secs_f64());
    }
}

/// Adds a request id, counts requests by status, and logs an access line per request (at debug level,
/// server errors at warn).
async fn access_log(series: Arc<RequestMetrics>, mut req: Request, next: Next) -> Response {
    let daemon = series.daemon;
    let id = crate::ids::request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let uri = req.uri().clone();
    // hyper sends `100 Continue` only when a body is read, so a client that sent `Expect:
    // 100-continue` with an empty body gets the final response without one; botocore then leaves its
    // pooled connection in a state where the next request waits 60 s for its read timeout (a boto3
    // PUT of an empty object stalled the one after it). Such a connection is closed after answering.
    let unanswered_expect = {
        use http_body::Body as _;
        req.body().is_end_stream()
            && req
                .headers()
                .get(http::header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
    };
    let (req, body_read) = track_body(req);
    let started = Instant::now();
    let mut response = next.run(req).await;
    let status = response.status().as_u16();
    // A request answered before its body was read (an S3 PUT refused by validation, say) may leave
    // body bytes on the connection, or a client that sent `Expect: 100-continue` may send them late;
    // either way the next request on it would be parsed from the middle of a body. Close it instead.
    if !body_read.load(std::sync::atomic::Ordering::Acquire) || unanswered_expect {
        response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    let elapsed = started.elapsed();
    if let Ok(value) = id.parse::<http::HeaderValue>() {
        response.headers_mut().insert("x-amz-request-id", value.clone());
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    // One line per request is opt-in (`RUST_LOG=access=debug`): formatting and writing it to stderr cost
    // ~10 % of a small request's CPU (dynamod's YCSB C: 53 k vs 47 k ops/s without it). Requests are
    // counted by status below either way; server errors are always logged.
    let micros = elapsed.as_micros() as u64;
    if status >= 500 {
        tracing::warn!(target: "access", daemon, %method, path = uri.path(), status, micros, request_id = id);
    } else {
        tracing::debug!(target: "access", daemon, %method, path = uri.path(), status, micros, request_id = id);
    }
    series.record(status, elapsed);
    response
}

/// The request with its body wrapped so that the returned flag is set once the body has been read
/// to its end (at once for a request without one).
fn track_body(req: Request) -> (Request, Arc<std::sync::atomic::AtomicBool>) {
    use http_body::Body as _;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(req.body().is_end_stream()));
    let flag = done.clone();
    (req.map(|inner| axum::body::Body::new(TrackedBody { inner, done: flag })), done)
}

struct TrackedBody {
    inner: axum::body::Body,
    done: Arc<std::sync::atomic::AtomicBool>,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        // A reader that stops after exactly Content-Length bytes never polls the final `None`.
        if matches!(polled, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.done.store(true, std::sync::atomic::Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Accepts TCP connections until `shutdown`, at most `max_connections` open at once (further clients
/// wait in the kernel's accept queue), backing off on accept errors instead of spinning; `handle` serves
/// one connection on its own task.
pub async fn accept_loop<F, Fut>(
    daemon: &'static str,
    listener: TcpListener,
    max_connections: usize,
    shutdown: CancellationToken,
    mut handle: F,
) where
    F: FnMut(tokio::net::TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(daemon, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = handle(stream, peer);
        tokio::spawn(async move {
            let _permit = permit;
            connection.await;
        });
    }
}

/// Accepts connections until `shutdown`, then lets in-flight requests finish (bounded).
pub async fn serve_http(
    daemon: &'static str,
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) {
    let series = Arc::new(RequestMetrics::new(daemon));
    let router =
        router.layer(axum::middleware::from_fn(move |req: Request, next: Next| access_log(series.clone(), req, next)));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client may shut its write side once its request is sent (`nc -N`, pipelining fuzzers): it
    // still gets its answers (hyper otherwise drops the connection on that EOF, answers unsent).
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).half_close(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    accept_loop(daemon, listener, MAX_CONNECTIONS, shutdown, |stream, peer| {
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let stream = crate::linger::LingeringStream::new(stream);
        async move {
            let result = match tls {
                None => {
                    watcher
                        .watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned())
                        .await
                }
                Some(acceptor) => match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => {
                        watcher
                            .watch(
                                builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), service).into_owned(),
                            )
                            .await
                    }
                    Ok(Err(e)) => Err(Box::new(e) as _),
                    Err(_) => Ok(()),
                },
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
    })
    .await;
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!(daemon, "in-flight requests did not finish before the drain timeout");
    }
}

/// The whole `main` of a daemon binary: parse `A`, run `run` on a multi-threaded runtime, print a
/// failure as one line and exit non-zero.
pub fn run_main<A, F>(run: impl FnOnce(A) -> F) -> std::process::ExitCode
where
    A: clap::Parser,
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let args = A::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
