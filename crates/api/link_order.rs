// When a build lays the `haven` binary's functions out in `link-order.txt`'s order. Included by
// `build.rs` (`include!`) and by the test `link_order` of the tests crate (`#[path]`), so the rule
// the build follows is the one tested. docs/PERFORMANCE.md, "Start-up code together".

/// The linker arguments for `list` (the path of `link-order.txt`, passed as is) in a build whose
/// cargo variables `var` reads (an unset one reads empty): LLD's `--symbol-ordering-file`, and
/// no warning for a name the build does not have (the list is older than the code), for release
/// builds of x86_64 Linux GNU, whose default linker is LLD since Rust 1.90, when the list exists;
/// none otherwise, or with `HAVEN_LINK_ORDER=off`.
pub fn link_order_args(var: impl Fn(&str) -> String, list: &str, list_exists: bool) -> Vec<String> {
    let wanted = var("HAVEN_LINK_ORDER") != "off"
        && var("PROFILE") == "release"
        && var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && list_exists;
    if !wanted {
        return Vec::new();
    }
    vec![
        format!("-Wl,--symbol-ordering-file={list}"),
        "-Wl,--no-warn-symbol-ordering".to_owned(),
    ]
}
