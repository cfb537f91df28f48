//! Time vocabulary of the document: bounds (`now-24h`, `today`, RFC 3339) and bucket widths,
//! plus the few formatting helpers the answer's `meta` needs. No clock here: relative bounds
//! stay symbolic and are evaluated by PostgreSQL against the transaction's `now()`.

mod calendar;
#[cfg(test)]
mod tests;

use crate::error::{show, Error, Result};
pub use calendar::{format_interval, format_rfc3339_utc, parse_rfc3339};

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
