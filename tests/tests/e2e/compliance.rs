//! The documents that make promises are held to the code: the HIPAA map and the migration
//! guide name only tests that exist (here), links resolve and every `haven` command mentioned
//! exists (`doc_links`), the CloudWatch queries use fields the real log lines carry and
//! break-glass use shows in the log (`log_queries`).

mod doc_links;
mod insights;
mod log_queries;
mod logged;
mod markdown;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use markdown::{Piece, pieces, read, repo_root, split};

/// The standards and implementation specifications of 45 CFR 164.312 the map must cover.
const HIPAA_SECTIONS: &[&str] = &[
    "(a)(1)",
    "(a)(2)(i)",
    "(a)(2)(ii)",
    "(a)(2)(iii)",
    "(a)(2)(iv)",
    "(b)",
    "(c)(1)",
    "(c)(2)",
    "(d)",
    "(e)(1)",
    "(e)(2)(i)",
    "(e)(2)(ii)",
];

/// Every `#[test]` / `#[tokio::test]` function under crates/ and tests/ (target/ and
/// node_modules/ skipped).
fn test_functions() -> HashSet<String> {
    fn walk(dir: &Path, found: &mut HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && name != "node_modules" && !name.starts_with('.') {
                    walk(&path, found);
                }
            } else if name.ends_with(".rs") {
                let mut pending = false;
                for line in read(&path).lines().map(str::trim) {
                    if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
                        pending = true;
                    } else if pending && let Some(at) = line.find("fn ") {
                        let name: String = line[at + 3..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        found.insert(name);
                        pending = false;
                    } else if pending && !(line.is_empty() || line.starts_with("#[")) {
                        pending = false;
                    }
                }
            }
        }
    }
    let root = repo_root();
    let mut found = HashSet::new();
    walk(&root.join("crates"), &mut found);
    walk(&root.join("tests"), &mut found);
    found
}

/// The citation in a heading such as `## §164.312(a)(2)(i) Unique user identification`.
fn citation(heading: &str) -> Option<String> {
    let rest = &heading[heading.find("164.312")? + "164.312".len()..];
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while chars.peek() == Some(&'(') {
        let group: String = chars.by_ref().take_while(|c| *c != ')').collect();
        out.push_str(&group);
        out.push(')');
    }
    (!out.is_empty()).then_some(out)
}

/// The backticked names on a `Tests:` line; a name that is not a test function is a problem.
fn test_names(
    list: &str,
    known: &HashSet<String>,
    place: &str,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let mut names = Vec::new();
    for piece in pieces(list) {
        let Piece::Code(name) = piece else { continue };
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            problems.push(format!("{place}: `{name}` is not a test function name"));
        } else if !known.contains(name) {
            problems.push(format!(
                "{place}: no #[test] or #[tokio::test] fn {name} under crates/ or tests/"
            ));
        }
        names.push(name.to_owned());
    }
    names
}

#[test]
fn every_test_named_in_the_hipaa_map_exists() {
    let path = repo_root().join("docs/HIPAA_READINESS.md");
    let text = read(&path);
    let (_, prose) = split(&text);
    let known = test_functions();
    assert!(
        known.len() > 100,
        "the test index looks broken: {} tests",
        known.len()
    );

    // Walk the document: each "Tests:" line belongs to the last 164.312 heading above it.
    let mut current: Option<String> = None;
    let mut named: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for line in &prose {
        if line.text.starts_with('#') {
            if line.text.contains("164.312") {
                current = citation(line.text);
                if let Some(c) = &current {
                    named.entry(c.clone()).or_default();
                }
            }
            continue;
        }
        let Some(list) = line.text.trim_start().strip_prefix("Tests:") else {
            continue;
        };
        let Some(section) = &current else {
            problems.push(format!(
                "line {}: a Tests: line before any 164.312 heading",
                line.number
            ));
            continue;
        };
        let names = test_names(
            list,
            &known,
            &format!("line {} ({section})", line.number),
            &mut problems,
        );
        named.entry(section.clone()).or_default().extend(names);
    }
    for section in HIPAA_SECTIONS {
        match named.get(*section) {
            None => problems.push(format!("no heading for §164.312{section}")),
            Some(tests) if tests.is_empty() => problems.push(format!(
                "§164.312{section} has no Tests: line naming a test"
            )),
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "docs/HIPAA_READINESS.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_test_named_in_the_migration_guide_exists() {
    let text = read(&repo_root().join("docs/MIGRATING_FROM_FASTAPI.md"));
    let (_, prose) = split(&text);
    let known = test_functions();
    let mut problems = Vec::new();
    let mut count = 0;
    for line in &prose {
        if let Some(list) = line.text.trim_start().strip_prefix("Tests:") {
            let place = format!("line {}", line.number);
            count += test_names(list, &known, &place, &mut problems).len();
        }
    }
    assert!(count >= 15, "only {count} tests named in the guide");
    assert!(
        problems.is_empty(),
        "docs/MIGRATING_FROM_FASTAPI.md:\n{}",
        problems.join("\n")
    );
}
