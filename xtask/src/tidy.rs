//! Architecture invariants, checked over the source tree.
//!
//! Each check names the invariant of `ARCHITECTURE.md` it keeps.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The workspace root (the parent of this crate's directory).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}

/// The library crates, bottom up, with the workspace crates each may use.
const LAYERS: &[(&str, &[&str])] = &[
    // The one clock, under everything that reads time.
    ("agent-trace-clock", &[]),
    ("agent-trace-propagation", &[]),
    ("agent-trace-metrics", &["agent-trace-clock"]),
    (
        "agent-trace-core",
        &["agent-trace-clock", "agent-trace-propagation"],
    ),
    (
        "agent-trace-export",
        &[
            "agent-trace-clock",
            "agent-trace-propagation",
            "agent-trace-core",
            "agent-trace-metrics",
        ],
    ),
    // The GenAI helpers, cost and privacy: spans and metrics, never the
    // exporters or the facade.
    (
        "agent-trace-genai",
        &[
            "agent-trace-clock",
            "agent-trace-core",
            "agent-trace-metrics",
        ],
    ),
    // The bridge from the `opentelemetry` API: spans and propagation,
    // never the exporters or the facade.
    (
        "agent-trace-otel",
        &["agent-trace-propagation", "agent-trace-core"],
    ),
    (
        "agent-trace",
        &[
            "agent-trace-clock",
            "agent-trace-propagation",
            "agent-trace-core",
            "agent-trace-metrics",
            "agent-trace-export",
            "agent-trace-genai",
            "agent-trace-otel",
            "agent-trace-http",
        ],
    ),
    // The command-line tool reads files: ids, timestamps, the latency
    // sketch and the price table (for spans recorded without a cost),
    // never the exporters or the facade.
    (
        "agent-trace-cli",
        &[
            "agent-trace-clock",
            "agent-trace-propagation",
            "agent-trace-core",
            "agent-trace-metrics",
            "agent-trace-genai",
        ],
    ),
    // HTTP middleware: spans and propagation around the user's server and
    // client, never the exporters or the facade.
    (
        "agent-trace-http",
        &["agent-trace-propagation", "agent-trace-core"],
    ),
];

/// Crates that do network I/O; only `agent-trace-export` may depend on them.
const NETWORK_CRATES: &[&str] = &[
    "reqwest", "hyper", "tonic", "h2", "ureq", "isahc", "surf", "mio", "socket2",
];

/// Source text that means network I/O outside the export crate (address
/// types such as `std::net::SocketAddr` are not I/O and are allowed).
const NETWORK_CALLS: &[&str] = &["TcpStream", "UdpSocket", "TcpListener", "ToSocketAddrs"];

/// Files on the span path, which must not take a lock.
const SPAN_PATH: &[&str] = &[
    "crates/agent-trace-core/src/span.rs",
    "crates/agent-trace-core/src/tracer.rs",
    "crates/agent-trace-core/src/current.rs",
    "crates/agent-trace-core/src/ids.rs",
    "crates/agent-trace-core/src/clock.rs",
    "crates/agent-trace-clock/src/anchor.rs",
    "crates/agent-trace-clock/src/tick.rs",
    "crates/agent-trace-clock/src/timestamp.rs",
    "crates/agent-trace-core/src/attr.rs",
    "crates/agent-trace-core/src/span_data.rs",
    "crates/agent-trace-core/src/pool.rs",
];

/// The only modules that may hold `unsafe` code (see "Unsafe code" in
/// ARCHITECTURE.md): each of its blocks has a SAFETY argument for each
/// operation (clippy's `undocumented_unsafe_blocks` and
/// `multiple_unsafe_ops_per_block`, denied in these crates), and is
/// exercised by a loom model or the AddressSanitizer run.
const UNSAFE_MODULES: &[&str] = &[
    "crates/agent-trace-core/src/attr.rs",
    "crates/agent-trace-core/src/pool.rs",
    "crates/agent-trace-core/src/span.rs",
    "crates/agent-trace-core/src/span_data.rs",
    "crates/agent-trace-metrics/src/spin.rs",
];

/// Library crates with no unsafe module: each must forbid unsafe code.
const SAFE_CRATES: &[&str] = &[
    "agent-trace-clock",
    "agent-trace-propagation",
    "agent-trace-export",
    "agent-trace-genai",
    "agent-trace-cli",
    "agent-trace",
];

/// The lints every crate with an unsafe module denies.
const UNSAFE_LINTS: &[&str] = &[
    "clippy::undocumented_unsafe_blocks",
    "clippy::multiple_unsafe_ops_per_block",
];

/// Whether a line of code (comments cut off) holds unsafe code: a block,
/// a function, an impl, a trait or an extern block.
fn has_unsafe(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    let mut rest = code;
    while let Some(i) = rest.find("unsafe") {
        let before = rest[..i].chars().next_back();
        let after = &rest[i + "unsafe".len()..];
        let word_start = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '"'));
        let follows = after.trim_start();
        if word_start
            && ["{", "fn ", "impl", "trait ", "extern "]
                .iter()
                .any(|k| follows.starts_with(k))
        {
            return true;
        }
        rest = after;
    }
    false
}

/// Runs every check; the problems found, if any.
pub(crate) fn check(root: &Path) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    match metadata(root) {
        Ok(meta) => {
            check_layers(&meta, &mut problems);
            check_msrv(&meta, &mut problems);
        }
        Err(e) => problems.push(e),
    }
    check_sources(root, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn metadata(root: &Path) -> Result<Value, String> {
    // Resolve for the host platform only, so that dependencies behind
    // `cfg`s that never hold here (`cfg(loom)`, `cfg(windows)`) do not count
    // against the MSRV: they are never compiled.
    let host = host_triple()?;
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
            &host,
        ])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))
}

fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV printed no host line".to_owned())
}

fn packages(meta: &Value) -> &[Value] {
    meta["packages"].as_array().map_or(&[], Vec::as_slice)
}

fn package<'a>(meta: &'a Value, name: &str) -> Option<&'a Value> {
    packages(meta)
        .iter()
        .find(|p| p["name"] == name && p["source"].is_null())
}

/// Normal (not dev, not build) dependencies of a package, by name.
fn normal_deps(pkg: &Value) -> Vec<&str> {
    pkg["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["kind"].is_null())
        .filter_map(|d| d["name"].as_str())
        .collect()
}

/// Architecture Invariant: dependencies point downwards; only
/// `agent-trace-export` does network I/O; `agent-trace-propagation` depends
/// on nothing heavier than `thiserror` (and `http`, optionally); the metrics
/// crate depends on no tracing crate.
fn check_layers(meta: &Value, problems: &mut Vec<String>) {
    for (name, allowed) in LAYERS {
        let Some(pkg) = package(meta, name) else {
            problems.push(format!("workspace crate {name} is missing"));
            continue;
        };
        for dep in normal_deps(pkg) {
            if dep.starts_with("agent-trace") && !allowed.contains(&dep) {
                problems.push(format!(
                    "{name} depends on {dep}: dependencies point downwards"
                ));
            }
            // The reqwest middleware wraps the user's client, which does the
            // I/O; the middleware itself opens no connection (and its source
            // is held to `NETWORK_CALLS` like any crate's).
            let wraps_the_users_client = *name == "agent-trace-http" && dep == "reqwest";
            if NETWORK_CRATES.contains(&dep)
                && *name != "agent-trace-export"
                && !wraps_the_users_client
            {
                problems.push(format!(
                    "{name} depends on {dep}: only agent-trace-export does network I/O"
                ));
            }
            if *name == "agent-trace-propagation" && !["thiserror", "http"].contains(&dep) {
                problems.push(format!(
                    "agent-trace-propagation depends on {dep}: only thiserror and http are allowed"
                ));
            }
            if *name == "agent-trace-metrics"
                && (dep.starts_with("tracing") || dep.starts_with("opentelemetry"))
            {
                problems.push(format!(
                    "agent-trace-metrics depends on {dep}: it is independent of tracing crates"
                ));
            }
        }
    }
}

fn parse_version(v: &str) -> Option<(u64, u64)> {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
}

/// Architecture Invariant: the library crates build with the stated MSRV:
/// no normal dependency of theirs, direct or indirect, declares a newer
/// `rust-version`. (Bench and test peers may need a newer compiler.)
fn check_msrv(meta: &Value, problems: &mut Vec<String>) {
    let Some(ours) = package(meta, "agent-trace")
        .and_then(|p| p["rust_version"].as_str())
        .and_then(parse_version)
    else {
        problems.push("agent-trace states no rust-version".into());
        return;
    };
    let Some(nodes) = meta["resolve"]["nodes"].as_array() else {
        problems.push("cargo metadata has no resolve graph".into());
        return;
    };
    let by_id = |id: &str| nodes.iter().find(|n| n["id"] == id);
    let pkg_by_id = |id: &str| packages(meta).iter().find(|p| p["id"] == id);
    let mut stack: Vec<&str> = LAYERS
        .iter()
        .filter_map(|(name, _)| package(meta, name)?["id"].as_str())
        .collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(pkg) = pkg_by_id(id)
            && let Some(v) = pkg["rust_version"].as_str().and_then(parse_version)
            && v > ours
        {
            problems.push(format!(
                "{} {} needs rust {}.{}, above the MSRV {}.{}",
                pkg["name"].as_str().unwrap_or("?"),
                pkg["version"].as_str().unwrap_or("?"),
                v.0,
                v.1,
                ours.0,
                ours.1
            ));
        }
        let Some(node) = by_id(id) else { continue };
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            if normal && let Some(pkg) = dep["pkg"].as_str() {
                stack.push(pkg);
            }
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Architecture Invariants over source text: every library crate opens with
/// a crate doc and opts into the workspace lints; no `todo!` or
/// `unimplemented!` ships; only the export crate names network types; the
/// span path takes no lock.
fn check_sources(root: &Path, problems: &mut Vec<String>) {
    for (name, _) in LAYERS {
        let dir = root.join("crates").join(name);
        let lib = dir.join("src/lib.rs");
        match fs::read_to_string(&lib) {
            Ok(text) if text.trim_start().starts_with("//!") => {}
            Ok(_) => problems.push(format!(
                "{}: must open with a crate doc (`//!`)",
                lib.display()
            )),
            Err(e) => problems.push(format!("{}: {e}", lib.display())),
        }
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        if !manifest.contains("[lints]\nworkspace = true") {
            problems.push(format!(
                "{name}/Cargo.toml: needs `[lints] workspace = true`"
            ));
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for file in files {
            let text = fs::read_to_string(&file).unwrap_or_default();
            // Spelled in two halves so that this file is not itself a match.
            for stub in [concat!("todo", "!("), concat!("unimplemented", "!(")] {
                if text.contains(stub) {
                    problems.push(format!("{}: `{stub}` in shipped code", file.display()));
                }
            }
            for (line, count) in cfg_feature_counts(&text) {
                if count > crate::powerset::MAX_FEATURES_PER_CFG {
                    problems.push(format!(
                        "{}:{line}: a `cfg` naming {count} features; at most {} keep the CI's \
                         pairwise feature check exhaustive (see xtask/src/powerset.rs)",
                        file.display(),
                        crate::powerset::MAX_FEATURES_PER_CFG
                    ));
                }
            }
            if *name != "agent-trace-export" {
                for call in NETWORK_CALLS {
                    if text.contains(call) {
                        problems.push(format!(
                            "{}: `{call}`: only agent-trace-export does network I/O",
                            file.display()
                        ));
                    }
                }
            }
        }
    }
    check_unsafe(root, problems);
    check_public_names(root, problems);
    for file in SPAN_PATH {
        let text = fs::read_to_string(root.join(file)).unwrap_or_default();
        for lock in ["Mutex", "RwLock", ".lock()"] {
            if text.contains(lock) {
                problems.push(format!("{file}: `{lock}`: nothing on the span path locks"));
            }
        }
    }
}

/// Public type names are unique across the workspace's crates, so that a
/// user who imports two of them (or reads `Span` in a signature) never has
/// to ask which one: every `pub struct`, `pub enum`, `pub trait`, `pub type`
/// and `pub union` of a crate's `src` (crate-visible ones, `pub(crate)` and
/// the like, do not count).
fn check_public_names(root: &Path, problems: &mut Vec<String>) {
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (name, _) in LAYERS {
        let mut files = Vec::new();
        rust_files(&root.join("crates").join(name).join("src"), &mut files);
        files.sort();
        for file in files {
            let text = fs::read_to_string(&file).unwrap_or_default();
            for (i, line) in text.lines().enumerate() {
                let Some(ident) = public_type_name(line) else {
                    continue;
                };
                let here = format!("{}:{}", file.display(), i + 1);
                if let Some(first) = seen.get(ident) {
                    problems.push(format!(
                        "{here}: public type `{ident}` is also declared at {first}: give one \
                         of them a name of its own"
                    ));
                } else {
                    seen.insert(ident.to_owned(), here);
                }
            }
        }
    }
}

/// The name a line declares as a public type, if it does.
fn public_type_name(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("pub ")?;
    let rest = ["struct ", "enum ", "trait ", "type ", "union "]
        .iter()
        .find_map(|kw| rest.strip_prefix(kw))?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// For each `cfg(...)` or `cfg_attr(...)` in `text`, its line (1-based) and
/// how many `feature = ` predicates its parentheses hold.
fn cfg_feature_counts(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("cfg") {
        let rest = &text[at + 3..];
        let rest = rest.strip_prefix("_attr").unwrap_or(rest);
        if !rest.starts_with('(') {
            continue;
        }
        let mut depth = 0usize;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let predicate = &rest[..end];
        let count = predicate.matches("feature =").count() + predicate.matches("feature=").count();
        if count > 0 {
            out.push((text[..at].lines().count().max(1), count));
        }
    }
    out
}

/// The unsafe policy: unsafe code only in [`UNSAFE_MODULES`], no public
/// `unsafe fn`, `#![forbid(unsafe_code)]` in [`SAFE_CRATES`], and the
/// [`UNSAFE_LINTS`] denied in the crates that hold unsafe modules.
fn check_unsafe(root: &Path, problems: &mut Vec<String>) {
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        // Tests, benches and fuzz targets are not shipped code.
        if !rel.contains("/src/") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("pub unsafe fn") {
                problems.push(format!(
                    "{rel}:{}: a public `unsafe fn`: express the contract in a type, or keep it private",
                    i + 1
                ));
            }
            if has_unsafe(line) && !UNSAFE_MODULES.contains(&rel.as_str()) {
                problems.push(format!(
                    "{rel}:{}: unsafe code outside the modules that may hold it \
                     (UNSAFE_MODULES in xtask/src/tidy.rs, \"Unsafe code\" in ARCHITECTURE.md)",
                    i + 1
                ));
            }
        }
    }
    for name in SAFE_CRATES {
        let lib = root.join("crates").join(name).join("src/lib.rs");
        let text = fs::read_to_string(&lib).unwrap_or_default();
        if !text.contains("#![forbid(unsafe_code)]") {
            problems.push(format!(
                "{}: needs `#![forbid(unsafe_code)]`",
                lib.display()
            ));
        }
    }
    let mut unsafe_crates: Vec<&str> = UNSAFE_MODULES
        .iter()
        .filter_map(|m| m.split('/').nth(1))
        .collect();
    unsafe_crates.dedup();
    for name in unsafe_crates {
        let lib = root.join("crates").join(name).join("src/lib.rs");
        let text = fs::read_to_string(&lib).unwrap_or_default();
        for lint in UNSAFE_LINTS {
            if !text.contains(lint) {
                problems.push(format!("{}: must deny `{lint}`", lib.display()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn cfg_feature_counts_reads_nested_predicates() {
        let text = "#[cfg(feature = \"a\")]\nfn a() {}\n#[cfg(any(feature = \"a\", all(feature = \"b\", not(feature = \"c\"))))]\nfn b() {}\n#[cfg_attr(feature=\"d\", derive(Debug))]\nstruct C;\n#[cfg(test)]\nmod t {}\n";
        assert_eq!(
            super::cfg_feature_counts(text),
            vec![(1, 1), (3, 3), (5, 1)]
        );
    }

    #[test]
    fn public_type_names_are_read_from_declarations_only() {
        let name = super::public_type_name;
        assert_eq!(name("pub struct Span<'a> {"), Some("Span"));
        assert_eq!(name("    pub enum SpanKind {"), Some("SpanKind"));
        assert_eq!(name("pub trait FutureExt: Future {"), Some("FutureExt"));
        assert_eq!(
            name("pub type Result<T> = std::result::Result<T, Error>;"),
            Some("Result")
        );
        assert_eq!(name("pub(crate) struct Live {"), None);
        assert_eq!(name("pub fn span() -> Span {"), None);
        assert_eq!(name("// pub struct Commented;"), None);
    }

    #[test]
    fn layer_check_catches_upward_and_network_dependencies() {
        let dep = |name: &str| json!({"name": name, "kind": null});
        let pkg = |name: &str, deps: Vec<serde_json::Value>| json!({"name": name, "source": null, "dependencies": deps});
        let meta = json!({"packages": [
            pkg("agent-trace-clock", vec![]),
            pkg("agent-trace-propagation", vec![dep("thiserror"), dep("reqwest")]),
            pkg("agent-trace-metrics", vec![dep("tracing")]),
            pkg("agent-trace-core", vec![dep("agent-trace-export")]),
            pkg("agent-trace-export", vec![dep("reqwest")]),
            pkg("agent-trace-genai", vec![]),
            pkg("agent-trace-otel", vec![]),
            pkg("agent-trace", vec![]),
            pkg("agent-trace-cli", vec![dep("agent-trace-export")]),
            // Its reqwest middleware wraps the user's client: allowed.
            pkg("agent-trace-http", vec![dep("reqwest")]),
        ]});
        let mut problems = Vec::new();
        super::check_layers(&meta, &mut problems);
        let text = problems.join("\n");
        assert!(
            text.contains("agent-trace-propagation depends on reqwest: only agent-trace-export")
        );
        assert!(text.contains("agent-trace-propagation depends on reqwest: only thiserror"));
        assert!(text.contains("agent-trace-metrics depends on tracing"));
        assert!(text.contains("agent-trace-core depends on agent-trace-export"));
        assert!(text.contains("agent-trace-cli depends on agent-trace-export"));
        assert!(!text.contains("agent-trace-http"), "{text}");
        assert_eq!(problems.len(), 5, "{text}");
    }

    #[test]
    fn tidy() {
        if let Err(problems) = super::check(&super::workspace_root()) {
            panic!("tidy found problems:\n{}", problems.join("\n"));
        }
    }
}

#[cfg(test)]
mod unsafe_policy_tests {
    use super::has_unsafe;

    #[test]
    fn unsafe_code_is_told_from_words_about_it() {
        assert!(has_unsafe("    unsafe { ptr.read() }"));
        assert!(has_unsafe("let x = unsafe { f() };"));
        assert!(has_unsafe("pub unsafe fn f() {}"));
        assert!(has_unsafe("unsafe impl Send for X {}"));
        assert!(!has_unsafe("// unsafe { not code }"));
        assert!(!has_unsafe(
            "/// at the price of unsafe code no machine checked"
        ));
        assert!(!has_unsafe("#![forbid(unsafe_code)]"));
        assert!(!has_unsafe("let s = \"unsafe {\";"));
    }
}
