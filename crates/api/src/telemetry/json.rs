//! The JSON-lines format: CloudWatch Logs Insights finds every field at the top level.
//!
//! A line is written straight into the fmt layer's (reused, thread-local) buffer: no map of
//! fields is built per event. Span fields are kept, already encoded as JSON, in the span's
//! extensions when they are recorded, so each line only copies them.

use std::fmt::{self, Write as _};
use std::ops::Range;

use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::timestamp::write_timestamp;

/// Keys every line starts with; a field of the same name is left out rather than repeated.
const FIXED_KEYS: [&str; 3] = ["timestamp", "level", "target"];

/// Fields recorded on a span so far, each value already encoded as JSON, kept in the span's
/// extensions: the values one after another in one string, and each key with where its value
/// lies in it, so a span costs two allocations however many fields it records. A field recorded
/// again replaces its earlier value.
struct SpanFields {
    json: String,
    fields: Vec<(&'static str, Range<usize>)>,
}

impl Default for SpanFields {
    fn default() -> Self {
        // Room for a request span's fields (ids, method, route, tenant, user, error code).
        Self {
            json: String::with_capacity(256),
            fields: Vec::with_capacity(8),
        }
    }
}

impl SpanFields {
    fn set(&mut self, key: &'static str, value: &JsonValue<'_>) {
        let start = self.json.len();
        // Writing into a String cannot fail.
        let _ = value.write(&mut self.json);
        let end = self.json.len();
        let Some(slot) = self.fields.iter().position(|(k, _)| *k == key) else {
            self.fields.push((key, start..end));
            return;
        };
        // Recorded again: the old value's bytes go, the ones after it move down.
        let old = self.fields[slot].1.clone();
        self.json.replace_range(old.clone(), "");
        let removed = old.len();
        for (_, range) in &mut self.fields {
            if range.start >= old.end {
                *range = range.start - removed..range.end - removed;
            }
        }
        self.fields[slot].1 = start - removed..end - removed;
    }

    fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.fields
            .iter()
            .map(|(key, range)| (*key, &self.json[range.clone()]))
    }
}

/// Keeps every span's recorded fields as JSON, for [`JsonLines`] to flatten into each line.
pub(super) struct SpanFieldsLayer;

impl<S> Layer<S> for SpanFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = SpanFields::default();
        attrs.record(&mut SpanVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(fields) = extensions.get_mut::<SpanFields>() {
                values.record(&mut SpanVisitor(fields));
            }
        }
    }
}

/// Formats an event as one JSON object: timestamp, level, target, the event's fields, then
/// the fields of its spans (innermost wins; the event's own fields win over all). Every key
/// appears once; `message` is always present.
pub(super) struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut keys: Vec<&'static str> = Vec::with_capacity(16);
        keys.extend(FIXED_KEYS);
        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer, OffsetDateTime::now_utc())?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(event.metadata().level().as_str())?;
        writer.write_str("\",\"target\":")?;
        write_json_str(&mut writer, event.metadata().target())?;

        let mut visitor = EventVisitor {
            writer: &mut writer,
            keys: &mut keys,
            result: Ok(()),
        };
        event.record(&mut visitor);
        visitor.result?;

        if let Some(scope) = ctx.event_scope() {
            for span in scope {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (key, value) in fields.iter() {
                        if !keys.contains(&key) {
                            keys.push(key);
                            write_key(&mut writer, key)?;
                            writer.write_str(value)?;
                        }
                    }
                }
            }
        }
        if !keys.contains(&"message") {
            writer.write_str(",\"message\":\"\"")?;
        }
        writer.write_str("}\n")
    }
}

/// A field formatter that writes nothing: see `init`.
pub(super) struct NoFields;

impl<'writer> FormatFields<'writer> for NoFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _writer: Writer<'writer>,
        _fields: R,
    ) -> fmt::Result {
        Ok(())
    }
}

/// `,"key":` (every key follows the fixed ones, so a comma always comes first).
fn write_key(writer: &mut impl fmt::Write, key: &str) -> fmt::Result {
    writer.write_str(",\"")?;
    Escaping(&mut *writer).write_str(key)?;
    writer.write_str("\":")
}

/// A JSON string literal.
fn write_json_str(writer: &mut impl fmt::Write, value: &str) -> fmt::Result {
    writer.write_char('"')?;
    Escaping(&mut *writer).write_str(value)?;
    writer.write_char('"')
}

/// A field value encoded as JSON, the way each `Visit` method receives it.
enum JsonValue<'a> {
    Str(&'a str),
    Display(&'a dyn fmt::Display),
    Debug(&'a dyn fmt::Debug),
    F64(f64),
    I64(i64),
    U64(u64),
    Bool(bool),
}

impl JsonValue<'_> {
    fn write(&self, writer: &mut impl fmt::Write) -> fmt::Result {
        match self {
            Self::Str(value) => write_json_str(writer, value),
            // Display and Debug output is escaped on its way through, without a String.
            Self::Display(value) => {
                writer.write_char('"')?;
                write!(Escaping(writer), "{value}")?;
                writer.write_char('"')
            }
            Self::Debug(value) => {
                writer.write_char('"')?;
                write!(Escaping(writer), "{value:?}")?;
                writer.write_char('"')
            }
            // JSON has no NaN or infinity.
            Self::F64(value) if !value.is_finite() => writer.write_str("null"),
            // ryu and itoa: the formatting machinery of `write!` cost more than the rest of a
            // field (docs/PERFORMANCE.md, "CORS and compression only where they act").
            Self::F64(value) => writer.write_str(ryu::Buffer::new().format_finite(*value)),
            Self::I64(value) => writer.write_str(itoa::Buffer::new().format(*value)),
            Self::U64(value) => writer.write_str(itoa::Buffer::new().format(*value)),
            Self::Bool(value) => writer.write_str(if *value { "true" } else { "false" }),
        }
    }
}

/// Calls `record` with each field's value as a [`JsonValue`].
trait RecordJson {
    fn record(&mut self, field: &Field, value: JsonValue<'_>);
}

macro_rules! visit_as_json {
    ($visitor:ty) => {
        impl Visit for $visitor {
            fn record_f64(&mut self, field: &Field, value: f64) {
                self.record(field, JsonValue::F64(value));
            }
            fn record_i64(&mut self, field: &Field, value: i64) {
                self.record(field, JsonValue::I64(value));
            }
            fn record_u64(&mut self, field: &Field, value: u64) {
                self.record(field, JsonValue::U64(value));
            }
            fn record_bool(&mut self, field: &Field, value: bool) {
                self.record(field, JsonValue::Bool(value));
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                self.record(field, JsonValue::Str(value));
            }
            fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
                self.record(field, JsonValue::Display(&value));
            }
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                self.record(field, JsonValue::Debug(value));
            }
        }
    };
}

/// Encodes a span's fields into its [`SpanFields`].
struct SpanVisitor<'a>(&'a mut SpanFields);

impl RecordJson for SpanVisitor<'_> {
    fn record(&mut self, field: &Field, value: JsonValue<'_>) {
        self.0.set(field.name(), &value);
    }
}

visit_as_json!(SpanVisitor<'_>);

/// Writes an event's fields straight into the line, remembering their keys.
struct EventVisitor<'a, 'w> {
    writer: &'a mut Writer<'w>,
    keys: &'a mut Vec<&'static str>,
    result: fmt::Result,
}

impl RecordJson for EventVisitor<'_, '_> {
    fn record(&mut self, field: &Field, value: JsonValue<'_>) {
        let key = field.name();
        if self.result.is_err() || self.keys.contains(&key) {
            return;
        }
        self.keys.push(key);
        self.result = write_key(self.writer, key).and_then(|()| value.write(self.writer));
    }
}

visit_as_json!(EventVisitor<'_, '_>);

/// A `fmt::Write` that JSON-escapes what passes through it (the inside of a string literal),
/// for values that arrive as `Display` or `Debug`.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Without an early exit the check is one vectorised pass (it runs on every string).
        let plain = text.bytes().fold(true, |plain, b| {
            plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
        });
        if plain {
            return self.0.write_str(text);
        }
        // Rare: let serde_json escape it, without the quotes it adds.
        let quoted = serde_json::to_string(text).map_err(|_| fmt::Error)?;
        self.0.write_str(&quoted[1..quoted.len() - 1])
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
