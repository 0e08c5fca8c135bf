//! Document input checks against the schema's limits (`haven_db::documents::*_MAX_*`), done in
//! the handler so a bad value is a 422 naming its field, not a constraint error from the
//! database; and the mapping of the constraints themselves, should a value slip past.

use haven_db::documents::{
    CONTENT_TYPE_MAX_CHARS, FILENAME_MAX_CHARS, IDEMPOTENCY_KEY_MAX_CHARS, METADATA_MAX_BYTES,
    TITLE_MAX_CHARS,
};
use serde_json::Value;

use crate::error::{ApiError, FieldError, codes};
use crate::routes::params::Problems;

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

pub fn title(problems: &mut Problems, value: &str) {
    required_text(problems, "title", value, TITLE_MAX_CHARS);
}

/// A file name, not a path.
pub fn filename(problems: &mut Problems, value: &str) {
    let before = problems.len();
    required_text(problems, "filename", value, FILENAME_MAX_CHARS);
    if before == problems.len() && value.contains(['/', '\\']) {
        problems.add("filename", "must be a file name without / or \\");
    }
}

/// RFC 9110 `tchar`.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A media type: `type/subtype`, optionally followed by `; parameters`.
pub fn content_type(problems: &mut Problems, value: &str) {
    let before = problems.len();
    required_text(problems, "content_type", value, CONTENT_TYPE_MAX_CHARS);
    if before != problems.len() {
        return;
    }
    let essence = value.split(';').next().unwrap_or_default().trim();
    let valid = essence
        .split_once('/')
        .is_some_and(|(kind, sub)| is_token(kind) && is_token(sub));
    if !valid {
        problems.add(
            "content_type",
            "must be a media type such as application/pdf",
        );
    }
}

pub fn size_bytes(problems: &mut Problems, value: i64) {
    if value < 0 {
        problems.add("size_bytes", "must be 0 or more");
    }
}

/// `storage_location` is server-owned (the object key the server builds): a client value, even
/// `null`, is refused.
pub fn storage_location(problems: &mut Problems, present: bool) {
    if present {
        problems.add(
            "storage_location",
            "is set by the server (the stored object's key) and cannot be written",
        );
    }
}

/// A JSON object of at most [`METADATA_MAX_BYTES`] as PostgreSQL prints it, with no NUL
/// character anywhere (PostgreSQL text cannot hold one).
pub fn metadata(problems: &mut Problems, value: &Value) {
    if !value.is_object() {
        problems.add("metadata", "must be a JSON object");
    } else if contains_nul(value) {
        problems.add("metadata", "must not contain the character U+0000");
    } else if contains_huge_number(value) {
        problems.add(
            "metadata",
            "numbers must be smaller than 1e300 in magnitude",
        );
    } else if jsonb_text_len(value) > METADATA_MAX_BYTES {
        problems.add(
            "metadata",
            format!("must be at most {METADATA_MAX_BYTES} bytes as JSON text"),
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
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let valid = values.next().is_none()
        && (1..=IDEMPOTENCY_KEY_MAX_CHARS).contains(&bytes.len())
        && bytes.iter().all(|b| (0x20..=0x7e).contains(b));
    if !valid {
        return Err(ApiError::new(codes::VAL_001).with_details(vec![FieldError {
            field: "Idempotency-Key".to_owned(),
            message: format!(
                "must be sent once, 1 to {IDEMPOTENCY_KEY_MAX_CHARS} printable ASCII characters"
            ),
        }]));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// A write refused by one of the `documents` CHECK constraints (`documents_<column>_check`,
/// SQLSTATE 23514) is the client's input: 422 naming the column. Anything else goes on as is.
pub fn write_error(error: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(db) = &error
        && db.code().as_deref() == Some("23514")
        && let Some(field) = db
            .constraint()
            .and_then(|c| c.strip_prefix("documents_"))
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
    fn bad_values_are_reported_under_their_field() {
        let mut problems = Problems::default();
        title(&mut problems, "   ");
        filename(&mut problems, "../etc/passwd");
        content_type(&mut problems, "pdf");
        size_bytes(&mut problems, -1);
        metadata(&mut problems, &json!({"k": "a\u{0}b"}));
        storage_location(&mut problems, true);
        let error = problems.finish().unwrap_err();
        assert_eq!(error.code(), codes::VAL_001);
        let mut good = Problems::default();
        content_type(&mut good, "application/pdf; charset=binary");
        filename(&mut good, "scan 01.pdf");
        assert!(good.is_empty());
    }

    #[test]
    fn metadata_numbers_that_would_not_read_back_are_refused() {
        let mut problems = Problems::default();
        metadata(
            &mut problems,
            &serde_json::json!({"ok": 1.5e299, "n": [1, -2]}),
        );
        assert!(problems.finish().is_ok());
        let huge: Value =
            serde_json::from_str(r#"{"x": {"y": [1.7976931348623157e308]}}"#).unwrap();
        let mut problems = Problems::default();
        metadata(&mut problems, &huge);
        assert!(problems.finish().is_err());
    }

    #[test]
    fn idempotency_keys_must_be_printable_ascii_and_not_too_long() {
        let mut headers = axum::http::HeaderMap::new();
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
