//! Document input checks against the schema's limits (`haven_db::documents::*_MAX_*`).

use haven_db::documents::{
    CONTENT_TYPE_MAX_CHARS, FILENAME_MAX_CHARS, METADATA_MAX_BYTES, STORAGE_LOCATION_MAX_CHARS,
    TITLE_MAX_CHARS,
};
use serde_json::Value;

use crate::routes::input::{json_object, required_text};
use crate::routes::params::Problems;

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

pub fn storage_location(problems: &mut Problems, value: Option<&str>) {
    if let Some(value) = value {
        required_text(
            problems,
            "storage_location",
            value,
            STORAGE_LOCATION_MAX_CHARS,
        );
    }
}

/// A JSON object of at most [`METADATA_MAX_BYTES`] as PostgreSQL prints it.
pub fn metadata(problems: &mut Problems, value: &Value) {
    json_object(problems, "metadata", value, METADATA_MAX_BYTES);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::codes;
    use serde_json::json;

    #[test]
    fn bad_values_are_reported_under_their_field() {
        let mut problems = Problems::default();
        title(&mut problems, "   ");
        filename(&mut problems, "../etc/passwd");
        content_type(&mut problems, "pdf");
        size_bytes(&mut problems, -1);
        metadata(&mut problems, &json!({"k": "a\u{0}b"}));
        storage_location(&mut problems, Some(""));
        let error = problems.finish().unwrap_err();
        assert_eq!(error.code(), codes::VAL_001);
        let mut good = Problems::default();
        content_type(&mut good, "application/pdf; charset=binary");
        filename(&mut good, "scan 01.pdf");
        assert!(good.is_empty());
    }
}
