//! Time vocabulary of the document: bounds (`now-24h`, `today`, RFC 3339) and bucket widths,
//! plus the few formatting helpers the answer's `meta` needs. No clock here: relative bounds
//! stay symbolic and are evaluated by PostgreSQL against the transaction's `now()`.

use crate::error::{show, Error, Result};

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const SECONDS_PER_DAY: i64 = 86_400;

/// A relative offset: fixed seconds (`s`, `min`, `h`) or calendar days (`d`, `w`), which follow
/// the session TimeZone across daylight-saving changes like PostgreSQL's `interval '1 day'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    Seconds(i64),
    Days(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    /// Microseconds since the Unix epoch, UTC.
    Absolute(i64),
    /// `now` minus an offset.
    NowMinus(Offset),
    /// Start of the current day in the session TimeZone.
    Today,
    /// Start of the previous day in the session TimeZone.
    Yesterday,
}

impl TimeBound {
    pub fn is_relative(&self) -> bool {
        !matches!(self, TimeBound::Absolute(_))
    }

    /// Canonical text: the same bound always prints the same way.
    pub fn canonical(&self) -> String {
        match *self {
            TimeBound::Absolute(us) => format_rfc3339_utc(us),
            TimeBound::NowMinus(Offset::Seconds(0)) => "now".into(),
            TimeBound::NowMinus(Offset::Seconds(s)) => format!("now-{s}s"),
            TimeBound::NowMinus(Offset::Days(d)) => format!("now-{d}d"),
            TimeBound::Today => "today".into(),
            TimeBound::Yesterday => "yesterday".into(),
        }
    }
}

pub const TIME_BOUND_FORMS: &str =
    "an RFC 3339 timestamp (2026-11-24T10:00:00Z), now, now-<n><unit> with unit s, min, h, d or w, today, yesterday";

pub fn parse_time_bound(path: &str, text: &str) -> Result<TimeBound> {
    let t = text.trim();
    let bad = || {
        Error::invalid(
            path,
            format!("invalid time {}; expected {TIME_BOUND_FORMS}", show(text)),
        )
    };
    match t {
        "now" => return Ok(TimeBound::NowMinus(Offset::Seconds(0))),
        "today" => return Ok(TimeBound::Today),
        "yesterday" => return Ok(TimeBound::Yesterday),
        _ => {}
    }
    if let Some(rest) = t.strip_prefix("now-") {
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let unit = &rest[digits.len()..];
        if digits.is_empty() || digits.len() > 9 {
            return Err(bad());
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        return match unit {
            "s" => Ok(TimeBound::NowMinus(Offset::Seconds(n))),
            "min" => Ok(TimeBound::NowMinus(Offset::Seconds(n * 60))),
            "h" => Ok(TimeBound::NowMinus(Offset::Seconds(n * 3600))),
            "d" => Ok(TimeBound::NowMinus(Offset::Days(n))),
            "w" => Ok(TimeBound::NowMinus(Offset::Days(n * 7))),
            _ => Err(bad()),
        };
    }
    parse_rfc3339(t).map(TimeBound::Absolute).ok_or_else(bad)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (RFC 3339; `t`/space for `T`, `z` for `Z`)
/// into microseconds since the Unix epoch. Fractions beyond microseconds are rejected rather
/// than silently rounded.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() || digits.len() > 6 {
            return None;
        }
        micros = format!("{digits:0<6}").parse().ok()?;
    }
    let offset_seconds = match &s[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let h = num(i + 1..i + 3)?;
            let m = num(i + 4..i + 6)?;
            if h > 23 || m > 59 {
                return None;
            }
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * MICROS_PER_SECOND + micros)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `2026-11-25T09:00:00.123456+00:00`, the form PostgreSQL's `to_jsonb(timestamptz)` uses in UTC.
pub fn format_rfc3339_utc(unix_micros: i64) -> String {
    let secs = unix_micros.div_euclid(MICROS_PER_SECOND);
    let frac = unix_micros.rem_euclid(MICROS_PER_SECOND);
    let (y, mo, d) = civil_from_days(secs.div_euclid(SECONDS_PER_DAY));
    let sod = secs.rem_euclid(SECONDS_PER_DAY);
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if frac != 0 {
        let f = format!("{frac:06}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push_str("+00:00");
    out
}

/// A duration in PostgreSQL's default interval style: `00:05:00`, `1 day 02:00:00`, `7 days`.
pub fn format_interval(micros: i64) -> String {
    let neg = micros < 0;
    let m = micros.unsigned_abs();
    let day_us = (SECONDS_PER_DAY * MICROS_PER_SECOND) as u64;
    let (days, rest) = (m / day_us, m % day_us);
    let secs = rest / 1_000_000;
    let frac = rest % 1_000_000;
    let sign = if neg { "-" } else { "" };
    let mut clock = format!(
        "{sign}{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        clock.push_str(format!(".{frac:06}").trim_end_matches('0'));
    }
    match days {
        0 => clock,
        _ => {
            let unit = if days == 1 { "day" } else { "days" };
            if rest == 0 {
                format!("{sign}{days} {unit}")
            } else {
                format!("{sign}{days} {unit} {clock}")
            }
        }
    }
}

/// Bucket width of `time.granularity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Fixed width in seconds, aligned like `date_bin` from the Unix epoch.
    Fixed(i64),
    /// Calendar buckets in the session TimeZone, like `date_trunc`.
    Day,
    Week,
    Month,
}

pub const GRANULARITY_FORMS: &str =
    "<n> second(s)|minute(s)|hour(s)|day(s)|week(s), or 1 month (e.g. \"15 minutes\", \"1 hour\", \"1 day\", \"1 week\")";

/// Widest fixed bucket: one (leap) year.
pub const MAX_FIXED_SECONDS: i64 = 366 * SECONDS_PER_DAY;

impl Granularity {
    pub fn canonical(&self) -> String {
        match *self {
            Granularity::Fixed(s) => format!("{s} seconds"),
            Granularity::Day => "1 day".into(),
            Granularity::Week => "1 week".into(),
            Granularity::Month => "1 month".into(),
        }
    }

    /// The `date_trunc` field of a calendar width.
    pub fn calendar_field(&self) -> Option<&'static str> {
        match self {
            Granularity::Day => Some("day"),
            Granularity::Week => Some("week"),
            Granularity::Month => Some("month"),
            Granularity::Fixed(_) => None,
        }
    }
}

pub fn parse_granularity(path: &str, text: &str) -> Result<Granularity> {
    let bad = || {
        Error::invalid(
            path,
            format!(
                "invalid granularity {}; expected {GRANULARITY_FORMS}",
                show(text)
            ),
        )
    };
    let t = text.trim().to_ascii_lowercase();
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() || digits.len() > 9 {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(Error::invalid(
            path,
            format!("granularity {} must be positive", show(text)),
        ));
    }
    let unit = t[digits.len()..].trim();
    let seconds_per = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => SECONDS_PER_DAY,
        "w" | "week" | "weeks" => 7 * SECONDS_PER_DAY,
        "mon" | "month" | "months" if n == 1 => return Ok(Granularity::Month),
        "mon" | "month" | "months" => {
            return Err(Error::invalid(
                path,
                format!(
                    "granularity {}: months are calendar buckets and only \"1 month\" is supported",
                    show(text)
                ),
            ))
        }
        _ => return Err(bad()),
    };
    match (n, seconds_per) {
        (1, SECONDS_PER_DAY) => Ok(Granularity::Day),
        (1, s) if s == 7 * SECONDS_PER_DAY => Ok(Granularity::Week),
        _ => {
            let secs = n
                .checked_mul(seconds_per)
                .filter(|s| *s <= MAX_FIXED_SECONDS);
            secs.map(Granularity::Fixed).ok_or_else(|| {
                Error::invalid(
                    path,
                    format!(
                        "granularity {} is wider than the allowed 366 days",
                        show(text)
                    ),
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2000-01-01T00:00:00Z"),
            Some(946_684_800_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-24T11:00:00+01:00"),
            parse_rfc3339("2026-11-24T10:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00.5Z"),
            Some(1_709_164_800_500_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999999Z"), Some(-1));
    }

    #[test]
    fn rfc3339_rejects_malformed() {
        for bad in [
            "2026-11-24",
            "2026-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T10:00:00",
            "2026-11-24T10:00:00.1234567Z",
            "2026-11-24T10:00:00+1:00",
            "2026-11-24T10:00:00Z; DROP TABLE x",
            "２026-11-24T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_round_trips_through_format() {
        for us in [
            0,
            -1,
            1_709_164_800_500_000,
            4_102_444_799_999_999,
            -62_135_596_800_000_000,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339_utc(us)), Some(us));
        }
    }

    #[test]
    fn relative_bounds() {
        assert_eq!(
            parse_time_bound("p", "now-24h").unwrap(),
            TimeBound::NowMinus(Offset::Seconds(86_400))
        );
        assert_eq!(
            parse_time_bound("p", "now-90min").unwrap(),
            TimeBound::NowMinus(Offset::Seconds(5_400))
        );
        assert_eq!(
            parse_time_bound("p", "now-2w").unwrap(),
            TimeBound::NowMinus(Offset::Days(14))
        );
        assert_eq!(
            parse_time_bound("p", "yesterday").unwrap(),
            TimeBound::Yesterday
        );
        let e = parse_time_bound("time.from", "now-5y").unwrap_err();
        assert_eq!(e.path, "time.from");
        assert!(e.message.contains("now-<n><unit>"), "{}", e.message);
        assert!(parse_time_bound("p", "now-").is_err());
        assert!(parse_time_bound("p", "now-9999999999h").is_err());
    }

    #[test]
    fn granularities() {
        assert_eq!(
            parse_granularity("g", "1 hour").unwrap(),
            Granularity::Fixed(3600)
        );
        assert_eq!(
            parse_granularity("g", "15 minutes").unwrap(),
            Granularity::Fixed(900)
        );
        assert_eq!(parse_granularity("g", "1 day").unwrap(), Granularity::Day);
        assert_eq!(
            parse_granularity("g", "2 days").unwrap(),
            Granularity::Fixed(172_800)
        );
        assert_eq!(parse_granularity("g", "1 Week").unwrap(), Granularity::Week);
        assert_eq!(
            parse_granularity("g", "1 month").unwrap(),
            Granularity::Month
        );
        assert!(parse_granularity("g", "3 months").is_err());
        assert!(parse_granularity("g", "0 hours").is_err());
        assert!(parse_granularity("g", "1 fortnight").is_err());
        assert!(parse_granularity("g", "400 days").is_err());
    }

    #[test]
    fn interval_text_matches_postgres_style() {
        assert_eq!(format_interval(0), "00:00:00");
        assert_eq!(format_interval(300 * MICROS_PER_SECOND), "00:05:00");
        assert_eq!(
            format_interval(7 * SECONDS_PER_DAY * MICROS_PER_SECOND),
            "7 days"
        );
        assert_eq!(
            format_interval((SECONDS_PER_DAY + 7200) * MICROS_PER_SECOND),
            "1 day 02:00:00"
        );
        assert_eq!(format_interval(1_500_000), "00:00:01.5");
    }
}
