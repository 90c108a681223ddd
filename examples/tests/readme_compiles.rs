//! Every ```rust block of README.md, compiled (see `build.rs`): the README's
//! examples use today's public paths and signatures, or this target does
//! not build.

include!(concat!(env!("OUT_DIR"), "/readme.rs"));

#[test]
fn every_rust_block_of_the_readme_is_compiled() {
    // Counted here from the README itself, more loosely than the build
    // script takes them: a block it would skip (```rust,no_run, ``` rust
    // with a space, an indented fence) is not compiled, and fails here.
    let readme = include_str!("../../README.md");
    let fences = readme
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("```") && l[3..].trim_start().starts_with("rust")
        })
        .count();
    assert!(fences > 0, "the README has rust examples");
    assert_eq!(README_BLOCKS, fences);
}
