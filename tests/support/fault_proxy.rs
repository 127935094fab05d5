//! A fault-injecting HTTP proxy for tests: it listens on 127.0.0.1 (a port chosen at run time), forwards
//! requests to an upstream server (moto; the real test cluster's API server, over TLS on both sides with
//! the cluster's CA) and, at a given rate, answers with a fault
//! instead: HTTP 500, HTTP 429 with `Retry-After`, a connection closed before any answer (a reset), an
//! answer whose body is cut short of its `Content-Length`, or a slow answer. Which request gets which fault
//! is decided by a seeded generator, so a failing run can be replayed. Watches can be cut after a while, or
//! held back before they reach the upstream; the proxy counts watch answers that say 410 Gone. The proxy
//! stops when dropped.
#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `500 Internal Server Error` with a short text body.
    ServerError,
    /// `429 Too Many Requests` with `Retry-After: 1`.
    TooManyRequests,
    /// The connection is closed without an answer.
    Reset,
    /// The upstream answer with its body cut in half (the `Content-Length` of the whole).
    Truncated,
    /// The upstream answer, after a delay.
    Slow(Duration),
}

/// What to inject: a share of requests (0.0–1.0), the kinds to pick from in turn, and a seed.
#[derive(Debug, Clone)]
pub struct Faults {
    pub rate: f64,
    pub kinds: Vec<Fault>,
    pub seed: u64,
}

impl Faults {
    /// Every kind except `Slow`, at `rate`.
    pub fn all(rate: f64) -> Self {
        Self {
            rate,
            kinds: vec![Fault::ServerError, Fault::TooManyRequests, Fault::Reset, Fault::Truncated],
            seed: 0x5eed,
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    injected: AtomicU64,
    rate_per_million: AtomicU64,
    /// Watches opened (`?watch=true`), whatever happened to them.
    watches: AtomicU64,
    /// When not 0: every watch's connection is cut this many milliseconds after it opened.
    cut_watches_ms: AtomicU64,
    /// Watches waiting now because watches are held.
    held_watches: AtomicU64,
    /// Watch answers that carried a `410` status (the resourceVersion asked for has expired).
    expired_watches: AtomicU64,
    /// Requests with a field selector (`?fieldSelector=…`).
    field_selected: AtomicU64,
    /// When not 0: requests with a field selector are answered 400, as by a server that cannot select by
    /// field (some aggregated APIs).
    refuse_field_selectors: AtomicU64,
}

/// A running proxy.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    counters: Arc<Counters>,
    hold: Arc<tokio::sync::watch::Sender<bool>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// splitmix64: a tiny, good-enough generator; the n-th request's draw depends only on seed and n.
fn draw(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

type Body = BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never: Infallible| match never {}).boxed()
}

struct Proxy {
    upstream: String,
    faults: Faults,
    counters: Arc<Counters>,
    /// True while new watches are held back.
    hold: Arc<tokio::sync::watch::Sender<bool>>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// PEM files for a proxy that speaks TLS: the certificate and key it serves (valid for 127.0.0.1), and
/// the CA it trusts upstream (and that clients of the proxy trust).
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub ca: std::path::PathBuf,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client to the upstream: plain HTTP, or HTTPS verified with `ca`.
fn upstream_client(ca: Option<&std::path::Path>) -> Client<HttpsConnector<HttpConnector>, Full<Bytes>> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        for cert in CertificateDer::pem_file_iter(ca).expect("read the CA") {
            roots.add(cert.expect("a CA certificate")).expect("add the CA");
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector =
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().build();
    Client::builder(TokioExecutor::new()).build(connector)
}

/// The TLS acceptor of a proxy that serves `tls`.
fn acceptor(tls: &Tls) -> tokio_rustls::TlsAcceptor {
    let certs: Vec<_> = CertificateDer::pem_file_iter(&tls.cert)
        .expect("read the certificate")
        .map(|c| c.expect("a certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(&tls.key).expect("read the key");
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Serves one accepted connection with the proxy.
async fn serve<IO>(io: IO, proxy: Arc<Proxy>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |r| proxy.clone().handle(r));
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service).await;
}

impl Proxy {
    fn pick(&self) -> Option<Fault> {
        let n = self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let rate = self.counters.rate_per_million.load(Ordering::Relaxed);
        let value = draw(self.faults.seed, n);
        if value % 1_000_000 >= rate || self.faults.kinds.is_empty() {
            return None;
        }
        self.counters.injected.fetch_add(1, Ordering::Relaxed);
        Some(self.faults.kinds[((value >> 20) % self.faults.kinds.len() as u64) as usize])
    }

    /// The upstream's answer, its body passed on as it comes (a watch streams), or cut `cut` after it began.
    async fn forward(&self, request: Request<Incoming>, cut: Option<Duration>) -> Result<Response<Body>, String> {
        let (mut parts, body) = request.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("{}{}", self.upstream, path).parse().map_err(|e| format!("{e}"))?;
        let response =
            self.client.request(Request::from_parts(parts, Full::new(body))).await.map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = match cut {
            Some(after) => cut_after(body, after),
            None => body.map_err(std::io::Error::other).boxed(),
        };
        Ok(Response::from_parts(parts, body))
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
        let fault = self.pick();
        let broken = |what: &str| std::io::Error::new(std::io::ErrorKind::ConnectionReset, what.to_owned());
        let query = request.uri().query().unwrap_or_default();
        let watch = query.split('&').any(|p| p == "watch=true" || p == "watch=1");
        let cut = match self.counters.cut_watches_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        if query.split('&').any(|p| p.starts_with("fieldSelector=")) {
            self.counters.field_selected.fetch_add(1, Ordering::SeqCst);
            if self.counters.refuse_field_selectors.load(Ordering::SeqCst) != 0 {
                let status = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"field label not supported: metadata.name","reason":"BadRequest","code":400}"#;
                return Ok(Response::builder()
                    .status(400)
                    .header("content-type", "application/json")
                    .body(full(status))
                    .unwrap());
            }
        }
        if watch {
            self.counters.watches.fetch_add(1, Ordering::Relaxed);
            let mut hold = self.hold.subscribe();
            if *hold.borrow_and_update() {
                self.counters.held_watches.fetch_add(1, Ordering::SeqCst);
                let _ = hold.wait_for(|held| !held).await;
                self.counters.held_watches.fetch_sub(1, Ordering::SeqCst);
            }
        }
        match fault {
            Some(Fault::ServerError) => {
                Ok(Response::builder().status(500).body(full("injected fault: internal server error")).unwrap())
            }
            Some(Fault::TooManyRequests) => Ok(Response::builder()
                .status(429)
                .header("retry-after", "1")
                .body(full("injected fault: too many requests"))
                .unwrap()),
            // An error from the service makes hyper drop the connection without an answer.
            Some(Fault::Reset) => Err(broken("injected fault: connection reset")),
            // A watch never ends by itself: its stream is cut instead.
            Some(Fault::Truncated) if watch => {
                self.forward(request, Some(Duration::from_millis(50))).await.map_err(|e| broken(&e))
            }
            Some(Fault::Truncated) => {
                let response = self.forward(request, None).await.map_err(|e| broken(&e))?;
                let (mut parts, body) = response.into_parts();
                let bytes = body.collect().await?.to_bytes();
                parts.headers.insert("content-length", bytes.len().into());
                let half = bytes.slice(..bytes.len() / 2);
                let frames: Vec<Result<Frame<Bytes>, std::io::Error>> =
                    vec![Ok(Frame::data(half)), Err(broken("injected fault: body cut short"))];
                Ok(Response::from_parts(parts, StreamBody::new(futures::stream::iter(frames)).boxed()))
            }
            Some(Fault::Slow(delay)) => {
                tokio::time::sleep(delay).await;
                self.forward(request, None).await.map_err(|e| broken(&e))
            }
            None => match self.forward(request, cut.filter(|_| watch)).await {
                Ok(response) if watch => {
                    let counters = self.counters.clone();
                    Ok(response.map(|body| {
                        body.map_frame(move |frame| {
                            let expired = frame
                                .data_ref()
                                .is_some_and(|data| data.windows(b"\"code\":410".len()).any(|w| w == b"\"code\":410"));
                            if expired {
                                counters.expired_watches.fetch_add(1, Ordering::SeqCst);
                            }
                            frame
                        })
                        .boxed()
                    }))
                }
                Ok(response) => Ok(response),
                Err(e) => Ok(Response::builder().status(502).body(full(format!("proxy: {e}"))).unwrap()),
            },
        }
    }
}

/// `body` passed on as it comes until `after` has passed, then the connection is cut.
fn cut_after(body: Incoming, after: Duration) -> Body {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + after;
    let frames = http_body_util::BodyStream::new(body);
    let stream = futures::stream::unfold(Some(frames), move |state| async move {
        let mut frames = state?;
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(frame)) => Some((Ok(frame), Some(frames))),
                Some(Err(e)) => Some((Err(std::io::Error::other(e)), None)),
                None => None,
            },
            () = tokio::time::sleep_until(deadline) => {
                let cut = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected fault: watch dropped");
                Some((Err(cut), None))
            }
        }
    });
    BodyExt::boxed(StreamBody::new(stream))
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, faults: Faults) -> Self {
        Self::launch(upstream, faults, None)
    }

    /// Starts a proxy that speaks TLS on both sides in front of `upstream` (`https://127.0.0.1:PORT`).
    pub fn start_tls(upstream: &str, faults: Faults, tls: &Tls) -> Self {
        Self::launch(upstream, faults, Some(tls))
    }

    fn launch(upstream: &str, faults: Faults, tls: Option<&Tls>) -> Self {
        let counters = Arc::new(Counters::default());
        counters.rate_per_million.store((faults.rate.clamp(0.0, 1.0) * 1_000_000.0) as u64, Ordering::Relaxed);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().expect("address"));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let hold = Arc::new(tokio::sync::watch::Sender::new(false));
        let proxy = Arc::new(Proxy {
            upstream: upstream.trim_end_matches('/').to_owned(),
            faults,
            counters: counters.clone(),
            hold: hold.clone(),
            client: upstream_client(tls.map(|t| t.ca.as_path())),
        });
        let acceptor = tls.map(acceptor);
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let proxy = proxy.clone();
                            let acceptor = acceptor.clone();
                            tokio::spawn(async move {
                                match acceptor {
                                    Some(acceptor) => {
                                        if let Ok(stream) = acceptor.accept(stream).await {
                                            serve(stream, proxy).await;
                                        }
                                    }
                                    None => serve(stream, proxy).await,
                                }
                            });
                        }
                    }
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        });
        Self { url, counters, hold, stop: Some(stop), thread: Some(thread) }
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.counters.injected.load(Ordering::Relaxed)
    }

    /// Watches opened so far.
    pub fn watches(&self) -> u64 {
        self.counters.watches.load(Ordering::Relaxed)
    }

    /// Cuts every watch's connection `after` it opened (a load balancer's idle timeout, an API server
    /// restart), or none with `None`.
    pub fn cut_watches(&self, after: Option<Duration>) {
        self.counters.cut_watches_ms.store(after.map_or(0, |d| d.as_millis().max(1) as u64), Ordering::Relaxed);
    }

    /// Holds every new watch back before it reaches the upstream (`true`) until released (`false`), as a
    /// slow network between a client's LIST and its WATCH would.
    pub fn hold_watches(&self, held: bool) {
        self.hold.send_replace(held);
    }

    /// Watches waiting now because watches are held.
    pub fn held_watches(&self) -> u64 {
        self.counters.held_watches.load(Ordering::SeqCst)
    }

    /// Watch answers so far that carried a `410` status: the resourceVersion the client asked for had
    /// expired (etcd compacted it, or it left the watch cache).
    pub fn expired_watches(&self) -> u64 {
        self.counters.expired_watches.load(Ordering::SeqCst)
    }

    /// Requests so far that carried a field selector.
    pub fn field_selected(&self) -> u64 {
        self.counters.field_selected.load(Ordering::SeqCst)
    }

    /// Answers requests with a field selector `400 Bad Request` (`field label not supported`), as a server
    /// that cannot select by field does, or passes them on again (`false`).
    pub fn refuse_field_selectors(&self, refuse: bool) {
        self.counters.refuse_field_selectors.store(u64::from(refuse), Ordering::SeqCst);
    }

    /// Changes the share of requests that get a fault (1.0: every request, as if the server were gone).
    pub fn set_rate(&self, rate: f64) {
        self.counters.rate_per_million.store((rate.clamp(0.0, 1.0) * 1_000_000.0) as u64, Ordering::Relaxed);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn draws_are_spread_and_repeatable() {
    let hits = (0..10_000).filter(|n| draw(7, *n) % 1_000_000 < 200_000).count();
    assert!((1_700..2_300).contains(&hits), "{hits} of 10000 at 20%");
    assert_eq!(draw(7, 42), draw(7, 42));
}
