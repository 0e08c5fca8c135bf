//! Keyset pagination shared by every list: the opaque cursor, the page limit and the page.
//!
//! Lists are ordered by a timestamp and the row id (both descending for documents and audit
//! events). The cursor is the (timestamp, id) of the last row returned, so the next page starts
//! with an index range condition: page 10 000 costs what page 1 costs, and rows inserted while a
//! client walks the pages neither repeat nor shift earlier rows. It is opaque to clients
//! (base64url) but not secret: a forged cursor only moves the start within the caller's tenant.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::tenant::TenantTx;

const CURSOR_VERSION: u8 = 1;
const CURSOR_LEN: usize = 1 + 8 + 16;

/// A position in a keyset-ordered list: the sort timestamp and the id of the last row seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: OffsetDateTime,
    pub id: Uuid,
}

/// The text is not a cursor this service issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pagination cursor")]
pub struct InvalidCursor;

impl Cursor {
    pub fn new(at: OffsetDateTime, id: Uuid) -> Self {
        Self { at, id }
    }

    /// base64url (no padding) of: version byte, microseconds since the epoch (i64, big endian),
    /// the 16 id bytes. PostgreSQL keeps microseconds, so the round trip is exact.
    pub fn encode(&self) -> String {
        let micros = (self.at.unix_timestamp_nanos() / 1_000) as i64;
        let mut bytes = [0_u8; CURSOR_LEN];
        bytes[0] = CURSOR_VERSION;
        bytes[1..9].copy_from_slice(&micros.to_be_bytes());
        bytes[9..].copy_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(text: &str) -> Result<Self, InvalidCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| InvalidCursor)?;
        let bytes: [u8; CURSOR_LEN] = bytes.try_into().map_err(|_| InvalidCursor)?;
        if bytes[0] != CURSOR_VERSION {
            return Err(InvalidCursor);
        }
        let mut micros = [0_u8; 8];
        micros.copy_from_slice(&bytes[1..9]);
        let nanos = i128::from(i64::from_be_bytes(micros)) * 1_000;
        let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| InvalidCursor)?;
        // The time crate reaches back to year -9999, PostgreSQL's timestamptz only to 4713 BC:
        // a forged timestamp in between would fail in the query (a 500), not here (a 422). No
        // row this service lists carries a year outside 1..=9999.
        if !(1..=9999).contains(&at.year()) {
            return Err(InvalidCursor);
        }
        let id = Uuid::from_slice(&bytes[9..]).map_err(|_| InvalidCursor)?;
        Ok(Self { at, id })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for Cursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::decode(s)
    }
}

/// How many rows a page holds: 1 to [`PageLimit::MAX`], [`PageLimit::DEFAULT`] when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u16);

/// The limit is outside 1..=100.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit must be between 1 and {max}", max = PageLimit::MAX.get())]
pub struct InvalidLimit;

impl PageLimit {
    pub const DEFAULT: Self = Self(20);
    pub const MAX: Self = Self(100);

    pub fn new(limit: u32) -> Result<Self, InvalidLimit> {
        match u16::try_from(limit) {
            Ok(n) if (1..=Self::MAX.0).contains(&n) => Ok(Self(n)),
            _ => Err(InvalidLimit),
        }
    }

    pub const fn get(self) -> u16 {
        self.0
    }

    /// One more than the page: the extra row, if it comes back, says a next page exists.
    pub(crate) fn fetch(self) -> i64 {
        i64::from(self.0) + 1
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One page of a list and the cursor for the next one (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// Trims the extra row fetched by [`PageLimit::fetch`] and derives the next cursor from the
    /// last row kept.
    pub(crate) fn from_rows(
        mut rows: Vec<T>,
        limit: PageLimit,
        key: impl Fn(&T) -> Cursor,
    ) -> Self {
        let limit = usize::from(limit.get());
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(key) } else { None };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

/// Ends a list's select (its `where` begun) with the keyset condition after `after`, the order
/// (`created_at`, `id`, both descending) and the limit, runs it and cuts the page; `read` turns
/// each row kept into an item (the extra row is never read).
///
/// The caller pushes only the predicates in use (values always bound), so each shape is its own
/// prepared statement whose plan keeps the cursor as an index range condition; a catch-all
/// `($n is null or ...)` form would let a generic plan fall back to filtering.
pub(crate) async fn keyset<T>(
    tx: &mut TenantTx<'_>,
    mut query: QueryBuilder<Postgres>,
    (after, limit): (Option<&Cursor>, PageLimit),
    read: impl Fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Page<T>, sqlx::Error> {
    if let Some(cursor) = after {
        query.push(" and (created_at, id) < (").push_bind(cursor.at);
        query.push(", ").push_bind(cursor.id).push(")");
    }
    query.push(" order by created_at desc, id desc limit ");
    query.push_bind(limit.fetch());
    let mut rows = query.build().fetch_all(tx.as_mut()).await?;
    let more = rows.len() > usize::from(limit.get());
    rows.truncate(limit.get().into());
    let next_cursor = match rows.last() {
        Some(last) if more => Some(Cursor::new(
            last.try_get("created_at")?,
            last.try_get("id")?,
        )),
        _ => None,
    };
    let items = rows.iter().map(read).collect::<Result<_, _>>()?;
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_with_a_timestamp_postgresql_cannot_hold_is_refused() {
        let forged = |micros: i64| {
            let mut bytes = [0_u8; CURSOR_LEN];
            bytes[0] = CURSOR_VERSION;
            bytes[1..9].copy_from_slice(&micros.to_be_bytes());
            URL_SAFE_NO_PAD.encode(bytes)
        };
        // Year -9000: the time crate holds it, PostgreSQL does not.
        assert_eq!(
            Cursor::decode(&forged(-346_000_000_000_000_000)),
            Err(InvalidCursor)
        );
        assert_eq!(Cursor::decode(&forged(i64::MIN)), Err(InvalidCursor));
        assert_eq!(Cursor::decode(&forged(i64::MAX)), Err(InvalidCursor));
        assert!(Cursor::decode(&forged(1_700_000_000_000_000)).is_ok());
    }

    #[test]
    fn a_cursor_round_trips_through_its_text_exactly() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_790_000_000_123_456_000).unwrap();
        let cursor = Cursor::new(at, Uuid::new_v4());
        let text = cursor.encode();
        assert!(
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(Cursor::decode(&text), Ok(cursor));
    }

    #[test]
    fn garbage_truncated_or_foreign_version_cursors_are_rejected() {
        let good = Cursor::new(OffsetDateTime::UNIX_EPOCH, Uuid::nil()).encode();
        assert_eq!(Cursor::decode("not a cursor!"), Err(InvalidCursor));
        assert_eq!(Cursor::decode(&good[..good.len() - 2]), Err(InvalidCursor));
        let mut other = URL_SAFE_NO_PAD.decode(&good).unwrap();
        other[0] = 2;
        assert_eq!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode(other)),
            Err(InvalidCursor)
        );
    }

    #[test]
    fn limits_outside_one_to_a_hundred_are_refused() {
        assert!(PageLimit::new(0).is_err());
        assert!(PageLimit::new(101).is_err());
        assert!(PageLimit::new(70_000).is_err());
        assert_eq!(PageLimit::new(100).unwrap(), PageLimit::MAX);
        assert_eq!(PageLimit::default().get(), 20);
    }

    #[test]
    fn a_page_with_the_extra_row_gets_a_cursor_and_loses_the_row() {
        let rows = vec![1_u8, 2, 3];
        let key = |n: &u8| Cursor::new(OffsetDateTime::UNIX_EPOCH, Uuid::from_u128(u128::from(*n)));
        let page = Page::from_rows(rows.clone(), PageLimit::new(2).unwrap(), key);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.map(|c| c.id), Some(Uuid::from_u128(2)));
        let last = Page::from_rows(rows, PageLimit::new(3).unwrap(), key);
        assert_eq!(last.next_cursor, None);
    }
}
