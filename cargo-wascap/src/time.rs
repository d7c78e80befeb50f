//! Durations on the command line and times in words.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Error;

/// Parses a duration such as `30s`, `10m`, `2h`, `90d` or `1h 30m`.
pub fn parse_duration(input: &str) -> Result<Duration, Error> {
    humantime::parse_duration(input.trim()).map_err(|e| Error::InvalidDuration {
        input: input.to_string(),
        reason: e.to_string().to_lowercase(),
    })
}

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A time relative to `now` in words: `in 3 days`, `2 hours ago`, `just now`.
pub fn relative(now: u64, at: u64) -> String {
    let (diff, future) = if at >= now {
        (at - now, true)
    } else {
        (now - at, false)
    };
    const UNITS: [(u64, &str); 5] = [
        (365 * 86_400, "year"),
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let Some((size, unit)) = UNITS.into_iter().find(|(size, _)| diff >= *size) else {
        return "just now".to_string();
    };
    let n = diff / size;
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// A Unix time as RFC 3339 (`2026-11-24T10:00:00Z`).
pub fn rfc3339(at: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(at)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_documented_forms() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(
            parse_duration("90d").unwrap(),
            Duration::from_secs(90 * 86_400)
        );
        let err = parse_duration("soon").unwrap_err().to_string();
        assert!(err.contains("examples: 30s"), "{err}");
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(1000, 1000), "just now");
        assert_eq!(relative(1000, 1001), "in 1 second");
        assert_eq!(relative(0, 3 * 86_400 + 5), "in 3 days");
        assert_eq!(relative(7_300, 100), "2 hours ago");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
