//! The release binary's functions in link order (docs/PERFORMANCE.md, "Start-up code together"):
//! the rule `crates/api/build.rs` follows, and the committed list it passes to the linker.

use std::collections::{HashMap, HashSet};
use std::path::Path;

#[path = "../../../crates/api/link_order.rs"]
mod rule;

fn args(vars: &[(&str, &str)], exists: bool) -> Vec<String> {
    let vars: HashMap<&str, &str> = vars.iter().copied().collect();
    rule::link_order_args(
        |name| vars.get(name).copied().unwrap_or_default().to_owned(),
        "/src/crates/api/link-order.txt",
        exists,
    )
}

const RELEASE_X86_64_LINUX_GNU: [(&str, &str); 4] = [
    ("PROFILE", "release"),
    ("CARGO_CFG_TARGET_ARCH", "x86_64"),
    ("CARGO_CFG_TARGET_OS", "linux"),
    ("CARGO_CFG_TARGET_ENV", "gnu"),
];

#[test]
fn release_builds_for_x86_64_linux_gnu_pass_the_list_to_lld_and_nothing_else_does() {
    assert_eq!(
        args(&RELEASE_X86_64_LINUX_GNU, true),
        [
            "-Wl,--symbol-ordering-file=/src/crates/api/link-order.txt",
            "-Wl,--no-warn-symbol-ordering",
        ],
        "a stale name must not warn: the list may be older than the code"
    );
    // HAVEN_LINK_ORDER=off, as docs/PERFORMANCE.md and build.rs say, turns it off.
    let mut off = RELEASE_X86_64_LINUX_GNU.to_vec();
    off.push(("HAVEN_LINK_ORDER", "off"));
    assert!(args(&off, true).is_empty());
    // Any other value leaves it on.
    let mut on = RELEASE_X86_64_LINUX_GNU.to_vec();
    on.push(("HAVEN_LINK_ORDER", "on"));
    assert_eq!(args(&on, true).len(), 2);
    // No list, no argument (a linker would fail on a missing file).
    assert!(args(&RELEASE_X86_64_LINUX_GNU, false).is_empty());
    // Development builds, other targets (whose default linker may not know the option).
    for (name, other) in [
        ("PROFILE", "debug"),
        ("CARGO_CFG_TARGET_ARCH", "aarch64"),
        ("CARGO_CFG_TARGET_OS", "macos"),
        ("CARGO_CFG_TARGET_ENV", "musl"),
    ] {
        let vars: Vec<(&str, &str)> = RELEASE_X86_64_LINUX_GNU
            .iter()
            .map(|&(key, value)| {
                if key == name {
                    (key, other)
                } else {
                    (key, value)
                }
            })
            .collect();
        assert!(args(&vars, true).is_empty(), "{name}={other}");
    }
}

#[test]
fn the_committed_list_names_functions_once_each_after_its_header() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/api/link-order.txt");
    let text = std::fs::read_to_string(&path).expect("crates/api/link-order.txt is committed");
    let (header, names): (Vec<&str>, Vec<&str>) =
        text.lines().partition(|line| line.starts_with('#'));
    assert!(
        header
            .iter()
            .any(|line| line.contains("scripts/instructions --link-order")),
        "the header says how the list is written"
    );
    assert!(
        names.len() > 1000,
        "{} names: too few to matter",
        names.len()
    );
    let mut seen = HashSet::new();
    for name in &names {
        // LLD takes a line as one symbol name: no spaces, nothing empty, each name once.
        assert!(
            !name.is_empty() && !name.contains(char::is_whitespace),
            "not a symbol name: {name:?}"
        );
        assert!(seen.insert(*name), "{name} listed twice");
    }
    // Rust's own functions (v0 or legacy mangling) make up most of it: the list is the binary's.
    let rust = names
        .iter()
        .filter(|name| name.starts_with("_R") || name.starts_with("_ZN"))
        .count();
    assert!(
        rust * 2 > names.len(),
        "{rust} of {} names are Rust symbols",
        names.len()
    );
}
