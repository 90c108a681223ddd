//! The durations the latency processor and the `tracing` layer record
//! carry the span's trace and span ids as their exemplar, so a percentile names a
//! real trace; a span that is recorded but not sampled (its trace is not
//! exported) names none.

use std::sync::Arc;

use agent_trace::{
    AgentStepTracer, LatencyMetrics, LatencyProcessor, Sampler, SamplingDecision, SamplingParams,
    ShouldSample,
};

/// Records every span without marking it sampled.
#[derive(Debug)]
struct RecordOnly;

impl ShouldSample for RecordOnly {
    fn should_sample(&self, _: &SamplingParams<'_>) -> SamplingDecision {
        SamplingDecision::RecordOnly
    }
}

fn tracer(metrics: &Arc<LatencyMetrics>, sampler: Sampler) -> AgentStepTracer {
    AgentStepTracer::builder()
        .sampler(sampler)
        .processor(Arc::new(LatencyProcessor::new(metrics.clone())))
        .build()
}

#[test]
fn the_latency_processor_records_the_trace_id_of_sampled_spans() {
    let metrics = Arc::new(LatencyMetrics::new());
    let sampled = tracer(&metrics, Sampler::default());
    let span = sampled.start_trace("tool_call");
    let (id, span_id) = (span.trace_id(), span.span_id());
    span.end();
    let found: Vec<(u128, Option<u64>)> = metrics
        .exemplars("tool_call", None)
        .iter()
        .map(|e| (e.trace_id(), e.span_id()))
        .collect();
    assert_eq!(found, [(id.to_u128(), Some(span_id.to_u64()))]);

    let unsampled = tracer(&metrics, Sampler::custom(RecordOnly));
    unsampled.start_trace("memory_lookup").end();
    assert_eq!(metrics.stats("memory_lookup", None).unwrap().count, 1);
    assert!(metrics.exemplars("memory_lookup", None).is_empty());
}

#[cfg(feature = "tracing")]
#[test]
fn the_tracing_layer_records_the_trace_id_of_each_span() {
    use agent_trace::{AgentTraceLayer, SpanExt};
    use tracing_subscriber::layer::SubscriberExt;

    let metrics = Arc::new(LatencyMetrics::new());
    let layer = AgentTraceLayer::new(AgentStepTracer::new()).with_latency_metrics(metrics.clone());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let id = tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("llm_call");
        let id = span.agent_context().map(|cx| (cx.trace_id, cx.span_id));
        drop(span);
        id
    });
    let (id, span_id) = id.expect("the layer gave the span a context");
    let p = metrics.percentiles_with_exemplars("llm_call").unwrap();
    assert_eq!(
        p.p50.map(|e| (e.trace_id(), e.span_id())),
        Some((id.to_u128(), Some(span_id.to_u64())))
    );
}
