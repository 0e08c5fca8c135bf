//! Request input shared by the resources: text, date and JSON-object checks against the
//! schema's limits, the `Idempotency-Key` header and the request hash it is bound to,
//! present-or-null patch fields, the mapping of constraint errors, and the 201 answer of a create.
//!
//! Checks run in the handler, so a bad value is a 422 naming its field rather than a
//! constraint error from the database.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::{Date, Month, OffsetDateTime};

use haven_db::idempotency::KEY_MAX_CHARS;

use crate::error::{ApiError, FieldError, codes};
use crate::routes::params::{self, Problems};
use crate::scope::WriteError;

/// A required text field: not blank, at most `max` characters, no control characters.
pub fn required_text(problems: &mut Problems, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        problems.add(field, "must not be empty");
    } else if value.chars().count() > max {
        problems.add(field, format!("must be at most {max} characters"));
    } else if value.chars().any(char::is_control) {
        problems.add(field, "must not contain control characters");
    }
}

/// A field that is present, possibly as `null` (absent fields stay `None` through `default`).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Required in a patch when present: `null` is a problem.
pub fn not_null<T>(problems: &mut Problems, field: &str, value: Option<Option<T>>) -> Option<T> {
    match value {
        Some(None) => {
            problems.add(field, "must not be null");
            None
        }
        other => other.flatten(),
    }
}

/// A text field of a patch: when present, not `null` and checked as [`required_text`].
pub fn patch_text(
    problems: &mut Problems,
    field: &str,
    value: Option<Option<String>>,
    max: usize,
) -> Option<String> {
    let value = not_null(problems, field, value)?;
    required_text(problems, field, &value, max);
    Some(value)
}

/// A real calendar date (`YYYY-MM-DD`), not in the future and not before January 1st of
/// `earliest_year`.
pub fn past_date(
    problems: &mut Problems,
    field: &str,
    text: &str,
    earliest_year: i32,
) -> Option<Date> {
    let date = problems.take(field, params::date(Some(text)))??;
    let earliest = Date::from_calendar_date(earliest_year, Month::January, 1).ok()?;
    if date < earliest || date > OffsetDateTime::now_utc().date() {
        problems.add(field, format!("must be between {earliest} and today"));
        return None;
    }
    Some(date)
}

/// A JSON object field as it is stored, checked as [`json_object`].
pub fn object(
    problems: &mut Problems,
    field: &str,
    map: Map<String, Value>,
    max_bytes: usize,
) -> Value {
    let value = Value::Object(map);
    json_object(problems, field, &value, max_bytes);
    value
}

/// A JSON object of at most `max_bytes` as PostgreSQL prints it, with no NUL character anywhere
/// (PostgreSQL text cannot hold one) and no number that would not read back.
pub fn json_object(problems: &mut Problems, field: &str, value: &Value, max_bytes: usize) {
    if !value.is_object() {
        problems.add(field, "must be a JSON object");
    } else if contains_nul(value) {
        problems.add(field, "must not contain the character U+0000");
    } else if contains_huge_number(value) {
        problems.add(field, "numbers must be smaller than 1e300 in magnitude");
    } else if jsonb_text_len(value) > max_bytes {
        problems.add(
            field,
            format!("must be at most {max_bytes} bytes as JSON text"),
        );
    }
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// PostgreSQL prints a `numeric` in full (1e308 as 309 digits); read back, such an expansion can
/// overflow a float and make the stored document unreadable. Refused at the door instead.
fn contains_huge_number(value: &Value) -> bool {
    match value {
        Value::Number(n) => n
            .as_f64()
            .is_none_or(|x| !x.is_finite() || x.abs() >= 1e300),
        Value::Array(items) => items.iter().any(contains_huge_number),
        Value::Object(map) => map.values().any(contains_huge_number),
        _ => false,
    }
}

fn escaped_len(text: &str) -> usize {
    2 + text
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

/// The length of `value` as `jsonb` text (`{"a": 1, "b": [1, 2]}`: a space after each `:` and
/// `,`), which is what the column's CHECK measures. Numbers may print longer in PostgreSQL than
/// here (exponents are expanded); the constraint mapping below covers that rare case.
fn jsonb_text_len(value: &Value) -> usize {
    let separators = |n: usize| 2 * n.saturating_sub(1);
    match value {
        Value::Null => 4,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => escaped_len(s),
        Value::Array(items) => {
            2 + items.iter().map(jsonb_text_len).sum::<usize>() + separators(items.len())
        }
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| escaped_len(k) + 2 + jsonb_text_len(v))
                .sum::<usize>()
                + separators(map.len())
        }
    }
}

/// `Idempotency-Key`: 1 to 255 printable ASCII characters, sent once.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let valid = values.next().is_none()
        && (1..=KEY_MAX_CHARS).contains(&bytes.len())
        && bytes.iter().all(|b| (0x20..=0x7e).contains(b));
    if !valid {
        return Err(ApiError::new(codes::VAL_001).with_details(vec![FieldError {
            field: "Idempotency-Key".to_owned(),
            message: format!("must be sent once, 1 to {KEY_MAX_CHARS} printable ASCII characters"),
        }]));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// A write refused by a CHECK constraint of `table` (`<table>_<column>_check`, SQLSTATE 23514)
/// is the client's input: 422 naming the column. Anything else goes on as is.
pub fn write_error(table: &str, error: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(db) = &error
        && db.code().as_deref() == Some("23514")
        && let Some(field) = db
            .constraint()
            .and_then(|c| c.strip_prefix(table))
            .and_then(|c| c.strip_prefix('_'))
            .and_then(|c| c.strip_suffix("_check"))
    {
        return ApiError::new(codes::VAL_001)
            .with_details(vec![FieldError {
                field: field.to_owned(),
                message: "is outside the allowed range".to_owned(),
            }])
            .with_source(error);
    }
    ApiError::from(error)
}

/// A write's database error in `table`: `refusal` (the client's doing, recorded as denied) when
/// the database refused `constraint` with SQLSTATE `code`, otherwise as [`write_error`] maps it.
pub fn refused_on(
    error: sqlx::Error,
    table: &str,
    (code, constraint): (&str, &str),
    refusal: ApiError,
) -> WriteError {
    if is_violation(&error, code, constraint) {
        return WriteError::Refused(refusal);
    }
    WriteError::Failed(write_error(table, error))
}

/// Is `error` the database refusing `constraint` with SQLSTATE `code` (23505 unique, 23503
/// foreign key)?
pub fn is_violation(error: &sqlx::Error, code: &str, constraint: &str) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.code().as_deref() == Some(code) && db.constraint() == Some(constraint))
}

/// JSON with object keys sorted at every level: equal values give equal bytes, however the
/// client ordered its keys.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The hash an `Idempotency-Key` is bound to: the request as validated (`value`, defaults
/// applied), so a retry that spells the same request differently (key order, an explicit
/// default) matches.
pub fn request_hash(value: &Value) -> [u8; 32] {
    let mut text = String::new();
    canonical_json(value, &mut text);
    Sha256::digest(text.as_bytes()).into()
}

/// The [`request_hash`] of a resource's validated fields as they serialize, with the resource's
/// audit name under `"resource"` so that two resources' requests never share a hash.
pub fn resource_hash(resource: &str, fields: &impl Serialize) -> Result<[u8; 32], ApiError> {
    let mut value = serde_json::to_value(fields).map_err(ApiError::internal)?;
    let Some(object) = value.as_object_mut() else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "{resource} fields are not an object"
        )));
    };
    object.insert("resource".to_owned(), resource.into());
    Ok(request_hash(&value))
}

/// 201 with the created row, its `Location`, and `Idempotent-Replayed: true` on a replay.
pub fn created(location: String, body: impl Serialize, replayed: bool) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_jsonb_length_matches_postgres_text_output() {
        // select '{"a": 1, "b": [true, null, "x\ny"]}'::jsonb::text
        let value = json!({"a": 1, "b": [true, null, "x\ny"]});
        assert_eq!(
            jsonb_text_len(&value),
            r#"{"a": 1, "b": [true, null, "x\ny"]}"#.len()
        );
        assert_eq!(jsonb_text_len(&json!({})), 2);
        assert_eq!(jsonb_text_len(&json!([])), 2);
    }

    #[test]
    fn json_numbers_that_would_not_read_back_are_refused() {
        let mut problems = Problems::default();
        json_object(
            &mut problems,
            "m",
            &json!({"ok": 1.5e299, "n": [1, -2]}),
            100,
        );
        assert!(problems.finish().is_ok());
        let huge: Value =
            serde_json::from_str(r#"{"x": {"y": [1.7976931348623157e308]}}"#).unwrap();
        let mut problems = Problems::default();
        json_object(&mut problems, "m", &huge, 100);
        assert!(problems.finish().is_err());
    }

    #[test]
    fn the_request_hash_ignores_key_order_but_not_values() {
        let a = request_hash(&json!({"a": 1, "b": {"x": [1, 2], "y": null}}));
        let b = request_hash(&json!({"b": {"y": null, "x": [1, 2]}, "a": 1}));
        let c = request_hash(&json!({"a": 2, "b": {"x": [1, 2], "y": null}}));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn idempotency_keys_must_be_printable_ascii_and_not_too_long() {
        let mut headers = HeaderMap::new();
        assert_eq!(idempotency_key(&headers).unwrap(), None);
        headers.insert("idempotency-key", "abc-123".parse().unwrap());
        assert_eq!(
            idempotency_key(&headers).unwrap().as_deref(),
            Some("abc-123")
        );
        headers.insert("idempotency-key", "x".repeat(256).parse().unwrap());
        assert!(idempotency_key(&headers).is_err());
        headers.insert("idempotency-key", "".parse().unwrap());
        assert!(idempotency_key(&headers).is_err());
    }
}
