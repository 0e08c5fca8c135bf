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
