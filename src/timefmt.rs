//! Timestamps on the wire: RFC 3339 input to HTTP dates (IMF-fixdate) or ISO 8601 UTC, and
//! HTTP dates in replies back to ISO 8601. Pure.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

/// Parses RFC 3339 (`2026-01-31T12:00:00Z`, `...+02:00`, fractional seconds allowed) to Unix seconds.
// Date arithmetic names its fields by their usual single letters (y, m, d, h, s).
#[allow(clippy::many_single_char_names)]
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if !s.is_ascii() {
        return None; // also keeps the byte slicing below on character boundaries
    }
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[must_use]
pub fn to_http_date(rfc3339: &str) -> Option<String> {
    DateTime::from_secs(parse_rfc3339(rfc3339)?)
        .fmt(Format::HttpDate)
        .ok()
}

#[must_use]
pub fn to_iso8601(rfc3339: &str) -> Option<String> {
    DateTime::from_secs(parse_rfc3339(rfc3339)?)
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
    }
}
