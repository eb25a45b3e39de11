//! UTC timestamps and calendar dates, without a time-zone database: Bedrock logs carry ISO-8601 UTC
//! timestamps with second precision (`2025-03-11T00:38:02Z`); reports and partitions are by UTC day.

use std::fmt;

/// Seconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A UTC calendar day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    Date {
        year: (y + i64::from(m <= 2)) as i32,
        month: m,
        day: d,
    }
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |a, &c| a * 10 + u32::from(c - b'0')))
}

/// The seconds into the day of an ISO 8601 timestamp's `HH:MM:SS` (bytes 11..19 of `b`, which must hold
/// 19 bytes), with [`Timestamp::parse_iso8601`]'s range checks (a leap second 60 allowed).
pub(crate) fn seconds_of_day(b: &[u8]) -> Option<i64> {
    let (h, m, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(sec))
}

impl Date {
    /// A valid calendar date, or `None`.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Date::new(
            digits(&b[0..4])? as i32,
            digits(&b[5..7])? as u8,
            digits(&b[8..10])? as u8,
        )
    }

    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// Midnight UTC at the start of this day.
    pub fn start(self) -> Timestamp {
        Timestamp(self.days_since_epoch() * 86_400)
    }

    pub fn succ(self) -> Date {
        civil_from_days(self.days_since_epoch() + 1)
    }

    pub fn pred(self) -> Date {
        civil_from_days(self.days_since_epoch() - 1)
    }

    pub fn contains(self, t: Timestamp) -> bool {
        t.date() == self
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Milliseconds since the Unix epoch, from the system clock. Only the shells (Lambdas, CLI) read the
/// clock; the core is always given the time.
/// A Lambda invocation's deadline (wall clock, from its context) as an [`std::time::Instant`], or
/// `None` when it is not in the future at `now`: Lambda never hands out an invocation past its
/// deadline, but a local runtime emulator may send something else (`cargo lambda watch` sends the
/// timeout itself, 600000 ms, which reads as a date in 1970), and a guard built on it would stop every
/// batch at once.
pub fn deadline_instant(
    deadline: std::time::SystemTime,
    now: std::time::SystemTime,
    now_instant: std::time::Instant,
) -> Option<std::time::Instant> {
    match deadline.duration_since(now) {
        Ok(left) if !left.is_zero() => Some(now_instant + left),
        _ => None,
    }
}

/// When to stop work that must leave `reserve` before `deadline` (the Lambda invocation's) for its
/// last word (a failure pointer, a failure alert). The reserve is at most a quarter of the time left
/// at `now`, so a short timeout (a local runtime emulator's 3 s default, a small configured timeout)
/// still leaves most of it to the work instead of stopping it at once.
pub fn stop_before(
    deadline: std::time::Instant,
    reserve: std::time::Duration,
    now: std::time::Instant,
) -> std::time::Instant {
    let left = deadline.saturating_duration_since(now);
    deadline - reserve.min(left / 4)
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Timestamp {
    /// Now, from the system clock (see [`now_millis`]).
    pub fn now() -> Timestamp {
        Timestamp::from_millis(now_millis())
    }

    /// ISO-8601 as Bedrock writes it: `YYYY-MM-DDTHH:MM:SS` with optional fraction, then `Z` or `±HH:MM`
    /// (also accepts a space for `T`). Fractions are truncated to the second.
    pub fn parse_iso8601(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() < 19
            || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let date = Date::parse(s.get(0..10)?)?;
        let time = seconds_of_day(b)?;
        let mut rest = &b[19..];
        if let Some(r) = rest.strip_prefix(b".") {
            let n = r.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            rest = &r[n..];
        }
        let offset: i64 = match rest {
            b"Z" | b"z" => 0,
            [sign @ (b'+' | b'-'), hh @ ..] if hh.len() == 5 && hh[2] == b':' => {
                let o = i64::from(digits(&hh[0..2])?) * 3600 + i64::from(digits(&hh[3..5])?) * 60;
                if *sign == b'+' {
                    o
                } else {
                    -o
                }
            }
            _ => return None,
        };
        Some(Timestamp(date.days_since_epoch() * 86_400 + time - offset))
    }

    pub fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms.div_euclid(1000))
    }

    pub fn date(self) -> Date {
        civil_from_days(self.0.div_euclid(86_400))
    }

    /// The start of this timestamp's minute.
    pub fn minute(self) -> Timestamp {
        Timestamp(self.0 - self.0.rem_euclid(60))
    }

    pub fn hour_of_day(self) -> u8 {
        (self.0.rem_euclid(86_400) / 3600) as u8
    }
}

impl fmt::Display for Timestamp {
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.rem_euclid(86_400);
        write!(
            f,
            "{}T{:02}:{:02}:{:02}Z",
            self.date(),
            s / 3600,
            (s / 60) % 60,
            s % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_centuries() {
        for z in (-800_000..800_000).step_by(97) {
            let d = civil_from_days(z);
            assert_eq!(days_from_civil(d.year, d.month, d.day), z, "{d}");
        }
    }

    #[test]
    fn parses_bedrock_timestamps() {
        let t = Timestamp::parse_iso8601("2025-03-11T00:38:02Z").unwrap();
        assert_eq!(t.0, 1_741_653_482);
        assert_eq!(t.to_string(), "2025-03-11T00:38:02Z");
        assert_eq!(
            Timestamp::parse_iso8601("2025-03-11T00:38:02.123Z"),
            Some(t)
        );
        assert_eq!(
            Timestamp::parse_iso8601("2025-03-11T02:38:02+02:00"),
            Some(t)
        );
        assert_eq!(
            Timestamp::parse_iso8601("2025-03-10T23:38:02-01:00"),
            Some(t)
        );
    }

    #[test]
    fn rejects_bad_timestamps() {
        for s in [
            "xxxxxxxxxxxx",
            "",
            "2025-03-11",
            "2025-02-30T00:00:00Z",
            "2025-03-11T24:00:00Z",
            "2025-03-11T00:38:02",
            "2025-03-11T00:38:02.Z",
            "2025-13-01T00:00:00Z",
            "２０２５-03-11T00:38:02Z",
        ] {
            assert_eq!(Timestamp::parse_iso8601(s), None, "{s}");
        }
    }

    #[test]
    fn dates() {
        let d = Date::parse("2024-02-29").unwrap();
        assert_eq!(d.succ().to_string(), "2024-03-01");
        assert_eq!(d.pred().to_string(), "2024-02-28");
        assert!(Date::parse("2023-02-29").is_none());
        assert!(Date::parse("2023-2-28").is_none());
        let t = Timestamp::parse_iso8601("2024-02-29T23:59:59Z").unwrap();
        assert!(d.contains(t));
        assert!(!d.succ().contains(t));
        assert_eq!(d.start().to_string(), "2024-02-29T00:00:00Z");
        assert_eq!(t.minute().to_string(), "2024-02-29T23:59:00Z");
        assert_eq!(t.hour_of_day(), 23);
    }
    #[test]
    fn the_reserve_is_kept_but_never_more_than_a_quarter_of_the_time_left() {
        use std::time::{Duration, Instant};
        let now = Instant::now();
        let s = Duration::from_secs;
        // A 60 s timeout keeps the whole 5 s reserve.
        assert_eq!(stop_before(now + s(60), s(5), now), now + s(55));
        // A 3 s timeout (cargo lambda's default) keeps 0.75 s, not 5 s (which would stop at once).
        assert_eq!(
            stop_before(now + s(3), s(5), now),
            now + Duration::from_millis(2250)
        );
        // A deadline already past stops at once.
        assert!(stop_before(now, s(5), now + s(1)) <= now + s(1));
    }
    #[test]
    fn a_deadline_not_in_the_future_is_no_deadline() {
        use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
        let (now, at) = (SystemTime::now(), Instant::now());
        let s = Duration::from_secs;
        assert_eq!(deadline_instant(now + s(60), now, at), Some(at + s(60)));
        assert_eq!(deadline_instant(now, now, at), None);
        // cargo lambda watch's relative 600000 ms, read as epoch milliseconds.
        assert_eq!(
            deadline_instant(UNIX_EPOCH + Duration::from_millis(600_000), now, at),
            None
        );
    }
}
