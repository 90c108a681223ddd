//! The current span follows a future across `.await`s that resume on another
//! thread and into spawned tasks, through `AgentFutureExt`.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use agent_trace_core::{AgentFutureExt, AgentStepTracer};
use support::collecting_tracer;

/// Returns `Pending` once, then `Ready`: an await point we control.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

#[test]
fn an_await_resumed_on_another_thread_keeps_the_parent() {
    let (tracer, spans) = collecting_tracer();
    let step = tracer.start_trace("step");
    let step_cx = step.context();
    let t = tracer.clone();
    let mut fut: Pin<Box<dyn Future<Output = std::thread::ThreadId> + Send>> = Box::pin(
        async move {
            drop(t.start_span("before_await"));
            YieldOnce(false).await;
            drop(t.start_span("after_await"));
            std::thread::current().id()
        }
        .in_span(step),
    );
    let mut cx = Context::from_waker(Waker::noop());
    // First poll here, on the test thread: it stops at the await.
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(
        AgentStepTracer::current_context().is_none(),
        "nothing leaks out of a poll"
    );
    // Resume on another thread, as a work-stealing runtime may.
    let resumed_on = std::thread::spawn(move || {
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(id) => id,
            Poll::Pending => panic!("second poll completes"),
        }
    })
    .join()
    .unwrap();
    assert_ne!(resumed_on, std::thread::current().id());

    for name in ["before_await", "after_await"] {
        let s = spans.named(name);
        assert_eq!(s.context.trace_id, step_cx.trace_id, "{name}");
        assert_eq!(s.parent_span_id, Some(step_cx.span_id), "{name}");
    }
    // The span ended when the future completed.
    assert!(spans.named("step").end_time >= spans.named("after_await").end_time);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_join_the_spawning_span_only_when_wrapped() {
    let (tracer, spans) = collecting_tracer();
    let root = tracer.start_trace("root");
    let root_cx = root.context();
    let mut handles = Vec::new();
    {
        let _current = root.enter();
        for i in 0..8 {
            let t = tracer.clone();
            let task = async move {
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                drop(t.start_span(if i % 2 == 0 { "wrapped" } else { "unused" }));
            };
            // Wrapping captures the current span now, on this thread.
            handles.push(tokio::spawn(task.in_current_context()));
        }
        let t = tracer.clone();
        handles.push(tokio::spawn(async move {
            drop(t.start_span("unwrapped"));
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    drop(root);
    for s in spans.spans() {
        match s.name.as_str() {
            "wrapped" | "unused" => {
                assert_eq!(s.parent_span_id, Some(root_cx.span_id));
                assert_eq!(s.context.trace_id, root_cx.trace_id);
            }
            "unwrapped" => {
                assert_eq!(s.parent_span_id, None, "a bare spawn starts a new trace");
                assert_ne!(s.context.trace_id, root_cx.trace_id);
            }
            "root" => {}
            other => panic!("unexpected span {other}"),
        }
    }
    assert_eq!(spans.spans().len(), 10);
}

async fn async_step(tracer: AgentStepTracer, n: u64) -> String {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
    tracer.in_span("model_call", |span| span.set_attribute("step", n as i64));
    tokio::time::sleep(std::time::Duration::from_millis(n)).await;
    format!("Step {n} complete")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_gather_example_is_one_trace_with_three_children() {
    let (tracer, spans) = collecting_tracer();
    let trace = tracer.start_trace("async_workflow");
    let trace_cx = trace.context();
    let step = |n: u64| {
        let span = tracer
            .span_builder(format!("step_{n}"))
            .parent(&trace)
            .start();
        tokio::spawn(async_step(tracer.clone(), n).in_span(span))
    };
    let (a, b, c) = tokio::join!(step(1), step(2), step(3));
    assert_eq!(
        [a.unwrap(), b.unwrap(), c.unwrap()],
        ["Step 1 complete", "Step 2 complete", "Step 3 complete"]
    );
    drop(trace);

    let all = spans.spans();
    assert_eq!(all.len(), 7);
    assert!(all.iter().all(|s| s.context.trace_id == trace_cx.trace_id));
    for n in 1..=3 {
        let step = spans.named(&format!("step_{n}"));
        assert_eq!(step.parent_span_id, Some(trace_cx.span_id));
        let calls: Vec<_> = all
            .iter()
            .filter(|s| s.name == "model_call" && s.parent_span_id == Some(step.context.span_id))
            .collect();
        assert_eq!(calls.len(), 1, "step_{n} has its own model call");
    }
}
