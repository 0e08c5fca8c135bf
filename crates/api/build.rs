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
//! `RUSTFLAGS`.

use std::{env, path::Path};

fn main() {
    let list = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("link-order.txt");
    println!("cargo::rerun-if-changed={}", list.display());
    println!("cargo::rerun-if-env-changed=HAVEN_LINK_ORDER");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let wanted = var("HAVEN_LINK_ORDER") != "off"
        && var("PROFILE") == "release"
        && var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && list.is_file();
    if wanted {
        println!(
            "cargo::rustc-link-arg-bin=haven=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo::rustc-link-arg-bin=haven=-Wl,--no-warn-symbol-ordering");
    }
}
