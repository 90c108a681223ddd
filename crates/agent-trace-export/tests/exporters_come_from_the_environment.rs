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
}
