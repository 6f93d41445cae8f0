//! Timestamps on the wire: date inputs (RFC 3339 or any of RFC 9110's three HTTP date forms) to
//! HTTP dates (IMF-fixdate) or ISO 8601 UTC, and HTTP dates in replies back to ISO 8601. Pure.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parses RFC 3339 (`2026-01-31T12:00:00Z`, `...+02:00`, fractional seconds allowed) to Unix
/// seconds, by the `time` crate (already in the tree through aws-sigv4): days checked against
/// their month, offsets within ±23:59, a leap second only where one can fall.
#[must_use]
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Why a date input was refused, for the field's error.
pub(crate) const NOT_A_DATE: &str = "is not a date: give RFC 3339 (`2026-01-31T12:00:00Z`) or an HTTP date (`Sat, 31 Jan 2026 12:00:00 GMT`: a real day, its own weekday, from 1970 on, seconds up to 59)";

/// A date input as Unix seconds: RFC 3339, or an HTTP date in any of the forms RFC 9110 §5.6.7
/// says a recipient must accept: IMF-fixdate (`Sat, 31 Jan 2026 12:00:00 GMT`), the obsolete
/// RFC 850 form (`Saturday, 31-Jan-26 12:00:00 GMT`) and asctime (`Sat Jan 31 12:00:00 2026`).
///
/// HTTP dates are read by the `httpdate` crate (the one hyper uses), which refuses a weekday
/// that is not the date's, years before 1970 and a leap second (`:60`, which RFC 9110 allows).
/// It reads an RFC 850 two-digit year below 70 as 20xx and the rest as 19xx, where RFC 9110
/// counts back from 50 years ahead (in 2026, `70` to `76` are 2070 to 2076). A century moves a
/// weekday by 5 or 6 days, so with the weekday checked a date is never misread: one meant for
/// 2070 to 2076 is refused.
#[must_use]
pub fn parse_date(s: &str) -> Option<i64> {
    parse_rfc3339(s).or_else(|| {
        let t = httpdate::parse_http_date(s).ok()?;
        i64::try_from(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs()).ok()
    })
}

/// A date input (see [`parse_date`]) as an IMF-fixdate HTTP date.
#[must_use]
pub fn to_http_date(input: &str) -> Option<String> {
    DateTime::from_secs(parse_date(input)?)
        .fmt(Format::HttpDate)
        .ok()
}

/// A date input (see [`parse_date`]) as ISO 8601 UTC, whole seconds.
#[must_use]
pub fn to_iso8601(input: &str) -> Option<String> {
    DateTime::from_secs(parse_date(input)?)
        .fmt(Format::DateTime)
        .ok()
}

/// An HTTP date from a reply header as ISO 8601 (`2026-01-31T12:00:00Z`); other text unchanged.
#[must_use]
pub fn http_date_to_iso8601(value: &str) -> String {
    DateTime::from_str(value, Format::HttpDate)
        .ok()
        .and_then(|d| d.fmt(Format::DateTime).ok())
        .unwrap_or_else(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            to_http_date("2013-05-24T00:00:00Z").unwrap(),
            "Fri, 24 May 2013 00:00:00 GMT"
        );
        assert_eq!(
            to_http_date("2013-05-24T02:00:00+02:00").unwrap(),
            "Fri, 24 May 2013 00:00:00 GMT"
        );
        assert_eq!(
            to_iso8601("2030-01-01T00:00:00.5Z").unwrap(),
            "2030-01-01T00:00:00Z"
        );
        assert_eq!(
            http_date_to_iso8601("Wed, 25 Nov 2026 21:50:12 GMT"),
            "2026-11-25T21:50:12Z"
        );
        assert_eq!(http_date_to_iso8601("not a date"), "not a date");
        assert!(parse_rfc3339("2026-13-01T00:00:00Z").is_none());
        assert!(parse_rfc3339("yesterday").is_none());
        assert!(parse_rfc3339("2026-01-31T12:00:00+1é00").is_none());
        assert!(parse_rfc3339("2026-02-29T12:00:00Z").is_none());
        assert!(parse_rfc3339("2026-01-31T12:00:00+25:00").is_none());
        assert_eq!(
            parse_rfc3339("2028-02-29 12:00:00.25+00:00"),
            Some(1_835_438_400)
        );
    }

    #[test]
    fn http_dates_in_each_form_rfc_9110_names() {
        let want = parse_rfc3339("2026-01-31T12:00:00Z");
        for form in [
            "Sat, 31 Jan 2026 12:00:00 GMT",
            "Saturday, 31-Jan-26 12:00:00 GMT",
            "Sat Jan 31 12:00:00 2026",
            "2026-01-31T13:00:00+01:00",
        ] {
            assert_eq!(parse_date(form), want, "{form}");
            assert_eq!(
                to_http_date(form).as_deref(),
                Some("Sat, 31 Jan 2026 12:00:00 GMT")
            );
            assert_eq!(to_iso8601(form).as_deref(), Some("2026-01-31T12:00:00Z"));
        }
        // asctime pads a one-digit day with a space.
        assert_eq!(
            to_iso8601("Sun Feb  1 00:00:00 2026").as_deref(),
            Some("2026-02-01T00:00:00Z")
        );
        for bad in [
            "Sun, 31 Jan 2026 12:00:00 GMT", // 31 Jan 2026 is a Saturday
            "Sat, 31 Jan 2026 12:00:00 UTC",
            "Sat, 31 Jan 2026 12:00:00 +0000",
            "Tue, 31 Feb 2026 12:00:00 GMT",
            "31 Jan 2026",
            "yesterday",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
