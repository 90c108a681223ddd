//! Turns every ```rust block of the README into code that the
//! `readme_compiles` test target compiles, so that a README example that
//! stops compiling (a renamed path, a changed signature) fails the test
//! suite. A block with its own `fn main` becomes a module; any other block
//! the body of a function returning `Result<(), Box<dyn Error>>`, as a
//! reader would paste it into their `main`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    println!("cargo::rerun-if-changed={}", readme.display());
    let text = std::fs::read_to_string(&readme).expect("the README is readable");
    let mut out = String::new();
    let mut blocks = 0;
    let mut lines = text.lines().enumerate();
    while let Some((at, line)) = lines.next() {
        // A fence may be indented (a block inside a list item): its lines
        // carry the same indent, taken off here.
        let indent = line.len() - line.trim_start().len();
        if line.trim() != "```rust" {
            continue;
        }
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, l)| l.get(indent..).unwrap_or(l.trim_start()))
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let body = body.join("\n");
        let line_no = at + 1;
        if body.contains("fn main") {
            let _ = write!(
                out,
                "/// README.md, the block at line {line_no}.\n\
                 #[allow(dead_code, unused)]\nmod readme_line_{line_no} {{\n{body}\n}}\n\n"
            );
        } else {
            let _ = write!(
                out,
                "/// README.md, the block at line {line_no}.\n\
                 #[allow(dead_code, unused, unreachable_code)]\n\
                 fn readme_line_{line_no}() -> Result<(), Box<dyn std::error::Error>> {{\n\
                 {body}\nOk(())\n}}\n\n"
            );
        }
        blocks += 1;
    }
    let _ = writeln!(
        out,
        "/// How many ```rust blocks the README has.\npub const README_BLOCKS: usize = {blocks};"
    );
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("readme.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
