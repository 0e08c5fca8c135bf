//! Query and path parameters shared by the list endpoints: cursor, limit, RFC 3339 times, ids.
//!
//! Parameters arrive as text and are parsed here rather than by serde, so that every problem is
//! reported as a 422 VAL_001 detail naming its parameter, all problems of a request at once.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use haven_db::page::{Cursor, Page, PageLimit};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ApiError, FieldError, codes};

/// Collects field problems; [`Problems::finish`] turns them into one 422 VAL_001.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// `value` when it is `Ok`; otherwise the problem is noted and `None` returned.
    pub fn take<T>(&mut self, field: &str, value: Result<T, String>) -> Option<T> {
        match value {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    /// An optional parameter: its value when given and valid, its problem noted otherwise.
    pub fn param<T>(&mut self, field: &str, value: Result<Option<T>, String>) -> Option<T> {
        self.take(field, value).flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `cursor` and `limit` of a list request, their problems noted.
    pub fn paging(&mut self, cursor: Option<&str>, limit: Option<&str>) -> Paging {
        Paging {
            cursor: self.take("cursor", self::cursor(cursor)).flatten(),
            limit: self.take("limit", self::limit(limit)).unwrap_or_default(),
        }
    }

    /// `check`'s value when it noted no problem, else 422 VAL_001 with every problem it noted.
    pub fn check<T>(check: impl FnOnce(&mut Problems) -> T) -> Result<T, ApiError> {
        let mut problems = Problems::default();
        let value = check(&mut problems);
        problems.finish().map(|()| value)
    }

    /// `patch`, noting "at least one field is required" under `body` when it changes nothing
    /// and nothing else is wrong.
    pub fn changes<P: Default + PartialEq>(&mut self, patch: P) -> P {
        if self.is_empty() && patch == P::default() {
            self.add("body", "at least one field is required");
        }
        patch
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::new(codes::VAL_001).with_details(self.0))
        }
    }
}

/// A page of rows as a list response carries it: the items as the response's type and the
/// cursor of the next page, encoded.
pub fn page<R, T: From<R>>(page: Page<R>) -> (Vec<T>, Option<String>) {
    let items = page.items.into_iter().map(T::from).collect();
    (items, page.next_cursor.map(|cursor| cursor.encode()))
}

/// Where a list page starts and how long it is.
#[derive(Debug, Default)]
pub struct Paging {
    pub cursor: Option<Cursor>,
    pub limit: PageLimit,
}

/// A boolean parameter: absent, `true` or `false`.
pub fn flag(text: Option<&str>) -> Result<Option<bool>, String> {
    match text {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err("must be true or false".to_owned()),
    }
}

/// The `cursor` parameter: absent, or a cursor this service issued.
pub fn cursor(text: Option<&str>) -> Result<Option<Cursor>, String> {
    match text {
        None => Ok(None),
        Some(text) => Cursor::decode(text)
            .map(Some)
            .map_err(|_| "not a cursor issued by this service".to_owned()),
    }
}

/// The `limit` parameter: 1 to 100, 20 when absent.
pub fn limit(text: Option<&str>) -> Result<PageLimit, String> {
    let max = PageLimit::MAX.get();
    match text {
        None => Ok(PageLimit::DEFAULT),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .and_then(|n| PageLimit::new(n).ok())
            .ok_or_else(|| format!("must be an integer between 1 and {max}")),
    }
}

/// An RFC 3339 timestamp (`2026-01-31T12:00:00Z`; encode `+` as `%2B` in a query string).
pub fn timestamp(text: Option<&str>) -> Result<Option<OffsetDateTime>, String> {
    match text {
        None => Ok(None),
        Some(text) => OffsetDateTime::parse(text, &Rfc3339)
            .map(Some)
            .map_err(|_| "must be an RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z".to_owned()),
    }
}

/// An id filter (`patient_id`, `actor`): absent, or a UUID.
pub fn id<T: std::str::FromStr>(text: Option<&str>) -> Result<Option<T>, String> {
    match text {
        None => Ok(None),
        Some(text) => text
            .parse::<T>()
            .map(Some)
            .map_err(|_| "must be a UUID".to_owned()),
    }
}

/// A date filter: `YYYY-MM-DD`.
pub fn date(text: Option<&str>) -> Result<Option<time::Date>, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match text {
        None => Ok(None),
        Some(text) => time::Date::parse(text, &format)
            .map(Some)
            .map_err(|_| "must be a date, YYYY-MM-DD".to_owned()),
    }
}

/// A text filter: 1 to `max` characters, no control characters.
pub fn text(value: Option<&str>, max: usize) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(format!(
                "must be 1 to {max} characters, none of them control characters"
            ))
        }
        Some(v) => Ok(Some(v.to_owned())),
    }
}

/// The `{id}` path segment as text, whatever it holds (undecodable: empty; NUL: U+FFFD). It never
/// rejects: a segment that is not a valid id is a 404 decided (and audited) by the handler, not a
/// 400 from the extractor.
#[derive(Debug, Clone, Default)]
pub struct RawId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RawId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let text = Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| id)
            .unwrap_or_default();
        // The text may be recorded in an audit event: PostgreSQL text cannot hold NUL.
        Ok(Self(text.replace('\0', "\u{fffd}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_a_hundred_and_non_numbers_are_problems() {
        assert_eq!(limit(None).map(PageLimit::get), Ok(20));
        assert_eq!(limit(Some("100")).map(PageLimit::get), Ok(100));
        for bad in ["0", "101", "-1", "ten", ""] {
            assert!(limit(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_must_be_rfc_3339() {
        assert!(timestamp(Some("2026-01-31T12:00:00Z")).unwrap().is_some());
        assert!(
            timestamp(Some("2026-01-31T12:00:00+02:00"))
                .unwrap()
                .is_some()
        );
        assert!(timestamp(Some("2026-01-31")).is_err());
        assert!(timestamp(Some("yesterday")).is_err());
    }

    #[test]
    fn problems_become_one_validation_error_with_every_field() {
        let mut problems = Problems::default();
        assert!(problems.take("limit", limit(Some("0"))).is_none());
        assert!(problems.take("cursor", cursor(Some("junk"))).is_none());
        let error = problems.finish().unwrap_err();
        assert_eq!(error.code(), codes::VAL_001);
    }
}
