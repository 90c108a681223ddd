//! The HTML report is one file that fetches nothing, embeds the traces as
//! JSON that no span name can break out of, and keeps its statistics over
//! every span when it holds the waterfalls of only some traces.
//! (`report_renders_in_chromium.rs` checks it in a real browser.)

mod support;

use agent_trace_cli::{ReportOptions, TraceFile, build_report};
use serde_json::Value;

const OPEN: &str = "<script type=\"application/json\" id=\"report-data\">";

/// The embedded data, parsed.
fn data(html: &str) -> Value {
    let start = html.find(OPEN).expect("the data element") + OPEN.len();
    let len = html[start..].find("</script>").expect("closed");
    serde_json::from_str(&html[start..start + len]).expect("the data is JSON")
}

#[test]
fn the_report_fetches_nothing_and_embeds_every_span() {
    let file = TraceFile::new(support::fixture("agent_runs.jsonl"));
    let (html, summary, read) =
        build_report(&file, &ReportOptions::default(), |m| panic!("{m}")).unwrap();
    assert_eq!((summary.traces_in_file, summary.traces_shown), (3, 3));
    assert_eq!((summary.spans_in_file, summary.operations), (11, 7));
    assert_eq!(read.spans, 11);

    for fetching in [
        "<link",
        " src=",
        "@import",
        "url(",
        "<iframe",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!html.contains(fetching), "the report contains {fetching:?}");
    }
    // The only URLs are the SVG namespace, which is a name, not a fetch.
    let urls = html.matches("http://").count() + html.matches("https://").count();
    assert_eq!(
        urls,
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
    assert_eq!(html.matches("<svg ").count(), 7);
    assert_eq!(html.matches("class=\"pct p95\"").count(), 7);

    let data = data(&html);
    let ids: Vec<&str> = data["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "0af7651916cd43dd8448eb211c80319c",
            "4bf92f3500000000000000000000000c"
        ]
    );
    let a = &data["traces"][0];
    assert_eq!(a["durationNs"], 1_000_000_000_u64);
    let rows: Vec<(&str, u64, u64, u64)> = a["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["depth"].as_u64().unwrap(),
                r["offsetNs"].as_u64().unwrap() / 1_000_000,
                r["durationNs"].as_u64().unwrap() / 1_000_000,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("research_task", 0, 0, 1_000),
            ("chat gpt-4o", 1, 10, 100),
            ("execute_tool web_search", 1, 120, 300),
            ("execute_tool web_search", 1, 430, 200),
            ("chat gpt-4o", 1, 650, 340),
            ("count_tokens", 2, 660, 10),
        ]
    );
    let failed = &a["rows"][2];
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["statusMessage"], "search timed out");
    assert_eq!(
        failed["attrs"][1],
        serde_json::json!(["gen_ai.tool.name", "web_search", "string"])
    );
    assert_eq!(failed["events"][0]["exception"], true);
}

#[test]
fn no_span_name_or_value_can_close_the_data_element() {
    let dir = support::TempDir::new("hostile");
    let path = dir.path("hostile.jsonl");
    let name = "</script><script>alert(1)</script><!--";
    std::fs::write(
        &path,
        support::json_line(
            "svc",
            &[support::GenSpan {
                trace: 7,
                span: 8,
                parent: None,
                // JSON-escaped as the exporter would write it.
                name: "<\\/script><script>alert(1)<\\/script><!--",
                start_ns: 1_000,
                end_ns: 2_000,
                error: false,
            }],
        ),
    )
    .unwrap();
    let (html, _, _) = build_report(&TraceFile::new(&path), &ReportOptions::default(), |m| {
        panic!("{m}")
    })
    .unwrap();
    // One closing tag for the data, one for the script.
    assert_eq!(html.matches("</script>").count(), 2);
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<!--"));
    assert_eq!(data(&html)["traces"][0]["root"], name);
    // Drawn into the SVG figures escaped.
    assert!(html.contains("&lt;/script&gt;&lt;script&gt;alert(1)"));
}

#[test]
fn max_traces_keeps_the_most_recent_waterfalls_and_all_statistics() {
    let file = TraceFile::new(support::fixture("agent_runs.jsonl"));
    let options = ReportOptions {
        max_traces: 2,
        title: Some("Two of three".to_owned()),
        ..ReportOptions::default()
    };
    let (html, summary, _) = build_report(&file, &options, |m| panic!("{m}")).unwrap();
    assert_eq!((summary.traces_in_file, summary.traces_shown), (3, 2));
    let data = data(&html);
    assert_eq!(data["title"], "Two of three");
    assert_eq!(data["tracesInFile"], 3);
    assert_eq!(data["spansInFile"], 11);
    let ids: Vec<&str> = data["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "0af7651916cd43dd8448eb211c80319c",
            "4bf92f3500000000000000000000000c"
        ]
    );
    // Statistics still count the spans of the trace left out: three
    // `chat gpt-4o` spans, two of them in the first trace.
    assert!(
        html.contains("<tr><td>chat gpt-4o</td><td class=\"num\">3</td>"),
        "{html}"
    );
    assert!(html.contains("<title>Two of three</title>"));
}
