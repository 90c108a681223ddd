//! `OTEL_TRACES_EXPORTER` and the `OTEL_EXPORTER_*` variables choose and
//! configure the exporters, explicit settings win, and malformed values
//! are typed errors. One test in its own binary: it changes the process
//! environment, which nothing else here reads concurrently.
#![cfg(all(feature = "otlp-http", feature = "file"))]

use agent_trace_export::{ExportError, OtlpExporter, Resource, exporters_from_env};

fn set(name: &str, value: &str) {
    // SAFETY: this binary runs this one test, and no thread of it reads the
    // environment while it runs.
    unsafe { std::env::set_var(name, value) }
}

fn unset(name: &str) {
    // SAFETY: as in `set`.
    unsafe { std::env::remove_var(name) }
}

#[test]
fn the_environment_chooses_and_configures_exporters() {
    let resource = Resource::new("research-agent");
    unset("OTEL_TRACES_EXPORTER");
    assert!(exporters_from_env(&resource).unwrap().is_none());

    set("OTEL_TRACES_EXPORTER", "otlp, console");
    set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/");
    set(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "authorization=Bearer%20s3cret",
    );
    let exporters = exporters_from_env(&resource).unwrap().unwrap();
    let names: Vec<_> = exporters.iter().map(|e| e.name()).collect();
    assert_eq!(names, ["otlp", "file"]);
    let shown = format!("{:?}", exporters[0]);
    // The base endpoint gets the traces path; the header value stays hidden.
    assert!(shown.contains("http://collector:4318/v1/traces"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");

    // The signal-specific endpoint is used as is, and explicit settings win.
    set(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "http://traces:9999/custom",
    );
    let from_env = OtlpExporter::builder().from_env().unwrap().build().unwrap();
    assert!(format!("{from_env:?}").contains("http://traces:9999/custom"));
    let explicit = OtlpExporter::builder()
        .endpoint("http://explicit:4318/v1/traces")
        .from_env()
        .unwrap()
        .build()
        .unwrap();
    assert!(format!("{explicit:?}").contains("http://explicit:4318/v1/traces"));

    // Malformed values are typed errors naming the variable.
    set("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon");
    let err = OtlpExporter::builder().from_env().unwrap_err();
    assert!(
        matches!(err, ExportError::Config(ref m) if m.contains("carrier-pigeon")),
        "{err}"
    );
    unset("OTEL_EXPORTER_OTLP_PROTOCOL");
    set("OTEL_EXPORTER_OTLP_TIMEOUT", "soon");
    let err = OtlpExporter::builder().from_env().unwrap_err();
    assert!(
        err.to_string().contains("OTEL_EXPORTER_OTLP_TIMEOUT"),
        "{err}"
    );
    unset("OTEL_EXPORTER_OTLP_TIMEOUT");
    set("OTEL_TRACES_EXPORTER", "otlp,telepathy");
    let err = exporters_from_env(&resource).err().unwrap();
    assert!(err.to_string().contains("telepathy"), "{err}");
    set("OTEL_TRACES_EXPORTER", "none");
    assert_eq!(exporters_from_env(&resource).unwrap().unwrap().len(), 0);

    // An OTLP endpoint alone selects OTLP (the specification's default
    // exporter); with nothing set the caller's default stays.
    unset("OTEL_TRACES_EXPORTER");
    unset("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
    let exporters = exporters_from_env(&resource).unwrap().unwrap();
    assert_eq!(exporters.len(), 1);
    assert_eq!(exporters[0].name(), "otlp");
    let shown = format!("{:?}", exporters[0]);
    assert!(shown.contains("http://collector:4318/v1/traces"), "{shown}");
    unset("OTEL_EXPORTER_OTLP_ENDPOINT");
    set(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "http://collector:4318/custom/path",
    );
    let exporters = exporters_from_env(&resource).unwrap().unwrap();
    let shown = format!("{:?}", exporters[0]);
    assert!(
        shown.contains("http://collector:4318/custom/path\""),
        "{shown}"
    );
    unset("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    assert!(exporters_from_env(&resource).unwrap().is_none());

    // A malformed endpoint names its variable.
    set("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url");
    let err = exporters_from_env(&resource).err().unwrap();
    assert_eq!(
        err.to_string(),
        "invalid exporter configuration: OTEL_EXPORTER_OTLP_ENDPOINT: otlp endpoint \
         \"not a url/v1/traces\" is not a URL: relative URL without a base"
    );
    unset("OTEL_EXPORTER_OTLP_ENDPOINT");
    // So does a value of the signal-specific variable.
    set("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-1");
    let err = OtlpExporter::builder().from_env().unwrap_err();
    assert!(
        err.to_string()
            .contains("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=\"-1\" is not a whole number"),
        "{err}"
    );
    unset("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT");
    set("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd");
    let err = OtlpExporter::builder().from_env().unwrap_err();
    assert!(
        err.to_string()
            .contains("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=\"zstd\" (expected gzip or none)"),
        "{err}"
    );
    unset("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION");

    // OTEL_RESOURCE_ATTRIBUTES: attributes, and the service name unless
    // OTEL_SERVICE_NAME gives one; a malformed list names the variable.
    unset("OTEL_SERVICE_NAME");
    set(
        "OTEL_RESOURCE_ATTRIBUTES",
        "service.name=billing,deployment.environment=prod%20eu",
    );
    let r = Resource::from_env().unwrap();
    assert_eq!(r.service_name(), "billing");
    let env = r
        .attributes()
        .iter()
        .find(|kv| kv.key.as_str() == "deployment.environment")
        .unwrap();
    assert_eq!(env.value.as_str(), Some("prod eu"));
    set("OTEL_SERVICE_NAME", "checkout");
    assert_eq!(Resource::from_env().unwrap().service_name(), "checkout");
    set("OTEL_RESOURCE_ATTRIBUTES", "team=agents,broken");
    assert_eq!(
        Resource::from_env().unwrap_err().to_string(),
        "invalid exporter configuration: OTEL_RESOURCE_ATTRIBUTES: attribute entry 2 has no '='"
    );
    unset("OTEL_RESOURCE_ATTRIBUTES");
    unset("OTEL_SERVICE_NAME");

    // Checked here, not in tests of their own: building an exporter reads
    // the environment (OTEL_SERVICE_NAME), which this test changes.
    endpoints_in_code_follow_the_environments_rules();
    an_http_exporter_pointed_at_the_grpc_port_says_so();
}

fn endpoints_in_code_follow_the_environments_rules() {
    // No path: a base, as OTEL_EXPORTER_OTLP_ENDPOINT; a path: as is.
    let shown = |b: agent_trace_export::OtlpExporterBuilder| format!("{:?}", b.build().unwrap());
    let base = shown(OtlpExporter::builder().endpoint("http://localhost:4318"));
    assert!(
        base.contains("\"http://localhost:4318/v1/traces\""),
        "{base}"
    );
    let slash = shown(OtlpExporter::builder().endpoint("http://localhost:4318/"));
    assert!(
        slash.contains("\"http://localhost:4318/v1/traces\""),
        "{slash}"
    );
    let full = shown(OtlpExporter::builder().endpoint("http://localhost:4318/v1/traces"));
    assert!(
        full.contains("\"http://localhost:4318/v1/traces\""),
        "{full}"
    );
    let custom = shown(OtlpExporter::builder().endpoint("http://gateway/otlp/spans"));
    assert!(custom.contains("\"http://gateway/otlp/spans\""), "{custom}");
}

fn an_http_exporter_pointed_at_the_grpc_port_says_so() {
    // The hint is about the port number in the URL, whatever the failure:
    // here nothing listens on 127.0.0.1:4317, so the connection is
    // refused, and the message says what is likely wrong.
    let mut exporter = OtlpExporter::builder()
        .endpoint("http://127.0.0.1:4317")
        .timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let tracer = agent_trace_core::AgentStepTracer::new();
    tracer.start_trace("agent_task").end();
    let spans = tracer.store().unwrap().recent(1)[0].spans().to_vec();
    let err = agent_trace_export::SpanExporter::export(&mut exporter, &spans).unwrap_err();
    assert!(
        err.to_string().contains(
            "(port 4317 is OTLP/gRPC's; an OTLP/HTTP receiver listens on 4318, or set the protocol to grpc)"
        ),
        "{err}"
    );
}
