//! The CloudWatch queries of docs/OBSERVABILITY.md against the real binary's log lines, and the
//! log line every break-glass request writes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::insights;
use super::logged::{self, LoggedService};
use super::markdown::{read, repo_root, split};

/// Top-level field names of the lines, by message.
fn fields_by_message(lines: &[Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in lines {
        let object = line.as_object().expect("a JSON object");
        let message = object
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        out.entry(message)
            .or_default()
            .extend(object.keys().cloned());
    }
    out
}

/// The source code says this message somewhere (as a string literal).
fn message_in_source(message: &str, sources: &str) -> bool {
    sources.contains(&format!("\"{message}\""))
}

fn rust_sources(dir: &Path, into: &mut String) {
    for entry in std::fs::read_dir(dir).expect("a source folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push_str(&read(&path));
        }
    }
}

#[tokio::test]
async fn the_fields_the_logs_insights_queries_use_are_top_level_in_real_log_lines() {
    let doc = read(&repo_root().join("docs/OBSERVABILITY.md"));
    let (fences, _) = split(&doc);
    let queries = insights::queries(&fences);
    assert!(
        queries.len() >= 6,
        "too few queries found in docs/OBSERVABILITY.md: {queries:?}"
    );

    // A tiny per-subject budget, so one subject gets a 429 after three requests.
    let logged =
        LoggedService::start(&[("RATE_LIMIT_PER_MINUTE", "1"), ("RATE_LIMIT_BURST", "3")]).await;
    let viewer = logged.token("nurse-1", &["viewer"]).await;
    let emergency = logged.token("dr-oncall", &["break_glass"]).await;
    let busy = logged.token("script-1", &["viewer"]).await;
    assert_eq!(logged.get("/api/v1/me", Some(&viewer)).await.status, 200);
    assert_eq!(
        logged.get("/api/v1/documents", Some(&viewer)).await.status,
        200
    );
    assert_eq!(
        logged.get("/api/v1/me", Some("not.a.jwt")).await.status,
        401
    );
    assert_eq!(logged.get("/api/v1/no-such-route", None).await.status, 404);
    assert_eq!(logged.get("/api/v1/_test/panic", None).await.status, 500);
    assert_eq!(
        logged
            .get("/api/v1/documents", Some(&emergency))
            .await
            .status,
        200
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(logged.get("/api/v1/me", Some(&busy)).await.status);
    }
    assert_eq!(
        statuses,
        vec![200, 200, 200, 429],
        "the per-subject limit of 3 applies"
    );
    let mut lines = logged.stop();
    lines.extend(logged::failed_start_up());

    let seen = fields_by_message(&lines);
    let levels: BTreeSet<&str> = lines.iter().filter_map(|l| l["level"].as_str()).collect();
    let mut sources = String::new();
    rust_sources(&repo_root().join("crates"), &mut sources);
    let mut problems = Vec::new();
    for query in &queries {
        let name = &query.title;
        if let Some(declared) = &query.declared
            && declared != &query.fields
        {
            problems.push(format!(
                "{name}: `# log fields:` says {declared:?} but the query uses {:?}:\n{}",
                query.fields, query.text
            ));
        }
        if query.is_insights && query.declared.is_none() {
            problems.push(format!("{name}: no `# log fields:` line"));
        }
        for message in &query.messages {
            if !message_in_source(message, &sources) {
                problems.push(format!("{name}: no code logs the message {message:?}"));
            }
        }
        for level in &query.levels {
            if !levels.contains(level.as_str()) {
                problems.push(format!(
                    "{name}: no line has level {level:?} (seen: {levels:?})"
                ));
            }
        }
        // The fields must appear on the lines the query selects by message (any line when it
        // selects none); a query that reads only `message` needs no such line in this run.
        let candidates: Vec<&BTreeSet<String>> = if query.messages.is_empty() {
            seen.values().collect()
        } else {
            query.messages.iter().filter_map(|m| seen.get(m)).collect()
        };
        if candidates.is_empty() {
            if query.fields.iter().any(|f| f != "message") {
                problems.push(format!(
                    "{name}: the run produced no line with message {:?}",
                    query.messages
                ));
            }
            continue;
        }
        for field in &query.fields {
            if !candidates.iter().any(|keys| keys.contains(field)) {
                problems.push(format!("{name}: no such line has a top-level `{field}`"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/OBSERVABILITY.md and the real log lines disagree:\n{}\n\nfields seen by message: {seen:#?}",
        problems.join("\n")
    );
}

#[tokio::test]
async fn a_break_glass_request_is_logged_at_warn_with_its_tenant_user_and_route() {
    let logged = LoggedService::start(&[]).await;
    let emergency = logged.token("dr-oncall", &["break_glass"]).await;
    let regular = logged.token("nurse-1", &["viewer"]).await;
    let me = logged.get("/api/v1/me", Some(&emergency)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let listed = logged.get("/api/v1/documents", Some(&emergency)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let ordinary = logged.get("/api/v1/documents", Some(&regular)).await;
    assert_eq!(ordinary.status, 200);
    let lines = logged.stop();

    let warnings: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "break-glass access")
        .collect();
    let ids: BTreeSet<&str> = warnings
        .iter()
        .filter_map(|l| l["request_id"].as_str())
        .collect();
    let expected: BTreeSet<&str> = [me.request_id.as_str(), listed.request_id.as_str()].into();
    assert_eq!(
        ids, expected,
        "one warning per break-glass request, none for others: {warnings:#?}"
    );
    for line in &warnings {
        assert_eq!(line["level"], "WARN", "{line}");
        assert_eq!(line["emergency"], true, "{line}");
        assert_eq!(line["tenant_id"], me.body["tenant_id"], "{line}");
        assert_eq!(line["user_id"], me.body["user_id"], "{line}");
        assert!(
            line["route"]
                .as_str()
                .is_some_and(|r| r.starts_with("/api/v1/")),
            "{line}"
        );
    }
}
