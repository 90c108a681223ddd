//! Head sampling: always-on/off, trace-id ratio within a statistical bound,
//! parent-based decisions, and sampled-out spans that still propagate.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent_trace_core::{
    AgentStepTracer, Sampler, SamplingDecision, SamplingParams, ShouldSample, SpanContext, SpanId,
    SpanKind, TraceFlags, TraceId,
};
use support::Collector;

fn tracer(sampler: Sampler) -> (AgentStepTracer, Arc<Collector>) {
    support::collecting_tracer_with(|b| b.sampler(sampler))
}

fn remote(sampled: bool) -> SpanContext {
    SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::NONE.with_sampled(sampled),
    )
    .into_remote()
}

#[test]
fn ratio_sampler_keeps_its_share_within_six_sigma() {
    const N: usize = 100_000;
    const RATIO: f64 = 0.25;
    let (tracer, spans) = tracer(Sampler::trace_id_ratio(RATIO).unwrap());
    let mut flagged = 0;
    for _ in 0..N {
        let span = tracer.start_trace("t");
        flagged += usize::from(span.span_context().is_sampled());
    }
    let kept = spans.take().len();
    assert_eq!(kept, flagged, "the sampled flag and delivery agree");
    let expected = N as f64 * RATIO;
    let sigma = (N as f64 * RATIO * (1.0 - RATIO)).sqrt(); // about 137
    assert!(
        (kept as f64 - expected).abs() < 6.0 * sigma,
        "kept {kept} of {N}, expected {expected} ± {}",
        6.0 * sigma
    );
}

#[test]
fn ratio_decision_depends_on_the_trace_id_alone() {
    // Two services at the same ratio, without parent-based sampling, keep the
    // same traces: the second decides on the first one's trace ids.
    let (first, _) = tracer(Sampler::trace_id_ratio(0.5).unwrap());
    let (second, _) = tracer(Sampler::trace_id_ratio(0.5).unwrap());
    let mut agreed_sampled = 0;
    for _ in 0..2_000 {
        let a = first.start_trace("a");
        let b = second.span_builder("b").parent(&a).start();
        assert_eq!(a.span_context().is_sampled(), b.span_context().is_sampled());
        agreed_sampled += usize::from(b.is_recording());
    }
    assert!((700..1300).contains(&agreed_sampled), "{agreed_sampled}");
}

#[test]
fn parent_based_follows_remote_and_local_parents() {
    let (tracer, spans) = tracer(Sampler::parent_based(Sampler::AlwaysOff));
    assert!(
        !tracer.start_trace("root").is_recording(),
        "root sampler decides"
    );
    assert!(tracer.continue_trace(&remote(true), "yes").is_recording());
    let no = tracer.continue_trace(&remote(false), "no");
    assert!(!no.is_recording());
    let child_of_no = tracer.span_builder("child").parent(&no).start();
    assert!(!child_of_no.is_recording(), "local unsampled parent");
    drop((no, child_of_no));
    let names: Vec<_> = spans
        .take()
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["yes"]);
}

#[test]
fn sampled_out_spans_still_propagate_their_trace() {
    let (tracer, spans) = tracer(Sampler::AlwaysOff);
    let root = tracer.start_trace("root").entered();
    let mut child = tracer.start_span("child");
    child.set_attribute("ignored", true);
    child.record_exception(&std::fmt::Error);
    assert!(!child.is_recording());
    assert_eq!(child.trace_id(), root.trace_id(), "same trace");
    assert_ne!(child.span_id(), root.span_id(), "own span id");
    assert!(!child.span_context().is_sampled());
    drop((child, root));
    assert!(spans.take().is_empty(), "nothing reaches processors");
}

#[test]
fn record_only_spans_reach_processors_unsampled() {
    #[derive(Debug)]
    struct RecordOnly;
    impl ShouldSample for RecordOnly {
        fn should_sample(&self, _: &SamplingParams<'_>) -> SamplingDecision {
            SamplingDecision::RecordOnly
        }
    }
    let (tracer, spans) = tracer(Sampler::custom(RecordOnly));
    drop(tracer.start_trace("r"));
    let s = spans.named("r");
    assert!(!s.context.is_sampled());
}

#[test]
fn custom_samplers_see_name_kind_and_start_attributes() {
    #[derive(Debug, Default)]
    struct OnlyLlm(AtomicUsize);
    impl ShouldSample for OnlyLlm {
        fn should_sample(&self, p: &SamplingParams<'_>) -> SamplingDecision {
            self.0.fetch_add(1, Ordering::Relaxed);
            let llm = p.kind == SpanKind::Client
                && p.name.starts_with("chat")
                && p.attributes
                    .iter()
                    .any(|kv| kv.key == "gen_ai.request.model");
            if llm {
                SamplingDecision::RecordAndSample
            } else {
                SamplingDecision::Drop
            }
        }
    }
    let (tracer, spans) = tracer(Sampler::custom(OnlyLlm::default()));
    drop(tracer.start_trace("step"));
    drop(
        tracer
            .trace_builder("chat gpt-4")
            .kind(SpanKind::Client)
            .attribute("gen_ai.request.model", "gpt-4")
            .start(),
    );
    let names: Vec<_> = spans
        .take()
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["chat gpt-4"]);
}
