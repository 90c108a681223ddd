//! The values of the OpenTelemetry environment variables, and of the
//! GenAI ones: any text as `OTEL_EXPORTER_OTLP_HEADERS`
//! (`Headers::parse_otel_list`), `OTEL_EXPORTER_OTLP_PROTOCOL`
//! (`OtlpProtocol`), `OTEL_SEMCONV_STABILITY_OPT_IN` (`StabilityOptIn`) and
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (`ContentCapture`);
//! and, split at the first NUL byte, as `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG` (`Sampler::from_otel_env`; no NUL: no `ARG`).
//!
//! `OTEL_RESOURCE_ATTRIBUTES` is read only by `Resource::from_env`, from
//! the environment; its list parser is the one `Headers::parse_otel_list`
//! calls, so it is fuzzed here through that.
//!
//! Nothing may panic. What the docs promise is checked: header values never
//! show in `Debug` and errors name an entry by position only; a protocol is
//! one of three names, whitespace aside; sampler names ignore surrounding
//! whitespace and ASCII case, a blank `ARG` counts as unset, and a ratio
//! sampler is accepted exactly when its `ARG` is a number within
//! `0.0..=1.0`, with that ratio; the GenAI values ignore ASCII case.
//! (`Sampler::should_sample` is not called: `SamplingParams` is
//! `#[non_exhaustive]` with no public constructor.)
#![no_main]

use std::mem::discriminant;

use agent_trace::genai::{ContentCapture, StabilityOptIn};
use agent_trace_core::{Sampler, TraceError};
use agent_trace_export::{Headers, OtlpProtocol};
use libfuzzer_sys::fuzz_target;

fn check_headers(text: &str) {
    let entries: Vec<&str> = text.split(',').collect();
    match Headers::parse_otel_list(text) {
        Ok(headers) => {
            let names: Vec<&str> = entries
                .iter()
                .filter(|e| !e.trim().is_empty())
                .map(|e| {
                    e.split_once('=')
                        .expect("an accepted entry has '='")
                        .0
                        .trim()
                })
                .collect();
            assert!(names.iter().all(|n| !n.is_empty()));
            assert_eq!(headers.is_empty(), names.is_empty());
            // `Debug` shows the names, in order, and nothing of the values:
            // it is the same as for any other values.
            let mut same_names = Headers::default();
            for name in &names {
                same_names.insert(*name, "x");
            }
            assert_eq!(format!("{headers:?}"), format!("{same_names:?}"));
        }
        Err(e) => {
            // By position, never by content (a value may be a secret).
            let message = e.to_string();
            let rest = message
                .strip_prefix("invalid exporter configuration: header entry ")
                .unwrap_or_else(|| panic!("{message:?}"));
            let (n, why) = rest
                .split_once(' ')
                .unwrap_or_else(|| panic!("{message:?}"));
            let n: usize = n.parse().unwrap_or_else(|_| panic!("{message:?}"));
            assert!((1..=entries.len()).contains(&n), "{message:?}");
            assert!(
                [
                    "has no '='",
                    "has an empty key",
                    "is not valid percent-encoding"
                ]
                .contains(&why),
                "{message:?}"
            );
        }
    }
}

fn check_protocol(text: &str) {
    let expected = match text.trim() {
        "grpc" => Some(OtlpProtocol::Grpc),
        "http/protobuf" => Some(OtlpProtocol::HttpProtobuf),
        "http/json" => Some(OtlpProtocol::HttpJson),
        _ => None,
    };
    match text.parse::<OtlpProtocol>() {
        Ok(p) => assert_eq!(Some(p), expected),
        Err(e) => {
            assert_eq!(expected, None);
            let _ = e.to_string();
        }
    }
}

/// A ratio of the sampler, where it has one.
fn ratio_of(sampler: &Sampler) -> Option<f64> {
    match sampler {
        Sampler::TraceIdRatio(r) => Some(r.ratio()),
        Sampler::ParentBased(p) => ratio_of(&p.root),
        _ => None,
    }
}

fn check_sampler(name: &str, arg: Option<&str>) {
    let got = Sampler::from_otel_env(name, arg);
    if let Err(e) = &got {
        let _ = e.to_string();
    }

    // Surrounding whitespace and ASCII case are ignored.
    let shouted = format!(" \t{}\n", name.to_ascii_uppercase());
    let same = Sampler::from_otel_env(&shouted, arg);
    match (&got, &same) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => assert_eq!(discriminant(a), discriminant(b), "{a} / {b}"),
        _ => panic!("{name:?} and {shouted:?} differ: {got:?} / {same:?}"),
    }

    // A blank argument is no argument.
    if arg.is_some_and(|a| a.trim().is_empty()) {
        let unset = Sampler::from_otel_env(name, None);
        assert_eq!(format!("{got:?}"), format!("{unset:?}"));
    }

    // A ratio sampler takes exactly the numbers within 0.0..=1.0.
    let lower = name.trim().to_ascii_lowercase();
    if lower == "traceidratio" || lower == "parentbased_traceidratio" {
        let expected = match arg.map(str::trim).filter(|a| !a.is_empty()) {
            None => Some(1.0),
            Some(a) => a.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)),
        };
        match (&got, expected) {
            (Ok(s), Some(r)) => assert_eq!(ratio_of(s), Some(r), "{s:?}"),
            (Err(TraceError::InvalidSamplerArg { value, .. }), None) => {
                assert_eq!(Some(value.as_str()), arg);
            }
            _ => panic!("{name:?} {arg:?}: {got:?}, expected the ratio {expected:?}"),
        }
    }
}

fn check_genai(text: &str) {
    let upper = text.to_ascii_uppercase();
    let opt_in = StabilityOptIn::parse(text);
    assert_eq!(opt_in, StabilityOptIn::parse(&upper));
    // Entries are a set: their order does not matter.
    let reversed: Vec<&str> = text.split(',').rev().collect();
    assert_eq!(opt_in, StabilityOptIn::parse(&reversed.join(",")));

    let capture = ContentCapture::from_env_value(Some(text));
    assert_eq!(
        capture.is_enabled(),
        ContentCapture::from_env_value(Some(&upper)).is_enabled()
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_headers(text);
    check_protocol(text);
    check_genai(text);
    let (name, arg) = match text.split_once('\0') {
        Some((name, arg)) => (name, Some(arg)),
        None => (text, None),
    };
    check_sampler(name, arg);
});
