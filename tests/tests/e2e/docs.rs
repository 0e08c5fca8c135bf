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

/// The non-test part of every `.rs` file under `dir` (a file's `#[cfg(test)]` module and what
/// follows it cut off; `tests.rs` files skipped), by path.
fn sources_under(dir: &str) -> Vec<(String, String)> {
    fn walk(path: &std::path::Path, into: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                walk(&entry, into);
            } else if entry.extension().is_some_and(|e| e == "rs")
                && entry.file_name().is_none_or(|n| n != "tests.rs")
            {
                let text = std::fs::read_to_string(&entry).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                into.push((entry.display().to_string(), code.to_owned()));
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(dir),
        &mut files,
    );
    files
}

/// Upper-case literals of the configuration code that are values, not variable names: the
/// `JWT_ALLOWED_ALGORITHMS` entries.
const NOT_VARIABLES: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EDDSA",
];

/// The variable names the configuration code reads: every upper-case string literal in the
/// non-test code under `crates/api/src/config/` and `crates/phi/src/settings.rs` but
/// [`NOT_VARIABLES`]. A new file there is
/// picked up by itself, and a new literal that is not a variable fails the tests loudly.
fn configuration_variables() -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let phi = repo_file("crates/phi/src/settings.rs");
    let phi = phi
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .to_owned();
    let phi = ("crates/phi/src/settings.rs".to_owned(), phi);
    for (_, code) in sources_under("crates/api/src/config")
        .into_iter()
        .chain([phi])
    {
        for literal in code.split('"').skip(1).step_by(2) {
            let is_name = literal.len() > 2
                && literal.starts_with(|c: char| c.is_ascii_uppercase())
                && literal
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_name && !NOT_VARIABLES.contains(&literal) {
                names.insert(literal.to_owned());
            }
        }
    }
    names.into_iter().collect()
}

/// Whether `name` occurs in `text` as a whole identifier (`RATE_LIMIT_BURST` is not found inside
/// `RATE_LIMIT_ANON_BURST`).
fn mentions(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        boundary(text[..at].chars().next_back()) && boundary(text[at + name.len()..].chars().next())
    })
}

#[test]
fn every_variable_in_the_configuration_table_is_read_by_the_code() {
    let read = configuration_variables();
    let doc = repo_file("docs/CONFIGURATION.md");
    let documented: Vec<&str> = doc
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name))
        .filter(|name| {
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(
        documented.len() >= 40,
        "the table was found: {documented:?}"
    );
    let unread: Vec<&&str> = documented
        .iter()
        .filter(|name| !read.iter().any(|r| r == *name))
        .collect();
    assert!(
        unread.is_empty(),
        "docs/CONFIGURATION.md documents variables nothing reads: {unread:?}"
    );
}

#[test]
fn every_error_code_of_the_registry_is_emitted_somewhere() {
    // Everything a response can come from: the api crate minus the registry's own definitions
    // (its `for_status` mapping counts: that is how the router's own 405 gets REQ_001).
    let code: String = sources_under("crates/api/src")
        .into_iter()
        .map(|(path, text)| {
            if path.ends_with("error/codes.rs") {
                let start = text.find("registry! {").expect("the registry block");
                let end = start + text[start..].find("\n}\n").expect("its end");
                format!("{}{}", &text[..start], &text[end..])
            } else {
                text
            }
        })
        .collect();
    let silent: Vec<&str> = haven_api::error::codes::ALL
        .iter()
        .map(|c| c.code)
        .filter(|name| !mentions(&code, name))
        .collect();
    assert!(
        silent.is_empty(),
        "codes in docs/ERROR_CODES.md that no code path emits: {silent:?}"
    );
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
        let missing: Vec<&String> = names.iter().filter(|name| !mentions(&text, name)).collect();
        assert!(missing.is_empty(), "{doc} does not mention {missing:?}");
    }
}

/// Lines of `text` before its `#[cfg(test)]` module: all, and those neither blank nor only a
/// comment (the count docs/EXTENDING.md gives).
fn counted_lines(text: &str) -> (usize, usize) {
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .collect();
    let code = lines
        .iter()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .count();
    (lines.len(), code)
}

#[test]
fn the_extending_guide_states_the_size_of_patients_as_it_is_and_within_400_lines() {
    let guide = repo_file("docs/EXTENDING.md");
    let mut total = (0, 0);
    for path in [
        "crates/db/src/patients.rs",
        "crates/api/src/routes/patients/body.rs",
        "crates/api/src/routes/patients/mod.rs",
    ] {
        let (raw, code) = counted_lines(&repo_file(path));
        let row = format!("`{path}` | {raw} ({code}) |");
        assert!(guide.contains(&row), "docs/EXTENDING.md lacks `{row}`");
        total = (total.0 + raw, total.1 + code);
    }
    let sum = format!(
        "**{} lines of non-test Rust in 3 files ({} without blank and comment lines)**",
        total.0, total.1
    );
    assert!(guide.contains(&sum), "docs/EXTENDING.md lacks `{sum}`");
    assert!(total.1 <= 400, "patients grew to {} lines", total.1);
}
