//! A `Content-Disposition: attachment` value any filename is safe in (RFC 6266 with RFC 8187).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// RFC 8187 `attr-char` minus what must be escaped: everything but ALPHA / DIGIT and
/// `!#$&+-.^_`|~` is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="<ascii fallback>"; filename*=UTF-8''<percent-encoded>`.
///
/// Control characters are dropped and only the last path segment is kept. The fallback keeps
/// printable ASCII except `"`, `\`, `/`, `%` and `;` (each becomes `_`, as does non-ASCII), so
/// it can neither end the quoted string nor name a path. The `filename*` form carries the exact name for every current browser. An
/// empty result falls back to `download`.
pub fn attachment(filename: &str) -> String {
    // Control characters are dropped first (a header value cannot carry them anyway).
    let visible: String = filename.chars().filter(|c| !c.is_control()).collect();
    let base = visible.rsplit(['/', '\\']).next().unwrap_or_default();
    let fallback: String = base
        .chars()
        .map(|c| match c {
            '"' | '\\' | '/' | '%' | ';' => '_',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '_',
        })
        .collect();
    let fallback = fallback.trim();
    let fallback = if fallback.is_empty() || fallback.chars().all(|c| c == '.') {
        "download"
    } else {
        fallback
    };
    let exact = if base.trim().is_empty() || base.chars().all(|c| c == '.') {
        fallback
    } else {
        base
    };
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(exact, ATTR_CHAR)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_name_is_kept_in_both_forms() {
        assert_eq!(
            attachment("scan-01.pdf"),
            "attachment; filename=\"scan-01.pdf\"; filename*=UTF-8''scan-01.pdf"
        );
    }

    #[test]
    fn quotes_backslashes_and_separators_cannot_break_out_of_the_value() {
        let value = attachment("a\"; filename=evil.exe\\x.pdf");
        let quoted = value
            .strip_prefix("attachment; filename=\"")
            .and_then(|rest| rest.split_once('"'))
            .map(|(inside, _)| inside)
            .unwrap();
        assert!(!quoted.contains(['"', '\\', ';']), "{value}");
        assert_eq!(value.matches('"').count(), 2, "{value}");
        assert!(value.contains("filename*=UTF-8''x.pdf"), "{value}");
    }

    #[test]
    fn path_parts_and_control_characters_are_dropped() {
        let value = attachment("../../etc/pass\r\nwd%2F.txt");
        assert!(!value.contains(['\r', '\n', '/']), "{value}");
        assert!(
            value.starts_with("attachment; filename=\"passwd_2F.txt\""),
            "{value}"
        );
        assert!(
            value.ends_with("filename*=UTF-8''passwd%252F.txt"),
            "{value}"
        );
    }

    #[test]
    fn non_ascii_names_use_the_utf8_form_with_an_ascii_fallback() {
        let value = attachment("Befund Müller ✓.pdf");
        assert!(value.is_ascii(), "{value}");
        assert!(
            value.contains("filename=\"Befund M_ller _.pdf\""),
            "{value}"
        );
        assert!(
            value.ends_with("filename*=UTF-8''Befund%20M%C3%BCller%20%E2%9C%93.pdf"),
            "{value}"
        );
    }

    #[test]
    fn an_empty_or_dot_name_becomes_download() {
        assert!(attachment("..").starts_with("attachment; filename=\"download\""));
        assert!(attachment("\u{7}").starts_with("attachment; filename=\"download\""));
    }
}
