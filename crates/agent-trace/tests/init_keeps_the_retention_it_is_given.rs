//! `init().trace_store(config)` keeps traces in memory with that retention
//! (the default keeps 100): the oldest traces go first and are counted.
//! One test: it sets globals.

use agent_trace::TraceStoreConfig;

#[test]
fn the_store_keeps_the_traces_asked_for() {
    let guard = agent_trace::init()
        .exporters_from_env(false)
        .file_by_default(false)
        .keep_traces_in_memory(false)
        // The later call wins, and turns the store back on.
        .trace_store(TraceStoreConfig {
            max_traces: 2,
            ..TraceStoreConfig::default()
        })
        .install()
        .expect("first init");
    let tracer = agent_trace::tracer();
    let ids: Vec<_> = ["first", "second", "third"]
        .into_iter()
        .map(|name| {
            let task = tracer.start_trace(name);
            let id = task.trace_id();
            task.end();
            id
        })
        .collect();
    let store = tracer.store().expect("the store is on");
    let stats = store.stats();
    assert_eq!((stats.traces, stats.evicted_by_count), (2, 1), "{stats:?}");
    assert!(
        tracer.trace(ids[0]).is_none(),
        "the oldest trace went first"
    );
    for id in &ids[1..] {
        assert!(tracer.trace(*id).is_some());
    }
    drop(guard);
    assert_eq!(TraceStoreConfig::default().max_traces, 100);
}
