//! Scheduled session ends: "sessions of group `night-shift` end at 07:00 and 19:00
//! Europe/Berlin". PURE: `next_end` takes the instant to look after.
//!
//! Local times are resolved in the IANA zone with its daylight-saving rules (chrono-tz):
//! - a time that occurs twice (the autumn fall-back hour) ends sessions at its FIRST occurrence,
//!   the earlier instant, so a shift end never waits an extra hour;
//! - a time that does not occur (the spring-forward gap) ends sessions at the first instant
//!   after the gap, the moment the wall clock jumps past it.

use chrono::{Duration, LocalResult, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use std::fmt;
use std::str::FromStr;

/// Fixed local end times in one time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Sorted, distinct.
    pub times: Vec<NaiveTime>,
    pub tz: Tz,
}

impl FromStr for Schedule {
    type Err = String;

    /// `HH:MM[,HH:MM...] ZONE`, e.g. `07:00,19:00 Europe/Berlin`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (times, tz) = s
            .trim()
            .rsplit_once(' ')
            .ok_or_else(|| format!("'{s}' is not \"HH:MM[,HH:MM...] Zone/Name\""))?;
        let tz: Tz = tz
            .parse()
            .map_err(|_| format!("'{tz}' is not an IANA time zone"))?;
        let mut list = Vec::new();
        for t in times.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let parsed = NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| format!("'{t}' is not a time of day (HH:MM)"))?;
            list.push(parsed);
        }
        if list.is_empty() {
            return Err("a schedule needs at least one time".into());
        }
        if list.len() > 48 {
            return Err("a schedule has at most 48 times".into());
        }
        list.sort();
        list.dedup();
        Ok(Schedule { times: list, tz })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let times: Vec<String> = self
            .times
            .iter()
            .map(|t| t.format("%H:%M").to_string())
            .collect();
        write!(f, "{} {}", times.join(","), self.tz.name())
    }
}

impl serde::Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Schedule {
    /// The first scheduled end strictly after `after` (Unix seconds).
    pub fn next_end(&self, after: i64) -> Option<i64> {
        let local_date = self.tz.timestamp_opt(after, 0).single()?.date_naive();
        // Yesterday covers zones far behind UTC, the day after tomorrow any DST shift.
        let mut best: Option<i64> = None;
        for offset in -1..=2 {
            let date = local_date.checked_add_signed(Duration::days(offset))?;
            for t in &self.times {
                if let Some(at) = self.instant(date, *t) {
                    if at > after && best.is_none_or(|b| at < b) {
                        best = Some(at);
                    }
                }
            }
        }
        best
    }

    /// The instant of a local date and time in the zone, by the rules in the module doc.
    fn instant(&self, date: NaiveDate, t: NaiveTime) -> Option<i64> {
        let wall = date.and_time(t);
        match self.tz.from_local_datetime(&wall) {
            LocalResult::Single(dt) => Some(dt.timestamp()),
            LocalResult::Ambiguous(first, second) => {
                Some(first.timestamp().min(second.timestamp()))
            }
            LocalResult::None => {
                // In a gap: the first wall-clock minute that exists again is the gap's end.
                (1..=24 * 60).find_map(|m| {
                    self.tz
                        .from_local_datetime(&(wall + Duration::minutes(m)))
                        .earliest()
                        .map(|dt| dt.timestamp())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }
    fn show(t: i64) -> String {
        DateTime::<Utc>::from_timestamp(t, 0).unwrap().to_rfc3339()
    }
    fn berlin() -> Schedule {
        "07:00,19:00 Europe/Berlin".parse().unwrap()
    }

    #[test]
    fn parses_and_prints_canonically() {
        let s: Schedule = " 19:00, 07:00,07:00 Europe/Berlin".parse().unwrap();
        assert_eq!(s.to_string(), "07:00,19:00 Europe/Berlin");
        for bad in [
            "",
            "07:00",
            "7 Europe/Berlin",
            "24:00 UTC",
            "07:00 Nowhere/City",
            " UTC",
        ] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn winter_and_summer_shift_ends_in_berlin() {
        // Winter (CET, UTC+1): 07:00 local is 06:00Z.
        assert_eq!(
            show(berlin().next_end(utc("2026-12-01T05:00:00Z")).unwrap()),
            "2026-12-01T06:00:00+00:00"
        );
        // Exactly at the end: the next one, strictly after.
        assert_eq!(
            show(berlin().next_end(utc("2026-12-01T06:00:00Z")).unwrap()),
            "2026-12-01T18:00:00+00:00"
        );
        // After the evening end: tomorrow morning.
        assert_eq!(
            show(berlin().next_end(utc("2026-12-01T20:00:00Z")).unwrap()),
            "2026-12-02T06:00:00+00:00"
        );
        // Summer (CEST, UTC+2): 07:00 local is 05:00Z.
        assert_eq!(
            show(berlin().next_end(utc("2026-07-01T04:00:00Z")).unwrap()),
            "2026-07-01T05:00:00+00:00"
        );
    }

    #[test]
    fn across_the_spring_change() {
        // 2026-03-29: Berlin jumps from 02:00 CET to 03:00 CEST (01:00Z).
        let evening_before = utc("2026-03-28T19:00:00Z");
        assert_eq!(
            show(berlin().next_end(evening_before).unwrap()),
            "2026-03-29T05:00:00+00:00",
            "07:00 on the change day is already summer time"
        );
        // A time inside the gap ends at the gap's end.
        let s: Schedule = "02:30 Europe/Berlin".parse().unwrap();
        assert_eq!(
            show(s.next_end(utc("2026-03-28T12:00:00Z")).unwrap()),
            "2026-03-29T01:00:00+00:00"
        );
        // And the day after it is 02:30 CEST again.
        assert_eq!(
            show(s.next_end(utc("2026-03-29T01:00:00Z")).unwrap()),
            "2026-03-30T00:30:00+00:00"
        );
    }

    #[test]
    fn across_the_autumn_change() {
        // 2026-10-25: Berlin falls back from 03:00 CEST to 02:00 CET (01:00Z).
        assert_eq!(
            show(berlin().next_end(utc("2026-10-24T18:00:00Z")).unwrap()),
            "2026-10-25T06:00:00+00:00",
            "07:00 on the change day is already winter time"
        );
        // 02:30 happens twice: the first occurrence (CEST, 00:30Z) ends sessions.
        let s: Schedule = "02:30 Europe/Berlin".parse().unwrap();
        assert_eq!(
            show(s.next_end(utc("2026-10-24T12:00:00Z")).unwrap()),
            "2026-10-25T00:30:00+00:00"
        );
        // A session started between the two occurrences: next is the following day.
        assert_eq!(
            show(s.next_end(utc("2026-10-25T01:00:00Z")).unwrap()),
            "2026-10-26T01:30:00+00:00"
        );
    }

    #[test]
    fn zones_far_from_utc() {
        let s: Schedule = "23:30 Pacific/Kiritimati".parse().unwrap(); // UTC+14
        assert_eq!(
            show(s.next_end(utc("2026-12-01T00:00:00Z")).unwrap()),
            "2026-12-01T09:30:00+00:00"
        );
        let s: Schedule = "00:15 Pacific/Pago_Pago".parse().unwrap(); // UTC-11
        assert_eq!(
            show(s.next_end(utc("2026-12-01T00:00:00Z")).unwrap()),
            "2026-12-01T11:15:00+00:00"
        );
    }

    #[test]
    fn the_next_end_is_always_after_and_within_a_day() {
        let s = berlin();
        let mut t = utc("2026-01-01T00:00:00Z");
        let end = utc("2027-01-01T00:00:00Z");
        while t < end {
            let n = s.next_end(t).unwrap();
            assert!(n > t && n - t <= 13 * 3600, "{} -> {}", show(t), show(n));
            t += 3 * 3600 + 17 * 60;
        }
    }
}
