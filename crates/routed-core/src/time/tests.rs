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
