//! Time in one place: the clock (millisecond precision, UTC), the wire format of
//! timestamps in the page's zone, and lenient parsing of times people type.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;

/// Now, truncated to milliseconds: what we store is exactly what we show, on both
/// databases (PostgreSQL keeps microseconds, SQLite keeps what it is given).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// When a change happens. `Clock` is read by the store once it holds the write lock,
/// so the times of changes follow the order in which they commit; `At` places a change
/// at a given time (imports, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    Clock,
    At(DateTime<Utc>),
}

impl Stamp {
    pub fn resolve(self) -> DateTime<Utc> {
        match self {
            Stamp::Clock => now(),
            Stamp::At(at) => at,
        }
    }
}

impl From<DateTime<Utc>> for Stamp {
    fn from(at: DateTime<Utc>) -> Self {
        Stamp::At(at)
    }
}

/// A page's time zone, parsed from its IANA name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageZone(Tz);

impl PageZone {
    pub fn parse(name: &str) -> Option<Self> {
        name.parse::<Tz>().ok().map(Self)
    }

    pub fn utc() -> Self {
        Self(Tz::Etc__UTC)
    }

    /// A zone a person typed into `field`, with a message naming what is allowed.
    pub fn parse_field(field: &str, raw: &str) -> Result<Self, crate::domain::DomainError> {
        Self::parse(raw.trim()).ok_or_else(|| {
            crate::domain::DomainError::new(
                field,
                format!(
                    "must be an IANA time zone name such as Etc/UTC or Europe/Berlin (got {:?})",
                    raw.trim()
                ),
            )
        })
    }

    pub fn tz(self) -> Tz {
        self.0
    }

    fn is_utc(self) -> bool {
        matches!(
            self.0,
            Tz::UTC
                | Tz::Etc__UTC
                | Tz::Etc__UCT
                | Tz::Etc__Universal
                | Tz::Etc__Zulu
                | Tz::UCT
                | Tz::Universal
                | Tz::Zulu
                | Tz::Etc__GMT
        )
    }

    /// Rails-style ISO 8601 with milliseconds: `2025-11-20T14:32:10.512Z` on a UTC page,
    /// `2019-06-24T05:25:57.666-07:00` elsewhere (§1.5).
    pub fn api_timestamp(self, at: DateTime<Utc>) -> String {
        if self.is_utc() {
            at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
        } else {
            at.with_timezone(&self.0)
                .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                .to_string()
        }
    }

    /// Midnight of `date` in this zone.
    pub fn start_of_day(self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        self.local_to_utc(midnight)
    }

    fn local_to_utc(self, local: NaiveDateTime) -> DateTime<Utc> {
        // A time skipped by a DST change (midnight, in some zones) means the first
        // instant after the gap; gaps are at most a few hours.
        (0..=4)
            .find_map(|hours| {
                self.0
                    .from_local_datetime(&(local + chrono::Duration::hours(hours)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&local))
    }

    /// Parses a time a person or a script sent: RFC 3339 / ISO 8601 with an offset,
    /// or a local time without one (`2024-03-14 09:10`, `2024-03-14T09:10:00`) read in
    /// this zone. `None` when it is none of those.
    pub fn parse_time(self, raw: &str) -> Option<DateTime<Utc>> {
        let raw = raw.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
            return Some(t.with_timezone(&Utc).trunc_subsecs(3));
        }
        for format in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(local) = NaiveDateTime::parse_from_str(raw, format) {
                return Some(self.local_to_utc(local).trunc_subsecs(3));
            }
        }
        None
    }

    /// Parses a backfill date: `YYYY-MM-DD`, `MM/DD/YYYY`, or any time [`parse_time`]
    /// takes. A bare date means midnight in this zone.
    pub fn parse_date_or_time(self, raw: &str) -> Option<DateTime<Utc>> {
        let trimmed = raw.trim();
        for format in ["%Y-%m-%d", "%m/%d/%Y"] {
            if let Ok(date) = NaiveDate::parse_from_str(trimmed, format) {
                return Some(self.start_of_day(date));
            }
        }
        self.parse_time(trimmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn utc_pages_print_z_with_milliseconds() {
        let z = PageZone::parse("Etc/UTC").unwrap();
        assert_eq!(
            z.api_timestamp(at("2025-11-20T14:32:10.512Z")),
            "2025-11-20T14:32:10.512Z"
        );
        assert_eq!(
            z.api_timestamp(at("2025-11-20T14:32:10Z")),
            "2025-11-20T14:32:10.000Z"
        );
    }

    #[test]
    fn other_zones_print_their_offset() {
        let z = PageZone::parse("America/Tijuana").unwrap();
        assert_eq!(
            z.api_timestamp(at("2019-06-24T12:25:57.666Z")),
            "2019-06-24T05:25:57.666-07:00"
        );
    }

    #[test]
    fn parses_offsets_local_times_and_dates() {
        let z = PageZone::parse("Europe/Berlin").unwrap();
        assert_eq!(
            z.parse_time("2025-11-20T13:55:00.000Z"),
            Some(at("2025-11-20T13:55:00Z"))
        );
        assert_eq!(
            z.parse_time("2025-11-20 14:55"),
            Some(at("2025-11-20T13:55:00Z"))
        );
        assert_eq!(
            z.parse_date_or_time("2024-03-14"),
            Some(at("2024-03-13T23:00:00Z"))
        );
        assert_eq!(
            z.parse_date_or_time("03/14/2024"),
            Some(at("2024-03-13T23:00:00Z"))
        );
        assert_eq!(z.parse_time("yesterday"), None);
        assert!(PageZone::parse("Mars/Olympus").is_none());
    }

    #[test]
    fn a_midnight_skipped_by_dst_starts_the_day_after_the_gap() {
        // Santiago moved its clocks from 00:00 to 01:00 on 2024-09-08.
        let z = PageZone::parse("America/Santiago").unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2024, 9, 8).unwrap();
        assert_eq!(z.start_of_day(day), at("2024-09-08T04:00:00Z"));
    }
}
