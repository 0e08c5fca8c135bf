//! Link-time layout of the `haven` binary's code (docs/PERFORMANCE.md, "Start-up code together").
//!
//! `link-order.txt` lists the functions the service runs at start, for its probes and on its
//! common request paths, in that order (`scripts/instructions --link-order` writes it from a
//! callgrind run of the release build). Release builds pass it to the linker, which places those
//! functions first and together: the pages the idle process touches are then a few megabytes
//! of the binary instead of scattered pages over all of it (each page fault maps a 64 KiB block),
//! so idle RSS falls by about a third. A name not in the build (the list is older than the code)
//! is skipped without a warning; a stale list costs memory, never correctness.
//!
//! Only where rustc links with LLD, which knows `--symbol-ordering-file`: x86_64 Linux (GNU),
//! whose default linker is LLD since Rust 1.90 (the workspace needs 1.94.1). Set
//! `HAVEN_LINK_ORDER=off` to build without it, e.g. with another linker forced through
//! `RUSTFLAGS`. The rule is `link_order.rs`, shared with its test.

use std::{env, path::Path};

include!("link_order.rs");

fn main() {
    let list = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("link-order.txt");
    println!("cargo::rerun-if-changed={}", list.display());
    println!("cargo::rerun-if-changed=link_order.rs");
    println!("cargo::rerun-if-env-changed=HAVEN_LINK_ORDER");
    let var = |name: &str| env::var(name).unwrap_or_default();
    for arg in link_order_args(var, &list.display().to_string(), list.is_file()) {
        println!("cargo::rustc-link-arg-bin=haven={arg}");
    }
}
