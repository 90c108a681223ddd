//! The server side: a `tower` layer that opens a SERVER span per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use agent_trace_core::{AgentStepTracer, Span, Status};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::client::{mark_status_error, method_name};

/// Reads a request's route template (`/users/{id}`, not `/users/42`): the
/// `http.route` attribute and the second half of the span name. It sees the
/// request's parts only, so it works whatever the body type.
pub type RouteFn = fn(&http::request::Parts) -> Option<String>;

/// The default route reader: axum's `MatchedPath` with the feature `axum`
/// (present when the layer is added with `Router::layer`), none otherwise.
fn default_route(parts: &http::request::Parts) -> Option<String> {
    #[cfg(feature = "axum")]
    {
        parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map(|path| path.as_str().to_owned())
    }
    #[cfg(not(feature = "axum"))]
    {
        let _ = parts;
        None
    }
}

/// A `tower::Layer` that traces every request a server receives.
///
/// For each request it continues the caller's trace from `traceparent` and
/// `tracestate` (a new trace when they are missing or invalid), opens a
/// SERVER span named `{method} {route}` (or `{method}` when the route is
/// unknown), keeps it current for the handler across its `.await`s, and
/// ends it when the handler has produced its response (or its future is
/// dropped). Attributes: `http.request.method`, `url.path`, `url.scheme`,
/// `http.route`, `server.address`, `server.port`, `user_agent.original`,
/// `http.response.status_code`; a 5xx answer or a service error sets an
/// error status and `error.type`.
///
/// The span ends when the response head is ready; a streamed body is not
/// part of it.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_http::HttpServerLayer;
///
/// let tracer = AgentStepTracer::new(); // or `agent_trace::tracer()`
/// let app: axum::Router = axum::Router::new()
///     .route("/answer", axum::routing::get(|| async { "42" }))
///     // `Router::layer`, so that the route (axum's `MatchedPath`) is known.
///     .layer(HttpServerLayer::new(&tracer));
/// # let _ = app;
/// ```
#[derive(Clone, Debug)]
pub struct HttpServerLayer {
    tracer: AgentStepTracer,
    route: RouteFn,
}

impl HttpServerLayer {
    /// A layer that starts its spans on `tracer` (with the facade,
    /// `HttpServerLayer::new(agent_trace::tracer())` for the global one).
    pub fn new(tracer: &AgentStepTracer) -> Self {
        Self {
            tracer: tracer.clone(),
            route: default_route,
        }
    }

    /// Reads the route template with `route` instead of the default (axum's
    /// `MatchedPath` with the feature `axum`): for other routers, which keep
    /// their match in a request extension of their own.
    pub fn with_route(mut self, route: RouteFn) -> Self {
        self.route = route;
        self
    }
}

impl<S> Layer<S> for HttpServerLayer {
    type Service = HttpServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpServerService {
            inner,
            tracer: self.tracer.clone(),
            route: self.route,
        }
    }
}

/// The service [`HttpServerLayer`] wraps around a server's service.
#[derive(Clone, Debug)]
pub struct HttpServerService<S> {
    inner: S,
    tracer: AgentStepTracer,
    route: RouteFn,
}

impl<S, B, ResB> Service<Request<B>> for HttpServerService<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ServerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let span = server_span(&self.tracer, &parts, (self.route)(&parts));
        let request = Request::from_parts(parts, body);
        // Current while the inner service makes its future too: some do
        // their work in `call`.
        let inner = {
            let _current = span.enter();
            self.inner.call(request)
        };
        ServerFuture {
            inner,
            span: Some(span),
        }
    }
}

/// The SERVER span for a request, with its request attributes.
fn server_span(
    tracer: &AgentStepTracer,
    parts: &http::request::Parts,
    route: Option<String>,
) -> Span {
    let method = method_name(&parts.method).unwrap_or("HTTP");
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let mut span = tracer.continue_trace_from_headers(&parts.headers, name);
    if !span.is_recording() {
        return span;
    }
    crate::client::set_method(&mut span, &parts.method);
    span.set_attribute("url.path", parts.uri.path().to_owned());
    // A server sees a scheme only in an absolute-form target (a proxy
    // request); otherwise it is the connection's, plain HTTP unless TLS
    // terminates in front of this service.
    span.set_attribute(
        "url.scheme",
        parts.uri.scheme_str().unwrap_or("http").to_owned(),
    );
    if let Some(route) = route {
        span.set_attribute("http.route", route);
    }
    // The request target's authority (absolute form), else the `Host` header.
    let authority = parts.uri.authority().cloned().or_else(|| {
        let host = parts.headers.get(http::header::HOST)?.to_str().ok()?;
        host.parse::<http::uri::Authority>().ok()
    });
    if let Some(authority) = authority {
        let host = authority.host().trim_matches(['[', ']']).to_owned();
        span.set_attribute("server.address", host);
        if let Some(port) = authority.port_u16() {
            span.set_attribute("server.port", i64::from(port));
        }
    }
    if let Some(agent) = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        span.set_attribute("user_agent.original", agent.to_owned());
    }
    span
}

pin_project! {
    /// The response future of [`HttpServerService`]: the inner future with
    /// the request's span current around every poll; the span ends when it
    /// completes (or is dropped unfinished).
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct ServerFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
    }
}

impl<F, ResB, E> Future for ServerFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let current = this.span.as_ref().map(Span::enter);
        let poll = this.inner.poll(cx);
        drop(current);
        if let Poll::Ready(result) = &poll
            && let Some(mut span) = this.span.take()
        {
            match result {
                Ok(response) => {
                    let status = response.status();
                    span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
                    // A server marks 5xx only: a 4xx is the client's error.
                    if status.is_server_error() {
                        mark_status_error(&mut span, status);
                    }
                }
                Err(_) => {
                    span.set_attribute("error.type", std::any::type_name::<E>());
                    span.set_status(Status::error("the service failed"));
                }
            }
            // Ends here, as soon as the response exists.
            drop(span);
        }
        poll
    }
}
