//! Client spans for any HTTP client: start, inject, record the outcome.

use agent_trace_core::{AgentStepTracer, Exception, Span, SpanKind, Status};
use agent_trace_propagation::{PropagationContext, TextMapPropagator, TraceContextPropagator};
use http::{HeaderMap, Method, StatusCode, Uri};

/// The method as the HTTP conventions name it: one of the nine standard
/// methods, or `_OTHER` (a span name and attribute must stay low-cardinality;
/// the original goes to `http.request.method_original`).
pub(crate) fn method_name(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => return None,
    })
}

/// Sets `http.request.method` (and `http.request.method_original` for a
/// non-standard method); returns the name to use in the span name.
pub(crate) fn set_method(span: &mut Span, method: &Method) -> &'static str {
    match method_name(method) {
        Some(name) => {
            span.set_attribute("http.request.method", name);
            name
        }
        None => {
            span.set_attribute("http.request.method", "_OTHER");
            span.set_attribute("http.request.method_original", method.as_str().to_owned());
            "HTTP"
        }
    }
}

/// `scheme://host[:port]/path?query`, without any user name or password
/// the URI carries (the conventions require them redacted).
fn full_url(uri: &Uri) -> String {
    let mut out = String::new();
    if let Some(scheme) = uri.scheme_str() {
        out.push_str(scheme);
        out.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, hp)| hp);
        out.push_str(host_port);
    }
    out.push_str(uri.path_and_query().map_or("/", |pq| pq.as_str()));
    out
}

/// Starts a CLIENT span for a request about to be sent: a child of the span
/// current on this thread (a new trace when none is), named after the
/// method as the HTTP conventions say, with `http.request.method`,
/// `url.full` (credentials removed), `server.address` and `server.port`.
///
/// Then [`inject`] its context into the request's headers, and record the
/// outcome with [`record_response`] or [`record_error`]; the span ends when
/// it drops.
pub fn start_client_span(tracer: &AgentStepTracer, method: &Method, uri: &Uri) -> Span {
    let mut span = tracer.span_builder("HTTP").kind(SpanKind::Client).start();
    let name = set_method(&mut span, method);
    span.update_name(name);
    span.set_attribute("url.full", full_url(uri));
    if let Some(host) = uri.host() {
        span.set_attribute("server.address", host.to_owned());
    }
    let port = uri.port_u16().or(match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    });
    if let Some(port) = port {
        span.set_attribute("server.port", i64::from(port));
    }
    span
}

/// Writes `span`'s context into outgoing headers as W3C `traceparent` (and
/// `tracestate` when it has one), replacing any already there.
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    span.inject_headers(headers);
}

/// Writes the context of the span current on this thread into outgoing
/// headers; does nothing when no span is current.
pub fn inject_current(headers: &mut HeaderMap) {
    if let Some(context) = AgentStepTracer::current_context() {
        TraceContextPropagator.inject(&PropagationContext::from(context), headers);
    }
}

/// Records the response's status on a client span: `http.response.status_code`,
/// and for 4xx and 5xx an error status with `error.type` set to the code, as
/// the conventions say for clients (a server marks only 5xx).
pub fn record_response(span: &mut Span, status: StatusCode) {
    span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
    if status.is_client_error() || status.is_server_error() {
        mark_status_error(span, status);
    }
}

/// An error status whose `error.type` is the status code.
pub(crate) fn mark_status_error(span: &mut Span, status: StatusCode) {
    span.set_attribute("error.type", status.as_str().to_owned());
    span.set_status(Status::error(format!("HTTP {}", status.as_u16())));
}

/// Records a request that got no response: an error status, `error.type`
/// (a short, low-cardinality class such as `connection_refused` or
/// `timeout`) and the error itself as an `exception` event.
pub fn record_error<E, const FORM: u8>(span: &mut Span, error_type: &'static str, error: &E)
where
    E: Exception<FORM> + ?Sized,
{
    span.set_attribute("error.type", error_type);
    // Also sets the error status, with the message and its causes.
    span.record_exception(error);
}
