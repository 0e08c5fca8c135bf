//! The log line's timestamp: RFC 3339, UTC, with nanoseconds, the part down to the second
//! formatted once a second per thread.

use std::cell::RefCell;
use std::fmt;
use std::io;

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// The date and time down to the second (`2026-12-06T05:59:07`) formatted last on this thread,
/// with the second it stands for: lines of the same second reuse it.
struct Second {
    unix: i64,
    text: String,
}

thread_local! {
    static SECOND: RefCell<Second> = const {
        RefCell::new(Second { unix: i64::MIN, text: String::new() })
    };
}

const TO_THE_SECOND: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

/// `now` in RFC 3339, UTC, with nanoseconds (`2026-12-06T05:59:07.123456789Z`). The part down to
/// the second is formatted by `time` once a second per thread; only the nanoseconds every line.
pub(super) fn write_timestamp(writer: &mut impl fmt::Write, now: OffsetDateTime) -> fmt::Result {
    SECOND.with_borrow_mut(|second| {
        let unix = now.unix_timestamp();
        if second.unix != unix {
            second.text.clear();
            now.format_into(&mut FmtIo(&mut second.text), TO_THE_SECOND)
                .map_err(|_| fmt::Error)?;
            second.unix = unix;
        }
        writer.write_str(&second.text)
    })?;
    write!(writer, ".{:09}Z", now.nanosecond())
}

/// `io::Write` onto a `fmt::Write`, for `time`'s formatter, which writes valid UTF-8.
struct FmtIo<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> io::Write for FmtIo<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text =
            std::str::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.0.write_str(text).map_err(io::Error::other)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::format_description::well_known::Rfc3339;

    use super::*;

    #[test]
    fn timestamps_are_rfc_3339_utc_with_nanoseconds_also_within_one_second() {
        let at = |text: &str| OffsetDateTime::parse(text, &Rfc3339).unwrap();
        let mut line = String::new();
        let early = at("2026-12-06T05:59:07.000000001Z");
        write_timestamp(&mut line, early).unwrap();
        assert_eq!(line, "2026-12-06T05:59:07.000000001Z");
        // The same second again (the cached part), then the next one (formatted anew).
        for text in ["2026-12-06T05:59:07.5Z", "2026-12-06T05:59:08.123456789Z"] {
            line.clear();
            write_timestamp(&mut line, at(text)).unwrap();
            assert_eq!(at(&line), at(text), "{line}");
        }
        assert_eq!(line, "2026-12-06T05:59:08.123456789Z");
        line.clear();
        let now = OffsetDateTime::now_utc();
        write_timestamp(&mut line, now).unwrap();
        assert_eq!(at(&line), now);
    }
}
