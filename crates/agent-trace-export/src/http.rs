//! The HTTP transport shared by the OTLP/HTTP and Zipkin exporters: an
//! HTTP/1.1 client (hyper's connection over tokio's TCP, rustls with the
//! `tls` feature) on a single-threaded tokio runtime of the exporter's own,
//! driven from the batch worker's thread (see the `runtime` module for
//! why, and why it is safe to drop in async code).
//!
//! # What it does
//!
//! What a general HTTP client (reqwest, which this replaced) did for the
//! exporters, without its URL, pool and tower crates:
//!
//! - One kept-alive connection, reused while the receiver keeps it open
//!   (and idle for at most 90 s). A request that a stale connection gave
//!   back unsent is sent once more, on a new connection.
//! - The timeout covers the whole request: DNS, connecting, the proxy,
//!   TLS, redirects and the answer's body.
//! - `user:password@` in the endpoint is sent as `Authorization: Basic`
//!   (unless an `Authorization` header is configured), never in the URL.
//! - The proxies of `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and
//!   `NO_PROXY` (read when the exporter is built, as curl reads them:
//!   hyper-util's rules, those reqwest applies): an `http://` proxy gets
//!   `http://` requests in absolute form and tunnels `https://` ones with
//!   `CONNECT`, with `Proxy-Authorization` from the proxy URL's
//!   credentials. Other proxy schemes (`socks5://`, `https://`) fail the
//!   request with a message saying so.
//! - Redirects that keep the method and body (307, 308) are followed, up
//!   to 10; `Authorization` and cookies do not follow to another origin.
//!   Other redirects are rejections (a POST turned into a GET delivers
//!   nothing).
//! - gzip request bodies; `https://` through rustls, verified by the
//!   system's verifier (rustls-platform-verifier) plus the configured CA
//!   certificates.

use std::fmt;
use std::io::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::error::redact_url;
use crate::{ExportError, TransportConfig};

/// How many redirects a request follows.
const MAX_REDIRECTS: usize = 10;

/// How long an idle connection is kept for the next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A client for one endpoint.
pub(crate) struct HttpTransport {
    exporter: &'static str,
    target: Target,
    redacted: String,
    headers: HeaderMap,
    /// `Authorization: Basic` from the endpoint's `user:password@`, unless
    /// an `Authorization` header is configured.
    basic_auth: Option<HeaderValue>,
    /// The configured header values (and the endpoint's credentials),
    /// removed from any receiver text that goes into an error (a proxy may
    /// echo request headers back).
    secrets: Vec<String>,
    proxies: Matcher,
    #[cfg(feature = "tls")]
    tls: tokio_rustls::TlsConnector,
    /// The connection kept for the next request.
    idle: Mutex<Option<Idle>>,
    runtime: crate::runtime::ExporterRuntime,
    timeout: Duration,
    gzip: bool,
    /// Appended to delivery errors (see `TransportConfig::hint`).
    hint: Option<&'static str>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("exporter", &self.exporter)
            .field("endpoint", &self.redacted)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("gzip", &self.gzip)
            .finish()
    }
}

/// The response of a successful request.
#[cfg_attr(
    not(feature = "otlp-http"),
    allow(dead_code, reason = "only OTLP over HTTP reads the body")
)]
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) body: Vec<u8>,
}

/// Where requests go: an `http://` or `https://` URL, without credentials.
#[derive(Debug, Clone)]
struct Target {
    https: bool,
    /// As in the URL (an IPv6 address in brackets).
    host: String,
    port: u16,
    /// `host[:port]`, the port left out when it is the scheme's default.
    host_header: HeaderValue,
    /// The path and query (origin form), what a direct request names.
    path: Uri,
    /// The whole URL, what a request through a proxy names, and what the
    /// proxy rules look at.
    uri: Uri,
}

/// Why an endpoint cannot be used.
#[derive(Debug)]
enum BadUrl {
    /// Not a URL at all (what the parser said).
    Malformed(String),
    /// A URL, of another scheme.
    NotHttp,
}

/// The endpoint's `user` and `password`, percent-decoded.
type Credentials = (String, Option<String>);

impl Target {
    fn parse(url: &str) -> Result<(Self, Option<Credentials>), BadUrl> {
        let url = url.trim();
        // A scheme is a letter, then letters, digits, `+`, `-` or `.`,
        // then `:` (what the URL standard says, and the error it gives).
        let scheme = url.split_once(':').map(|(s, _)| s);
        let has_scheme = scheme.is_some_and(|s| {
            s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
        if !has_scheme {
            return Err(BadUrl::Malformed("relative URL without a base".into()));
        }
        if !scheme
            .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
        {
            return Err(BadUrl::NotHttp);
        }
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| BadUrl::Malformed(e.to_string()))?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            _ => return Err(BadUrl::NotHttp),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| BadUrl::Malformed("no host".into()))?;
        let (userinfo, host_port) = match authority.as_str().rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority.as_str()),
        };
        if host_port.is_empty() || host_port.starts_with(':') {
            return Err(BadUrl::Malformed("empty host".into()));
        }
        let host = authority.host().to_owned();
        let default_port = if https { 443 } else { 80 };
        // What follows the host: nothing, or `:` and the port (empty
        // meaning the default, as in the URL standard).
        let port = match host_port
            .get(host.len()..)
            .and_then(|p| p.strip_prefix(':'))
        {
            None | Some("") => default_port,
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| BadUrl::Malformed("invalid port number".into()))?,
        };
        let host_header = if port == default_port {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        let host_header = HeaderValue::from_str(&host_header)
            .map_err(|_| BadUrl::Malformed("invalid host".into()))?;
        let path = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("") => "/",
            Some(p) => p,
        };
        let scheme = if https { "https" } else { "http" };
        let rebuilt = |path: &str| -> Result<Uri, BadUrl> {
            format!("{scheme}://{host_port}{path}")
                .parse()
                .map_err(|e: hyper::http::uri::InvalidUri| BadUrl::Malformed(e.to_string()))
        };
        let target = Self {
            https,
            uri: rebuilt(path)?,
            path: path
                .parse()
                .map_err(|e: hyper::http::uri::InvalidUri| BadUrl::Malformed(e.to_string()))?,
            host,
            port,
            host_header,
        };
        let credentials = userinfo.and_then(|userinfo| {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            let user = crate::headers::percent_decode(user)?;
            let password = match password {
                Some(p) => Some(crate::headers::percent_decode(p)?),
                None => None,
            };
            (!user.is_empty() || password.is_some()).then_some((user, password))
        });
        Ok((target, credentials))
    }

    /// The target a `Location` names, relative to this one.
    fn join(&self, location: &str) -> Result<Self, BadUrl> {
        let scheme = if self.https { "https" } else { "http" };
        let host_port = self
            .uri
            .authority()
            .map_or("", hyper::http::uri::Authority::as_str);
        let absolute = if location.contains("://") {
            location.to_owned()
        } else if let Some(rest) = location.strip_prefix("//") {
            format!("{scheme}://{rest}")
        } else if location.starts_with('/') {
            format!("{scheme}://{host_port}{location}")
        } else {
            let path = self.path.path();
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{scheme}://{host_port}{dir}{location}")
        };
        // Credentials in a `Location` are not used.
        Self::parse(&absolute).map(|(target, _)| target)
    }

    /// Whether `other` has this target's scheme, host and port.
    fn same_origin(&self, other: &Self) -> bool {
        self.https == other.https
            && self.port == other.port
            && self.host.eq_ignore_ascii_case(&other.host)
    }
}

/// A connection, and what its requests need.
struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    /// Through a forward proxy (an `http://` target through an `http://`
    /// proxy): requests name the whole URL, with the proxy's credentials.
    forward: Option<Option<HeaderValue>>,
}

/// A connection kept for the next request.
struct Idle {
    connection: Connection,
    since: Instant,
}

impl HttpTransport {
    pub(crate) fn new(config: TransportConfig<'_>) -> Result<Self, ExportError> {
        Self::with_proxies(config, Matcher::from_env())
    }

    fn with_proxies(config: TransportConfig<'_>, proxies: Matcher) -> Result<Self, ExportError> {
        let TransportConfig {
            exporter,
            endpoint,
            headers,
            timeout,
            gzip,
            ca_pem,
            hint,
        } = config;
        let (target, credentials) = Target::parse(endpoint).map_err(|e| {
            ExportError::Config(match e {
                BadUrl::Malformed(e) => format!(
                    "{exporter} endpoint {:?} is not a URL: {e}",
                    redact_url(endpoint)
                ),
                BadUrl::NotHttp => format!(
                    "{exporter} endpoint {:?} must be http:// or https://",
                    redact_url(endpoint)
                ),
            })
        })?;
        #[cfg(not(feature = "tls"))]
        if target.https {
            return Err(ExportError::Config(format!(
                "{exporter} endpoint {:?} is https://, which needs the agent-trace-export feature \"tls\"",
                redact_url(endpoint)
            )));
        }
        #[cfg(feature = "tls")]
        let tls = tls_connector(exporter, ca_pem)?;
        #[cfg(not(feature = "tls"))]
        let _ = ca_pem;
        let header_map = headers.to_header_map()?;
        let mut secrets: Vec<String> = headers
            .pairs()
            .iter()
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .collect();
        let basic_auth = match credentials {
            Some((user, password)) if !header_map.contains_key(header::AUTHORIZATION) => {
                secrets.extend(password.iter().filter(|p| !p.is_empty()).cloned());
                Some(basic_auth(&user, password.as_deref()))
            }
            _ => None,
        };
        let runtime = crate::runtime::ExporterRuntime::new()?;
        Ok(Self {
            exporter,
            redacted: redact_url(endpoint),
            target,
            headers: header_map,
            basic_auth,
            secrets,
            proxies,
            #[cfg(feature = "tls")]
            tls,
            idle: Mutex::new(None),
            runtime,
            timeout,
            gzip,
            hint,
        })
    }

    /// POSTs `body`; a 2xx answer is `Ok`, anything else a classified
    /// [`ExportError`].
    pub(crate) fn post(
        &self,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<Response, ExportError> {
        let body = if self.gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&body)
                .and_then(|()| enc.finish())
                .map_err(|e| ExportError::Encode {
                    exporter: self.exporter,
                    message: format!("gzip: {e}"),
                })?
        } else {
            body
        };
        let body = Bytes::from(body);
        let content_type = HeaderValue::from_static(content_type);
        self.runtime.block_on(async {
            // A request cut off by the timeout drops its connection (it
            // is out of `idle` while in use).
            match tokio::time::timeout(self.timeout, self.send(&body, &content_type)).await {
                Ok(result) => result,
                Err(_elapsed) => Err(ExportError::Timeout {
                    exporter: self.exporter,
                    endpoint: self.redacted.clone(),
                    timeout: self.timeout,
                }),
            }
        })?
    }

    /// Sends the request, following redirects, and reads the answer.
    async fn send(
        &self,
        body: &Bytes,
        content_type: &HeaderValue,
    ) -> Result<Response, ExportError> {
        let mut redirected: Option<Target> = None;
        for _ in 0..=MAX_REDIRECTS {
            let target = redirected.as_ref().unwrap_or(&self.target);
            let same_origin = self.target.same_origin(target);
            let make = |connection: &Connection| {
                self.request(target, connection, same_origin, body, content_type)
            };
            let (response, connection) = if redirected.is_none() {
                self.send_on_kept(make).await?
            } else {
                let mut connection = self.connect(target).await?;
                let response = connection
                    .sender
                    .send_request(make(&connection))
                    .await
                    .map_err(|e| self.unreachable(error_chain(&e)))?;
                (response, connection)
            };
            let status = response.status();
            if matches!(
                status,
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            ) && let Some(location) = response.headers().get(header::LOCATION)
            {
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|l| target.join(l).ok())
                    .ok_or_else(|| self.unreachable("redirected to an invalid location".into()))?;
                #[cfg(not(feature = "tls"))]
                if next.https {
                    return Err(self.unreachable(
                        "redirected to https://, which needs the agent-trace-export feature \"tls\""
                            .into(),
                    ));
                }
                redirected = Some(next);
                continue;
            }
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let answer = response
                .into_body()
                .collect()
                .await
                .map_err(|e| self.unreachable(error_chain(&e)))?
                .to_bytes();
            if redirected.is_none() {
                self.keep(connection);
            }
            return if status.is_success() {
                Ok(Response {
                    body: answer.to_vec(),
                })
            } else {
                let code = status.as_u16();
                Err(ExportError::Rejected {
                    exporter: self.exporter,
                    endpoint: self.redacted.clone(),
                    status: code.to_string(),
                    message: crate::with_hint(
                        self.hint,
                        self.redact(&String::from_utf8_lossy(&answer[..answer.len().min(200)])),
                    ),
                    retryable: matches!(code, 429 | 502 | 503 | 504),
                    retry_after,
                })
            };
        }
        Err(self.unreachable(format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// Sends on the kept connection if it is still open, else (or when it
    /// gives the request back unsent) on a new one.
    async fn send_on_kept(
        &self,
        make: impl Fn(&Connection) -> Request<Full<Bytes>>,
    ) -> Result<(hyper::Response<Incoming>, Connection), ExportError> {
        let kept = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .filter(|idle| idle.since.elapsed() < IDLE_TIMEOUT);
        if let Some(Idle { mut connection, .. }) = kept {
            // Lets the connection's task see a close that came while it
            // was idle (the runtime runs only while a request does).
            tokio::task::yield_now().await;
            if connection.sender.ready().await.is_ok() {
                match connection.sender.try_send_request(make(&connection)).await {
                    Ok(response) => return Ok((response, connection)),
                    // Given back unsent: a new connection takes it.
                    Err(e) if e.message().is_some() => {}
                    Err(e) => return Err(self.unreachable(error_chain(&e.into_error()))),
                }
            }
        }
        let mut connection = self.connect(&self.target).await?;
        let response = connection
            .sender
            .send_request(make(&connection))
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))?;
        Ok((response, connection))
    }

    /// Keeps `connection` for the next request.
    fn keep(&self, connection: Connection) {
        if !connection.sender.is_closed() {
            *self.idle.lock().unwrap_or_else(PoisonError::into_inner) = Some(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    fn request(
        &self,
        target: &Target,
        connection: &Connection,
        same_origin: bool,
        body: &Bytes,
        content_type: &HeaderValue,
    ) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = match connection.forward {
            Some(_) => target.uri.clone(),
            None => target.path.clone(),
        };
        let headers = request.headers_mut();
        headers.reserve(self.headers.len() + 6);
        for (name, value) in &self.headers {
            if same_origin || !is_credential(name) {
                headers.append(name, value.clone());
            }
        }
        if !headers.contains_key(header::HOST) {
            headers.insert(header::HOST, target.host_header.clone());
        }
        if !headers.contains_key(header::ACCEPT) {
            headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        }
        headers.insert(header::CONTENT_TYPE, content_type.clone());
        if self.gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if same_origin && let Some(auth) = &self.basic_auth {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        if let Some(Some(auth)) = &connection.forward {
            headers.insert(header::PROXY_AUTHORIZATION, auth.clone());
        }
        request
    }

    /// A new connection to `target`: directly or through the proxy the
    /// environment names for it, then TLS for `https://`.
    async fn connect(&self, target: &Target) -> Result<Connection, ExportError> {
        let Some(proxy) = self.proxies.intercept(&target.uri) else {
            let tcp = self.tcp(&target.host, target.port).await?;
            return self.handshake(target, tcp, None).await;
        };
        let (scheme, proxy_host) = (proxy.uri().scheme_str(), proxy.uri().host());
        let (Some("http"), Some(proxy_host)) = (scheme, proxy_host) else {
            return Err(self.unreachable(format!(
                "the proxy {} is not an http:// proxy, the only kind this exporter uses",
                redact_url(&proxy.uri().to_string())
            )));
        };
        let mut tcp = self
            .tcp(proxy_host, proxy.uri().port_u16().unwrap_or(80))
            .await?;
        if target.https {
            tunnel(&mut tcp, target, proxy.basic_auth())
                .await
                .map_err(|e| {
                    self.unreachable(format!(
                        "proxy {proxy_host}: CONNECT {}:{}: {e}",
                        target.host, target.port
                    ))
                })?;
            self.handshake(target, tcp, None).await
        } else {
            let forward = Some(proxy.basic_auth().cloned());
            self.handshake(target, tcp, forward).await
        }
    }

    /// A TCP connection to the first address of `host` that answers.
    async fn tcp(&self, host: &str, port: u16) -> Result<TcpStream, ExportError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addresses = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| self.unreachable(format!("cannot resolve {host}: {e}")))?;
        let mut last = None;
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    return Ok(tcp);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(self.unreachable(match last {
            Some(e) => format!("cannot connect to {host}:{port}: {e}"),
            None => format!("cannot resolve {host}: no address"),
        }))
    }

    /// HTTP/1.1 over `tcp` (through TLS for `https://`).
    async fn handshake(
        &self,
        target: &Target,
        tcp: TcpStream,
        forward: Option<Option<HeaderValue>>,
    ) -> Result<Connection, ExportError> {
        let sender = if target.https {
            #[cfg(feature = "tls")]
            {
                let bare = target.host.trim_start_matches('[').trim_end_matches(']');
                let name = rustls::pki_types::ServerName::try_from(bare.to_owned())
                    .map_err(|e| self.unreachable(format!("{}: {e}", target.host)))?;
                let tls = self.tls.connect(name, tcp).await.map_err(|e| {
                    self.unreachable(format!(
                        "TLS with {}:{}: {}",
                        target.host,
                        target.port,
                        error_chain(&e)
                    ))
                })?;
                http1_handshake(tls).await
            }
            #[cfg(not(feature = "tls"))]
            {
                drop(tcp);
                return Err(self
                    .unreachable("https:// needs the agent-trace-export feature \"tls\"".into()));
            }
        } else {
            http1_handshake(tcp).await
        };
        let sender = sender.map_err(|e| self.unreachable(error_chain(&e)))?;
        Ok(Connection { sender, forward })
    }

    /// `text` without any configured header value.
    fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "<redacted>");
        }
        text
    }

    fn unreachable(&self, message: String) -> ExportError {
        ExportError::Unreachable {
            exporter: self.exporter,
            endpoint: self.redacted.clone(),
            message: crate::with_hint(self.hint, self.redact(&message)),
        }
    }
}

/// HTTP/1.1 over `io`; the connection's task runs on the current runtime.
async fn http1_handshake<I>(io: I) -> Result<http1::SendRequest<Full<Bytes>>, hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        // Its errors reach the request that was in flight.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Asks the proxy at the other end of `tcp` for a tunnel to `target`.
async fn tunnel(
    tcp: &mut TcpStream,
    target: &Target,
    auth: Option<&HeaderValue>,
) -> Result<(), String> {
    let authority = format!("{}:{}", target.host, target.port);
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(auth) = auth {
        head.extend_from_slice(b"Proxy-Authorization: ");
        head.extend_from_slice(auth.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    tcp.write_all(&head).await.map_err(|e| e.to_string())?;
    // The answer's head; nothing follows it before our TLS hello.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() > 16 * 1024 {
            return Err("the answer's head is too long".into());
        }
        let n = tcp.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the proxy closed the connection".into());
        }
        answer.extend_from_slice(&chunk[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && !answer.ends_with(b"\r\n\r\n") {
            return Err("the proxy sent data after its answer".into());
        }
    }
    let status_line = answer
        .split(|&b| b == b'\r')
        .next()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let code = status_line.split_whitespace().nth(1).unwrap_or("");
    if status_line.starts_with("HTTP/1.") && code.len() == 3 && code.starts_with('2') {
        Ok(())
    } else {
        Err(format!("the proxy answered {status_line:?}"))
    }
}

/// The rustls client of the `https://` exporters: the system's verifier
/// and roots, plus the CA certificates in `ca_pem`; ALPN `http/1.1`.
#[cfg(feature = "tls")]
fn tls_connector(
    exporter: &'static str,
    ca_pem: Option<&[u8]>,
) -> Result<tokio_rustls::TlsConnector, ExportError> {
    use std::sync::Arc;

    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;

    crate::install_crypto_provider();
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let tls_error = |e: &dyn fmt::Display| ExportError::Config(format!("{exporter} TLS: {e}"));
    let verifier = match ca_pem {
        None => rustls_platform_verifier::Verifier::new(provider.clone()),
        Some(pem) => {
            let roots = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ExportError::Config(format!("{exporter} CA certificate: {e}")))?;
            #[cfg(any(all(unix, not(target_os = "android")), windows))]
            {
                rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
            }
            #[cfg(not(any(all(unix, not(target_os = "android")), windows)))]
            {
                let _ = roots;
                return Err(ExportError::Config(format!(
                    "{exporter} CA certificate: extra roots are not supported on this platform"
                )));
            }
        }
    }
    .map_err(|e| tls_error(&e))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Headers that carry credentials for the origin they were set for.
fn is_credential(name: &HeaderName) -> bool {
    name == header::AUTHORIZATION
        || name == header::COOKIE
        || name == header::WWW_AUTHENTICATE
        || name.as_str() == "cookie2"
}

/// `Basic` credentials (`user:` when there is no password), marked
/// sensitive.
fn basic_auth(user: &str, password: Option<&str>) -> HeaderValue {
    let plain = format!("{user}:{}", password.unwrap_or(""));
    let mut value = HeaderValue::from_str(&format!("Basic {}", base64(plain.as_bytes())))
        .unwrap_or_else(|_| unreachable!("base64 is a valid header value"));
    value.set_sensitive(true);
    value
}

/// Standard base64, padded.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An error and its sources, joined with `: `.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !message.ends_with(&s_text) {
            message.push_str(": ");
            message.push_str(&s_text);
        }
        source = s.source();
    }
    message
}

/// `Retry-After` as delay-seconds (the form receivers of telemetry use);
/// an HTTP date is ignored, leaving the pipeline's own backoff.
fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::net::{TcpListener, TcpStream as StdTcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::Headers;

    #[test]
    fn retry_after_seconds_are_read() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    fn target(url: &str) -> (Target, Option<Credentials>) {
        Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e:?}"))
    }

    #[test]
    fn endpoints_are_read_as_urls() {
        let (t, creds) = target("http://localhost:4318");
        assert!(!t.https && creds.is_none());
        assert_eq!((t.host.as_str(), t.port), ("localhost", 4318));
        assert_eq!(t.host_header, "localhost:4318");
        assert_eq!(t.path, "/");
        assert_eq!(t.uri, "http://localhost:4318/");

        let (t, _) = target(" HTTPS://collector.example.com/v1/traces ");
        assert!(t.https);
        assert_eq!(
            (t.port, t.host_header.to_str().unwrap()),
            (443, "collector.example.com")
        );
        let (t, _) = target("http://collector:80/v1/traces");
        assert_eq!(t.host_header, "collector");

        let (t, _) = target("http://[::1]:4318/v1/traces?tenant=a#fragment");
        assert_eq!((t.host.as_str(), t.port), ("[::1]", 4318));
        assert_eq!(t.host_header, "[::1]:4318");
        assert_eq!(t.path, "/v1/traces?tenant=a");

        let (t, creds) = target("http://agent:p%40ss%3Aword@collector:4318/v1/traces");
        assert_eq!(creds, Some(("agent".into(), Some("p@ss:word".into()))));
        assert_eq!(t.uri, "http://collector:4318/v1/traces");
        assert_eq!(t.host_header, "collector:4318");
        assert_eq!(target("http://agent@h/").1, Some(("agent".into(), None)));
        assert_eq!(
            target("http://:secret@h/").1,
            Some((String::new(), Some("secret".into())))
        );
        assert_eq!(target("http://@h/").1, None);

        for (url, what) in [
            ("not a url", "relative URL without a base"),
            ("/v1/traces", "relative URL without a base"),
            ("4318:collector", "relative URL without a base"),
            ("http://", ""),
            ("http://@/v1/traces", ""),
            ("http://:4318/v1/traces", ""),
            ("http://user@:4318/", ""),
            ("http://host:99999/", ""),
            ("http://ho st/", ""),
        ] {
            match Target::parse(url) {
                Err(BadUrl::Malformed(e)) => assert!(e.contains(what), "{url}: {e}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        for url in [
            "ftp://collector/",
            "localhost:4318",
            "carrier-pigeon://coop",
        ] {
            assert!(matches!(Target::parse(url), Err(BadUrl::NotHttp)), "{url}");
        }
    }

    #[test]
    fn redirect_locations_are_resolved_against_the_target() {
        let (t, _) = target("http://collector:4318/otlp/v1/traces?x=1");
        let at = |l: &str| t.join(l).unwrap().uri.to_string();
        assert_eq!(at("https://other/v1/traces"), "https://other/v1/traces");
        assert_eq!(at("//other:81/a"), "http://other:81/a");
        assert_eq!(at("/v2/traces?y=2"), "http://collector:4318/v2/traces?y=2");
        assert_eq!(at("spans"), "http://collector:4318/otlp/v1/spans");
        assert_eq!(
            t.join("http://user:pw@other/").unwrap().uri.to_string(),
            "http://other/"
        );
        assert!(t.join("ftp://other/").is_err());
        let other = t.join("http://COLLECTOR:4318/x").unwrap();
        assert!(t.same_origin(&other));
        assert!(!t.same_origin(&t.join("http://collector:4319/x").unwrap()));
        assert!(!t.same_origin(&t.join("https://collector:4318/x").unwrap()));
    }

    #[test]
    fn basic_credentials_are_base64() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(
            basic_auth("Aladdin", Some("open sesame")),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_auth("user", None), "Basic dXNlcjo=");
        assert!(basic_auth("a", None).is_sensitive());
    }

    /// A request as a receiver saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        /// Which connection (in the order they were accepted).
        connection: usize,
        request_line: String,
        /// Names lower-cased.
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    type Answerer = dyn Fn(&Seen) -> Vec<u8> + Send + Sync;

    /// A blocking HTTP/1.1 receiver on loopback: reads requests (heads
    /// and `Content-Length` bodies) on kept-alive connections, records
    /// them, and writes what `answer` returns for each; a connection ends
    /// after an answer with `connection: close`.
    fn receiver(answer: Arc<Answerer>) -> (u16, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        std::thread::spawn(move || {
            let connections = AtomicUsize::new(0);
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                let connection = connections.fetch_add(1, Ordering::SeqCst);
                let (answer, seen) = (answer.clone(), recorded.clone());
                std::thread::spawn(move || serve(tcp, connection, &*answer, &seen));
            }
        });
        (port, seen)
    }

    fn serve(tcp: StdTcpStream, connection: usize, answer: &Answerer, seen: &Mutex<Vec<Seen>>) {
        let mut writer = tcp.try_clone().expect("clone");
        let mut reader = BufReader::new(tcp);
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                return;
            }
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').expect("a header");
                headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
            }
            let len = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map_or(0, |(_, v)| v.parse::<usize>().expect("a length"));
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let request = Seen {
                connection,
                request_line: request_line.trim_end().to_owned(),
                headers,
                body,
            };
            let response = answer(&request);
            seen.lock().expect("not poisoned").push(request);
            if response.is_empty() {
                // Never answers.
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            if writer.write_all(&response).is_err() {
                return;
            }
            if String::from_utf8_lossy(&response)
                .to_ascii_lowercase()
                .contains("connection: close")
            {
                return;
            }
        }
    }

    fn ok(_: &Seen) -> Vec<u8> {
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec()
    }

    fn config<'a>(endpoint: &'a str, headers: &'a Headers) -> TransportConfig<'a> {
        TransportConfig {
            exporter: "test",
            endpoint,
            headers,
            timeout: Duration::from_secs(5),
            gzip: false,
            ca_pem: None,
            hint: None,
        }
    }

    fn no_proxy() -> Matcher {
        Matcher::builder().build()
    }

    #[test]
    fn requests_are_origin_form_with_host_and_credentials() {
        let (port, seen) = receiver(Arc::new(ok));
        let endpoint = format!("http://agent:hunter2@127.0.0.1:{port}/v1/traces?tenant=a");
        let mut headers = Headers::default();
        headers.insert("x-api-key", "k1");
        headers.insert("x-api-key", "k2");
        let t = HttpTransport::with_proxies(config(&endpoint, &headers), no_proxy()).unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
        let r = t.post(b"spans".to_vec(), "application/x-protobuf").unwrap();
        assert_eq!(r.body, b"{}");
        let seen = seen.lock().unwrap();
        let s = &seen[0];
        assert_eq!(s.request_line, "POST /v1/traces?tenant=a HTTP/1.1");
        assert_eq!(s.header("host"), Some(format!("127.0.0.1:{port}").as_str()));
        assert_eq!(s.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(s.header("content-length"), Some("5"));
        assert_eq!(
            s.header("authorization"),
            Some("Basic YWdlbnQ6aHVudGVyMg==")
        );
        let keys: Vec<&str> = s
            .headers
            .iter()
            .filter(|(n, _)| n == "x-api-key")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(keys, ["k1", "k2"]);
        assert_eq!(s.body, b"spans");
    }

    #[test]
    fn a_configured_authorization_wins_over_url_credentials() {
        let (port, seen) = receiver(Arc::new(ok));
        let endpoint = format!("http://agent:hunter2@127.0.0.1:{port}/");
        let mut headers = Headers::default();
        headers.insert("Authorization", "Bearer token");
        let t = HttpTransport::with_proxies(config(&endpoint, &headers), no_proxy()).unwrap();
        t.post(Vec::new(), "application/json").unwrap();
        assert_eq!(
            seen.lock().unwrap()[0].header("authorization"),
            Some("Bearer token")
        );
    }

    #[test]
    fn one_connection_is_kept_and_replaced_when_the_receiver_closes_it() {
        // The third answer closes the connection.
        let answers = Arc::new(AtomicUsize::new(0));
        let (port, seen) = receiver(Arc::new(move |_: &Seen| {
            if answers.fetch_add(1, Ordering::SeqCst) == 2 {
                b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
            } else {
                b"HTTP/1.1 503 Busy\r\ncontent-length: 4\r\nretry-after: 2\r\n\r\nbusy".to_vec()
            }
        }));
        let endpoint = format!("http://127.0.0.1:{port}/v1/traces");
        let headers = Headers::default();
        let t = HttpTransport::with_proxies(config(&endpoint, &headers), no_proxy()).unwrap();
        for _ in 0..2 {
            let err = t.post(b"x".to_vec(), "application/json").unwrap_err();
            assert!(
                matches!(&err, ExportError::Rejected { status, retryable: true, retry_after: Some(d), message, .. }
                    if status == "503" && *d == Duration::from_secs(2) && message == "busy"),
                "{err:?}"
            );
        }
        t.post(b"x".to_vec(), "application/json").unwrap();
        // Closed by the receiver while idle: the next request reconnects.
        std::thread::sleep(Duration::from_millis(50));
        assert!(t.post(b"x".to_vec(), "application/json").is_err());
        let connections: Vec<usize> = seen.lock().unwrap().iter().map(|s| s.connection).collect();
        assert_eq!(connections, [0, 0, 0, 1]);
    }

    #[test]
    fn a_receiver_that_never_answers_is_a_timeout() {
        let (port, _) = receiver(Arc::new(|_: &Seen| Vec::new()));
        let endpoint = format!("http://127.0.0.1:{port}/");
        let headers = Headers::default();
        let mut c = config(&endpoint, &headers);
        c.timeout = Duration::from_millis(200);
        let t = HttpTransport::with_proxies(c, no_proxy()).unwrap();
        let started = Instant::now();
        let err = t.post(Vec::new(), "application/json").unwrap_err();
        assert!(matches!(err, ExportError::Timeout { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn redirects_that_keep_the_body_are_followed() {
        let (other, other_seen) = receiver(Arc::new(ok));
        let (port, seen) = receiver(Arc::new(move |s: &Seen| {
            let location = if s.request_line.contains("/old") {
                "/new".to_owned()
            } else {
                format!("http://localhost:{other}/moved")
            };
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n")
                .into_bytes()
        }));
        let endpoint = format!("http://agent:pw@127.0.0.1:{port}/old");
        let mut headers = Headers::default();
        headers.insert("x-team", "agents");
        let t = HttpTransport::with_proxies(config(&endpoint, &headers), no_proxy()).unwrap();
        t.post(b"body".to_vec(), "application/json").unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].request_line, "POST /new HTTP/1.1");
        assert_eq!(seen[1].body, b"body");
        assert!(seen[1].header("authorization").is_some(), "same origin");
        let other_seen = other_seen.lock().unwrap();
        assert_eq!(other_seen[0].request_line, "POST /moved HTTP/1.1");
        assert_eq!(other_seen[0].body, b"body");
        assert_eq!(other_seen[0].header("x-team"), Some("agents"));
        assert_eq!(
            other_seen[0].header("authorization"),
            None,
            "another origin"
        );
    }

    #[test]
    fn endless_redirects_and_other_redirects_fail() {
        let (port, seen) = receiver(Arc::new(|_: &Seen| {
            b"HTTP/1.1 308 Permanent Redirect\r\nlocation: /again\r\ncontent-length: 0\r\n\r\n"
                .to_vec()
        }));
        let endpoint = format!("http://127.0.0.1:{port}/");
        let headers = Headers::default();
        let t = HttpTransport::with_proxies(config(&endpoint, &headers), no_proxy()).unwrap();
        let err = t.post(Vec::new(), "application/json").unwrap_err();
        assert!(
            matches!(&err, ExportError::Unreachable { message, .. } if message.contains("redirects")),
            "{err:?}"
        );
        assert_eq!(seen.lock().unwrap().len(), MAX_REDIRECTS + 1);

        let (port, _) = receiver(Arc::new(|_: &Seen| {
            b"HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 0\r\n\r\n".to_vec()
        }));
        let endpoint = format!("http://127.0.0.1:{port}/");
        let t = HttpTransport::with_proxies(config(&endpoint, &headers), no_proxy()).unwrap();
        let err = t.post(Vec::new(), "application/json").unwrap_err();
        assert!(
            matches!(&err, ExportError::Rejected { status, .. } if status == "302"),
            "{err:?}"
        );
    }

    #[test]
    fn http_goes_through_an_http_proxy_unless_no_proxy_says_otherwise() {
        let (proxy, seen) = receiver(Arc::new(ok));
        let proxies = || {
            Matcher::builder()
                .http(format!("http://proxy-user:proxy%20pw@127.0.0.1:{proxy}"))
                .no("localhost, .internal")
                .build()
        };
        let headers = Headers::default();
        let endpoint = "http://collector.example:4318/v1/traces";
        let t = HttpTransport::with_proxies(config(endpoint, &headers), proxies()).unwrap();
        t.post(b"x".to_vec(), "application/json").unwrap();
        {
            let seen = seen.lock().unwrap();
            assert_eq!(
                seen[0].request_line,
                "POST http://collector.example:4318/v1/traces HTTP/1.1"
            );
            assert_eq!(seen[0].header("host"), Some("collector.example:4318"));
            assert_eq!(
                seen[0].header("proxy-authorization"),
                Some(basic_auth("proxy-user", Some("proxy pw")).to_str().unwrap())
            );
        }
        // Excluded: direct (and nothing listens on that port).
        let direct =
            HttpTransport::with_proxies(config("http://receiver.internal:9/", &headers), proxies())
                .unwrap();
        let err = direct.post(Vec::new(), "application/json").unwrap_err();
        assert!(matches!(err, ExportError::Unreachable { .. }), "{err:?}");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_proxy_of_another_kind_is_an_error_that_says_so() {
        let proxies = Matcher::builder().all("socks5://127.0.0.1:1080").build();
        let headers = Headers::default();
        let t = HttpTransport::with_proxies(config("http://collector:4318/", &headers), proxies)
            .unwrap();
        let err = t.post(Vec::new(), "application/json").unwrap_err();
        assert!(
            matches!(&err, ExportError::Unreachable { message, .. } if message.contains("not an http:// proxy")),
            "{err:?}"
        );
    }

    #[test]
    fn a_tunnel_the_proxy_refuses_is_unreachable_with_its_answer() {
        let (proxy, seen) = receiver(Arc::new(|_: &Seen| {
            b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n".to_vec()
        }));
        let proxies = Matcher::builder()
            .https(format!("http://u:p@127.0.0.1:{proxy}"))
            .build();
        let headers = Headers::default();
        let built =
            HttpTransport::with_proxies(config("https://collector:4318/", &headers), proxies);
        // Without `tls`, https:// is refused at build time.
        assert_eq!(built.is_ok(), cfg!(feature = "tls"));
        let Ok(t) = built else { return };
        let err = t.post(Vec::new(), "application/json").unwrap_err();
        assert!(
            matches!(&err, ExportError::Unreachable { message, .. } if message.contains("407")),
            "{err:?}"
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].request_line, "CONNECT collector:4318 HTTP/1.1");
        assert_eq!(seen[0].header("host"), Some("collector:4318"));
        assert_eq!(seen[0].header("proxy-authorization"), Some("Basic dTpw"));
    }

    /// `https://` through a `CONNECT` tunnel, to a receiver whose
    /// certificate a private CA signed.
    #[cfg(feature = "tls")]
    #[test]
    fn https_goes_through_a_connect_tunnel() {
        use tokio::io::AsyncWriteExt as _;

        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));

        let rt = tokio::runtime::Runtime::new().unwrap();
        let receiver = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let receiver_port = receiver.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let kept = bodies.clone();
        rt.spawn(async move {
            while let Ok((tcp, _)) = receiver.accept().await {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.ends_with(b"body") {
                    let n = tls.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                kept.lock().unwrap().push(buf);
                tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .unwrap();
                tls.flush().await.unwrap();
            }
        });
        // The proxy: answers CONNECT, then relays bytes both ways.
        let proxy = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let proxy_port = proxy.local_addr().unwrap().port();
        let connects = Arc::new(Mutex::new(Vec::<String>::new()));
        let asked = connects.clone();
        rt.spawn(async move {
            while let Ok((mut client, _)) = proxy.accept().await {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    client.read_exact(&mut byte).await.unwrap();
                    head.push(byte[0]);
                }
                let head = String::from_utf8(head).unwrap();
                asked
                    .lock()
                    .unwrap()
                    .push(head.lines().next().unwrap().to_owned());
                let mut upstream = tokio::net::TcpStream::connect(("127.0.0.1", receiver_port))
                    .await
                    .unwrap();
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });

        let headers = Headers::default();
        let endpoint = format!("https://localhost:{receiver_port}/v1/traces");
        let mut c = config(&endpoint, &headers);
        let ca_pem = ca_cert.pem();
        c.ca_pem = Some(ca_pem.as_bytes());
        let proxies = Matcher::builder()
            .https(format!("127.0.0.1:{proxy_port}"))
            .build();
        let t = HttpTransport::with_proxies(c, proxies).unwrap();
        t.post(b"body".to_vec(), "application/x-protobuf").unwrap();
        assert_eq!(
            *connects.lock().unwrap(),
            [format!("CONNECT localhost:{receiver_port} HTTP/1.1")]
        );
        let bodies = bodies.lock().unwrap();
        let request = String::from_utf8_lossy(&bodies[0]);
        assert!(
            request.starts_with("POST /v1/traces HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.ends_with("\r\n\r\nbody"), "{request}");
    }
}
