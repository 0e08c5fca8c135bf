//! Unit tests of the JSON log line.

use std::io;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

use super::*;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn capture(body: impl FnOnce()) -> Vec<Value> {
    let lines = Lines::default();
    let sink = lines.clone();
    let subscriber = tracing_subscriber::registry().with(SpanFieldsLayer).with(
        tracing_subscriber::fmt::layer()
            .event_format(JsonLines)
            .fmt_fields(NoFields)
            .with_writer(move || sink.clone()),
    );
    tracing::subscriber::with_default(subscriber, body);
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn span_fields_are_lifted_to_the_top_level_and_the_innermost_and_the_event_win() {
    let lines = capture(|| {
        let outer = tracing::info_span!(
            "request",
            request_id = "r-1",
            status = tracing::field::Empty,
            user_id = "outer"
        );
        let _outer = outer.enter();
        outer.record("status", 201_u16);
        let inner = tracing::info_span!("inner", user_id = "inner", route = "/x");
        let _inner = inner.enter();
        tracing::info!(route = "/event", duration_ms = 1.5, ok = true, "done");
    });
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["message"], "done");
    assert_eq!(line["request_id"], "r-1");
    assert_eq!(line["status"], 201);
    assert_eq!(line["user_id"], "inner");
    assert_eq!(line["route"], "/event");
    assert_eq!(line["duration_ms"], 1.5);
    assert_eq!(line["ok"], true);
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
    assert!(line["target"].as_str().unwrap().contains("json"), "{line}");
}

#[test]
fn a_field_recorded_twice_keeps_the_last_value_and_every_key_appears_once() {
    let lines = capture(|| {
        let span = tracing::info_span!("request", error_code = tracing::field::Empty);
        let _span = span.enter();
        span.record("error_code", "AUTH_001");
        span.record("error_code", "AUTH_002");
        tracing::warn!(target = "shadow", level = "shadow", "x");
    });
    let line = &lines[0];
    assert_eq!(line["error_code"], "AUTH_002");
    assert_eq!(line["level"], "WARN");
    assert_ne!(line["target"], "shadow");
    let text = serde_json::to_string(line).unwrap();
    assert_eq!(text.matches("\"error_code\"").count(), 1);
}

#[test]
fn a_value_recorded_again_among_others_leaves_the_others_whole() {
    let lines = capture(|| {
        let span = tracing::info_span!(
            "request",
            request_id = "r-1",
            route = tracing::field::Empty,
            tenant_id = tracing::field::Empty,
            user_id = tracing::field::Empty,
        );
        let _span = span.enter();
        span.record("route", "/a");
        span.record("tenant_id", "t-1");
        span.record("user_id", "u-1");
        // Longer, then shorter, than before: the values after it move both ways.
        span.record("route", "/a/much/longer/route/{id}");
        tracing::info!("first");
        span.record("route", "/");
        span.record("request_id", "r-2");
        tracing::info!("second");
    });
    for (line, route, request_id) in [
        (&lines[0], "/a/much/longer/route/{id}", "r-1"),
        (&lines[1], "/", "r-2"),
    ] {
        assert_eq!(line["route"], route, "{line}");
        assert_eq!(line["request_id"], request_id, "{line}");
        assert_eq!(line["tenant_id"], "t-1", "{line}");
        assert_eq!(line["user_id"], "u-1", "{line}");
    }
}

#[test]
fn strings_display_and_debug_values_are_escaped_and_non_finite_numbers_are_null() {
    let nasty = "quote \" backslash \\ newline \n tab \t bell \u{7} é";
    // The only character to escape far into the string, past any vector width.
    let late = format!("{}\u{1}", "x".repeat(70));
    let lines = capture(|| {
        let span = tracing::info_span!("s", shown = %nasty);
        let _span = span.enter();
        tracing::info!(plain = nasty, debugged = ?nasty, nan = f64::NAN, big = u64::MAX, neg = -3_i64, late = late.as_str(), whole = 2.0, "{nasty}");
    });
    let line = &lines[0];
    assert_eq!(line["plain"], nasty);
    assert_eq!(line["shown"], nasty);
    assert_eq!(line["message"], nasty);
    assert_eq!(line["debugged"], format!("{nasty:?}"));
    assert_eq!(line["nan"], Value::Null);
    assert_eq!(line["big"], u64::MAX);
    assert_eq!(line["neg"], -3);
    assert_eq!(line["late"], late);
    assert_eq!(line["whole"], 2.0);
}

#[test]
fn an_event_without_a_message_still_has_one() {
    let lines = capture(|| tracing::info!(answer = 42));
    assert_eq!(lines[0]["message"], "");
    assert_eq!(lines[0]["answer"], 42);
}
