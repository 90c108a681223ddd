//! The client side for reqwest: a `reqwest_middleware::Middleware`.

use agent_trace_core::AgentStepTracer;
use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next, Result};

use crate::client::{record_error, record_response, start_client_span};

/// A `reqwest_middleware::Middleware` that opens a CLIENT span per request
/// (a child of the span current where the request is sent), injects its
/// `traceparent` (and `tracestate`) into the request, and records the
/// outcome: `http.response.status_code`, and for a 4xx or 5xx answer, a
/// refused connection, a timeout or any other failure, an error status with
/// `error.type`.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_http::HttpClientMiddleware;
///
/// let tracer = AgentStepTracer::new(); // or `agent_trace::tracer()`
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(HttpClientMiddleware::new(&tracer))
///     .build();
/// # let _ = client;
/// ```
#[derive(Clone, Debug)]
pub struct HttpClientMiddleware {
    tracer: AgentStepTracer,
}

impl HttpClientMiddleware {
    /// A middleware that starts its spans on `tracer`.
    pub fn new(tracer: &AgentStepTracer) -> Self {
        Self {
            tracer: tracer.clone(),
        }
    }
}

#[async_trait::async_trait]
impl Middleware for HttpClientMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let uri: Option<http::Uri> = request.url().as_str().parse().ok();
        let uri = uri.unwrap_or_default();
        let mut span = start_client_span(&self.tracer, request.method(), &uri);
        span.inject_headers(request.headers_mut());
        let result = next.run(request, extensions).await;
        match &result {
            Ok(response) => record_response(&mut span, response.status()),
            Err(reqwest_middleware::Error::Reqwest(error)) => {
                record_error(&mut span, error_type(error), error);
            }
            Err(reqwest_middleware::Error::Middleware(error)) => {
                let error: &(dyn std::error::Error + 'static) = error.as_ref();
                record_error(&mut span, "_OTHER", error);
            }
        }
        result
    }
}

/// A low-cardinality class for a request that got no response.
fn error_type(error: &reqwest::Error) -> &'static str {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection_refused",
                std::io::ErrorKind::ConnectionReset => return "connection_reset",
                std::io::ErrorKind::TimedOut => return "timeout",
                _ => {}
            }
        }
        source = cause.source();
    }
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        "_OTHER"
    }
}
