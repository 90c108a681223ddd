//! The reference's complete example: a data-analysis workflow of three agent
//! steps (validate, LLM analysis, report), traced with nested spans.
//!
//! Runs with no collector and no configuration: the tracer keeps finished
//! traces in memory, and the program prints each trace as a tree at the end.
//!
//! ```text
//! cargo run --example agent_workflow
//! ```

use std::fmt;
use std::thread::sleep;
use std::time::Duration;

use agent_trace::{AgentStepTracer, KeyValue, SpanKind, Status, TraceId};

/// A stand-in for an LLM-backed agent: the work is simulated, no network.
struct Agent {
    name: &'static str,
    model: &'static str,
    /// Calls that fail with a rate limit before one succeeds.
    rate_limited_calls: u32,
}

struct Analysis {
    insights: Vec<String>,
    input_tokens: i64,
    output_tokens: i64,
}

#[derive(Debug)]
struct RateLimited {
    retry_after: Duration,
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limited, retry after {:?}", self.retry_after)
    }
}

impl std::error::Error for RateLimited {}

impl Agent {
    fn analyze(&mut self, records: &[f64]) -> Result<Analysis, RateLimited> {
        sleep(Duration::from_millis(30 + records.len() as u64 * 2));
        if self.rate_limited_calls > 0 {
            self.rate_limited_calls -= 1;
            return Err(RateLimited {
                retry_after: Duration::from_millis(5),
            });
        }
        let mean = records.iter().sum::<f64>() / records.len() as f64;
        Ok(Analysis {
            insights: vec![
                format!("mean value is {mean:.2}"),
                format!(
                    "{} records above the mean",
                    records.iter().filter(|&&r| r > mean).count()
                ),
            ],
            input_tokens: 120 + 8 * records.len() as i64,
            output_tokens: 64,
        })
    }
}

/// Step 1: keep the finite, non-negative readings.
fn validate(data: &[f64]) -> Vec<f64> {
    sleep(Duration::from_millis(2));
    data.iter()
        .copied()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .collect()
}

/// Step 3: one page per two insights, at least one.
fn generate_report(analysis: &Analysis) -> usize {
    sleep(Duration::from_millis(8));
    analysis.insights.len().div_ceil(2).max(1)
}

/// The traced workflow, shaped as in the reference.
fn analyze_data_workflow(tracer: &AgentStepTracer, analyst: &mut Agent, data: &[f64]) -> TraceId {
    let mut trace = tracer
        .trace_builder("data_analysis_workflow")
        .agent_id(analyst.name)
        .start();
    trace.set_attribute("data.size", data.len());

    // Step 1: data validation.
    let validated = {
        let mut span = tracer.span_builder("validate_data").parent(&trace).start();
        let validated = validate(data);
        span.set_attribute("valid_records", validated.len());
        if validated.len() < data.len() {
            span.annotate(format!(
                "dropped {} invalid records",
                data.len() - validated.len()
            ));
        }
        validated
    };

    // Step 2: LLM analysis, retried on rate limits.
    let analysis = {
        let mut span = tracer.span_builder("llm_analysis").parent(&trace).start();
        let _current = span.enter(); // attempts below nest under this span
        let analysis = loop {
            let mut call = tracer
                .span_builder("chat")
                .kind(SpanKind::Client)
                .attribute("gen_ai.request.model", analyst.model)
                .start();
            match analyst.analyze(&validated) {
                Ok(analysis) => {
                    call.set_attribute("gen_ai.usage.input_tokens", analysis.input_tokens);
                    call.set_attribute("gen_ai.usage.output_tokens", analysis.output_tokens);
                    call.set_status(Status::Ok);
                    break analysis;
                }
                Err(err) => {
                    call.record_exception(&err);
                    sleep(err.retry_after);
                }
            }
        };
        span.set_attribute("insights_count", analysis.insights.len());
        span.add_event(
            "analysis_complete",
            [KeyValue::new("insight", analysis.insights[0].clone())],
        );
        analysis
    };

    // Step 3: report.
    {
        let mut span = tracer
            .span_builder("generate_report")
            .parent(&trace)
            .start();
        span.set_attribute("report.pages", generate_report(&analysis));
    }

    trace.set_status(Status::Ok);
    trace.trace_id()
}

fn main() {
    let tracer = AgentStepTracer::new();
    let mut analyst = Agent {
        name: "DataAnalyst",
        model: "gpt-4",
        rate_limited_calls: 0,
    };

    let datasets: [&[f64]; 3] = [
        &[1.0, 2.5, 3.5, 4.0],
        &[10.0, f64::NAN, 12.5, -1.0, 11.0, 9.5],
        &[0.5; 12],
    ];
    let mut ids = Vec::new();
    for (i, data) in datasets.iter().enumerate() {
        // The last run meets a rate limit once, to show a recorded exception.
        analyst.rate_limited_calls = u32::from(i == 2);
        ids.push(analyze_data_workflow(&tracer, &mut analyst, data));
    }

    for id in ids {
        let trace = tracer
            .trace(id)
            .expect("the in-memory store keeps recent traces");
        println!("trace {id}");
        println!("{}", trace.render());
    }
}
