//! The documents that promise behaviour are checked against the code.

use std::collections::BTreeMap;

fn repo_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn the_error_code_document_lists_exactly_the_codes_of_the_registry() {
    let doc = repo_file("docs/ERROR_CODES.md");
    let mut documented = BTreeMap::new();
    for line in doc
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Code") && !l.starts_with("|---"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let status: u16 = cells[2]
            .parse()
            .unwrap_or_else(|_| panic!("status of {line}"));
        assert!(
            documented
                .insert(cells[1].to_owned(), (status, cells[3].to_owned()))
                .is_none(),
            "{} twice",
            cells[1]
        );
    }
    let registry: BTreeMap<String, (u16, String)> = haven_api::error::codes::ALL
        .iter()
        .map(|c| (c.code.to_owned(), (c.status.as_u16(), c.message.to_owned())))
        .collect();
    let missing: Vec<_> = registry
        .keys()
        .filter(|k| !documented.contains_key(*k))
        .collect();
    let extra: Vec<_> = documented
        .keys()
        .filter(|k| !registry.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "undocumented: {missing:?}; not in the registry: {extra:?}"
    );
    for (code, (status, message)) in &registry {
        assert_eq!(
            &documented[code],
            &(*status, message.clone()),
            "{code}: status and message agree"
        );
    }
}

/// The variable names the configuration code reads: every upper-case string literal in the
/// non-test part of `crates/api/src/config/{mod,limits,sections}.rs` and
/// `crates/phi/src/settings.rs` (each one is a variable name there).
fn configuration_variables() -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for file in [
        "crates/api/src/config/mod.rs",
        "crates/api/src/config/limits.rs",
        "crates/api/src/config/sections.rs",
        "crates/phi/src/settings.rs",
    ] {
        let source = repo_file(file);
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        for literal in code.split('"').skip(1).step_by(2) {
            let is_name = literal.len() > 2
                && literal.starts_with(|c: char| c.is_ascii_uppercase())
                && literal
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_name {
                names.insert(literal.to_owned());
            }
        }
    }
    names.into_iter().collect()
}

#[test]
fn every_configuration_variable_is_documented_for_operators() {
    let names = configuration_variables();
    // The extraction itself must work, or this test would pass on nothing.
    for known in [
        "DATABASE_URL",
        "TRUSTED_PROXIES",
        "RATE_LIMIT_BURST",
        "METRICS_PORT",
    ] {
        assert!(names.iter().any(|n| n == known), "{known} in {names:?}");
    }
    assert!(names.len() >= 40, "{names:?}");
    for doc in [
        "docs/RAILWAY_ENV.md",
        "docs/CONFIGURATION.md",
        ".env.example",
    ] {
        let text = repo_file(doc);
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| {
                // As a whole name: `RATE_LIMIT_BURST` is not found inside `RATE_LIMIT_ANON_BURST`.
                !text.match_indices(name.as_str()).any(|(at, _)| {
                    let before = text[..at].chars().next_back();
                    let after = text[at + name.len()..].chars().next();
                    let boundary =
                        |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                    boundary(before) && boundary(after)
                })
            })
            .collect();
        assert!(missing.is_empty(), "{doc} does not mention {missing:?}");
    }
}
