//! `https://` endpoints over rustls: the exporters reach a real TLS
//! receiver (a certificate of a private CA generated here, trusted through
//! `ca_certificate_pem`), for OTLP over HTTP and gRPC, and refuse a server
//! whose certificate they cannot verify.
#![cfg(all(feature = "tls", feature = "otlp-http", feature = "otlp-grpc"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanProcessor};
use agent_trace_export::{ExportError, OtlpExporter, OtlpProtocol, SpanExporter};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA and a `localhost` certificate it signed, as PEM.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "agent-trace test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn spans() -> Vec<FinishedSpan> {
    #[derive(Debug, Default, Clone)]
    struct Keep(Arc<std::sync::Mutex<Vec<FinishedSpan>>>);
    impl SpanProcessor for Keep {
        fn on_end(&self, span: FinishedSpan) {
            self.0.lock().unwrap().push(span);
        }
    }
    let keep = Keep::default();
    let tracer = AgentStepTracer::builder()
        .processor(Arc::new(keep.clone()))
        .without_store()
        .build();
    tracer.start_trace("agent_task").end();
    keep.0.lock().unwrap().clone()
}

/// An HTTPS OTLP receiver: TLS by tokio-rustls, one request per
/// connection, counting the spans of each decoded request.
fn https_receiver(pki: &Pki, spans: Arc<AtomicUsize>) -> (tokio::runtime::Runtime, u16) {
    let certs = rustls_pem(&pki.cert_pem);
    let key = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap()
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let spans = spans.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Head, then a body of Content-Length bytes.
                let (head_end, len) = loop {
                    let n = tls.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = tls.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                let req =
                    ExportTraceServiceRequest::decode(&buf[head_end..head_end + len]).unwrap();
                let n: usize = req.resource_spans[0].scope_spans[0].spans.len();
                spans.fetch_add(n, Ordering::SeqCst);
                tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tls.shutdown().await;
            });
        }
    });
    (rt, port)
}

fn rustls_pem(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(Result::unwrap)
        .collect()
}

#[test]
fn otlp_over_https_reaches_a_receiver_of_a_private_ca() {
    let pki = pki();
    let received = Arc::new(AtomicUsize::new(0));
    let (_rt, port) = https_receiver(&pki, received.clone());
    let mut exporter = OtlpExporter::builder()
        .endpoint(format!("https://localhost:{port}/v1/traces"))
        .ca_certificate_pem(pki.ca_pem.clone())
        .build()
        .unwrap();
    exporter.export(&spans()).unwrap();
    assert_eq!(received.load(Ordering::SeqCst), 1);

    // Without the CA, the certificate cannot be verified: no span sent.
    let mut untrusting = OtlpExporter::builder()
        .endpoint(format!("https://localhost:{port}/v1/traces"))
        .build()
        .unwrap();
    let err = untrusting.export(&spans()).unwrap_err();
    assert!(matches!(err, ExportError::Unreachable { .. }), "{err}");
    assert_eq!(received.load(Ordering::SeqCst), 1);
}

#[derive(Clone, Default)]
struct Grpc(Arc<AtomicUsize>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let n = request.into_inner().resource_spans[0].scope_spans[0]
            .spans
            .len();
        self.0.fetch_add(n, Ordering::SeqCst);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[test]
fn otlp_over_grpc_with_tls_reaches_a_receiver_of_a_private_ca() {
    let pki = pki();
    let receiver = Grpc::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let incoming = rt
        .block_on(async {
            tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
        })
        .unwrap();
    let port = incoming.local_addr().unwrap().port();
    let identity = tonic::transport::Identity::from_pem(&pki.cert_pem, &pki.key_pem);
    let server = tonic::transport::Server::builder()
        .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
        .unwrap()
        .add_service(TraceServiceServer::new(receiver.clone()))
        .serve_with_incoming(incoming);
    rt.spawn(server);
    let mut exporter = OtlpExporter::builder()
        .protocol(OtlpProtocol::Grpc)
        .endpoint(format!("https://localhost:{port}"))
        .ca_certificate_pem(pki.ca_pem.clone())
        .build()
        .unwrap();
    exporter.export(&spans()).unwrap();
    assert_eq!(receiver.0.load(Ordering::SeqCst), 1);
}
