//! Unit tests of the audit routes' helpers.

use super::*;

#[test]
fn ndjson_is_chosen_only_when_accepted() {
    let mut headers = HeaderMap::new();
    assert!(!wants_ndjson(&headers));
    headers.insert(header::ACCEPT, "application/json".parse().unwrap());
    assert!(!wants_ndjson(&headers));
    headers.insert(
        header::ACCEPT,
        "text/html, application/x-ndjson;q=0.9".parse().unwrap(),
    );
    assert!(wants_ndjson(&headers));
    headers.insert(header::ACCEPT, "application/x-ndjson; q=0".parse().unwrap());
    assert!(!wants_ndjson(&headers));
}
