//! Every ```rust block of README.md, compiled (see `build.rs`): the README's
//! examples use today's public paths and signatures, or this target does
//! not build.

include!(concat!(env!("OUT_DIR"), "/readme.rs"));

#[test]
fn every_rust_block_of_the_readme_is_compiled() {
    // Counted here from the README itself, independently of the build
    // script's parsing: a block the script missed would not be compiled.
    let readme = include_str!("../../README.md");
    let fences = readme.lines().filter(|l| l.trim_end() == "```rust").count();
    assert!(fences > 0, "the README has rust examples");
    assert_eq!(README_BLOCKS, fences);
}
