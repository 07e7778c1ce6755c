//! Uptime from the component status log: per day, the worst status and the time spent
//! in each outage; over the window, a time-weighted percentage. A major outage counts
//! fully, a partial outage 30%, degraded performance and maintenance not at all.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::ComponentStatus;
use crate::time::PageZone;

/// Weight of a status in the uptime percentage.
fn downtime_weight(status: ComponentStatus) -> f64 {
    match status {
        ComponentStatus::MajorOutage => 1.0,
        ComponentStatus::PartialOutage => 0.3,
        _ => 0.0,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    /// `None` when the day is not counted (before the component's start, or no data).
    pub worst: Option<ComponentStatus>,
    pub major_outage: Duration,
    pub partial_outage: Duration,
    pub degraded: Duration,
    pub maintenance: Duration,
}

impl Day {
    pub fn outage(&self) -> Duration {
        self.major_outage + self.partial_outage
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Uptime {
    /// Oldest first.
    pub days: Vec<Day>,
    /// `None` when no day in the window is counted.
    pub percent: Option<f64>,
}

/// What the log says about one component.
pub struct History<'a> {
    /// The status when the window opens; `None` if the component did not exist yet.
    pub status_at_start: Option<ComponentStatus>,
    /// Changes inside the window, oldest first.
    pub changes: &'a [(DateTime<Utc>, ComponentStatus)],
    /// Days before this date are not counted (the component's `start_date`).
    pub counted_from: Option<NaiveDate>,
}

/// The last `days` days up to and including `today` (in `zone`), measured until `now`.
pub fn uptime(
    history: &History<'_>,
    days: u32,
    today: NaiveDate,
    zone: PageZone,
    now: DateTime<Utc>,
) -> Uptime {
    let first_day = today - Duration::days(i64::from(days) - 1);
    let mut status = history.status_at_start;
    let mut changes = history.changes.iter().peekable();
    let mut out = Vec::with_capacity(days as usize);
    let (mut weighted_down, mut counted) = (0.0_f64, 0.0_f64);

    for offset in 0..days {
        let date = first_day + Duration::days(i64::from(offset));
        let start = zone.start_of_day(date);
        let end = zone.start_of_day(date + Duration::days(1)).min(now);
        let mut day = Day {
            date,
            worst: None,
            major_outage: Duration::zero(),
            partial_outage: Duration::zero(),
            degraded: Duration::zero(),
            maintenance: Duration::zero(),
        };
        let is_counted = history.counted_from.is_none_or(|from| date >= from);
        // Walk the day's intervals: [cursor, next change or end of day).
        let mut cursor = start;
        loop {
            let next = changes.peek().map(|(at, _)| *at).filter(|at| *at < end);
            let until = next.unwrap_or(end).max(cursor);
            if let Some(s) = status {
                let span = until - cursor;
                if span > Duration::zero() || next.is_some() {
                    day.worst = day.worst.max(Some(s));
                }
                match s {
                    ComponentStatus::MajorOutage => day.major_outage += span,
                    ComponentStatus::PartialOutage => day.partial_outage += span,
                    ComponentStatus::DegradedPerformance => day.degraded += span,
                    ComponentStatus::UnderMaintenance => day.maintenance += span,
                    ComponentStatus::Operational => {}
                }
                if is_counted && span > Duration::zero() {
                    let secs = span.num_milliseconds() as f64 / 1000.0;
                    counted += secs;
                    weighted_down += secs * downtime_weight(s);
                }
            }
            match next {
                Some(_) => {
                    if let Some((_, new)) = changes.next() {
                        status = Some(*new);
                        day.worst = day.worst.max(Some(*new));
                    }
                    cursor = until;
                }
                None => break,
            }
        }
        if !is_counted || start >= now {
            day.worst = None;
        }
        out.push(day);
    }
    let percent = (counted > 0.0).then(|| 100.0 * (1.0 - weighted_down / counted));
    Uptime { days: out, percent }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn all_operational_is_a_hundred_percent() {
        let h = History {
            status_at_start: Some(Operational),
            changes: &[],
            counted_from: None,
        };
        let u = uptime(
            &h,
            90,
            d("2025-11-20"),
            PageZone::utc(),
            t("2025-11-20T12:00:00Z"),
        );
        assert_eq!(u.days.len(), 90);
        assert_eq!(u.days[0].date, d("2025-08-23"));
        assert_eq!(u.percent, Some(100.0));
        assert!(u.days.iter().all(|day| day.worst == Some(Operational)));
    }

    #[test]
    fn outages_are_weighted_and_attributed_to_their_days() {
        let changes = [
            (t("2025-11-19T10:00:00Z"), MajorOutage),
            (t("2025-11-19T11:00:00Z"), PartialOutage),
            (t("2025-11-19T13:00:00Z"), DegradedPerformance),
            (t("2025-11-19T14:00:00Z"), Operational),
        ];
        let h = History {
            status_at_start: Some(Operational),
            changes: &changes,
            counted_from: None,
        };
        let now = t("2025-11-21T00:00:00Z");
        let u = uptime(&h, 2, d("2025-11-20"), PageZone::utc(), now);
        let day = &u.days[0];
        assert_eq!(day.date, d("2025-11-19"));
        assert_eq!(day.worst, Some(MajorOutage));
        assert_eq!(day.major_outage, Duration::hours(1));
        assert_eq!(day.partial_outage, Duration::hours(2));
        assert_eq!(day.degraded, Duration::hours(1));
        assert_eq!(day.outage(), Duration::hours(3));
        assert_eq!(u.days[1].worst, Some(Operational));
        // 1h full + 2h at 30% = 1.6h down out of 48h.
        let expected = 100.0 * (1.0 - 1.6 / 48.0);
        assert!(
            (u.percent.unwrap() - expected).abs() < 1e-9,
            "{:?}",
            u.percent
        );
    }

    #[test]
    fn an_outage_spanning_midnight_counts_on_both_days() {
        let changes = [
            (t("2025-11-19T23:00:00Z"), MajorOutage),
            (t("2025-11-20T01:00:00Z"), Operational),
        ];
        let h = History {
            status_at_start: Some(Operational),
            changes: &changes,
            counted_from: None,
        };
        let u = uptime(
            &h,
            2,
            d("2025-11-20"),
            PageZone::utc(),
            t("2025-11-20T12:00:00Z"),
        );
        assert_eq!(u.days[0].major_outage, Duration::hours(1));
        assert_eq!(u.days[1].major_outage, Duration::hours(1));
        assert_eq!(u.days[1].worst, Some(MajorOutage));
    }

    #[test]
    fn days_before_start_date_or_creation_are_not_counted() {
        let changes = [(t("2025-11-19T00:00:00Z"), MajorOutage)];
        let h = History {
            status_at_start: None,
            changes: &changes,
            counted_from: Some(d("2025-11-20")),
        };
        let u = uptime(
            &h,
            3,
            d("2025-11-20"),
            PageZone::utc(),
            t("2025-11-20T06:00:00Z"),
        );
        assert_eq!(u.days[0].worst, None, "no data before creation");
        assert_eq!(u.days[1].worst, None, "before start_date");
        assert_eq!(u.days[2].worst, Some(MajorOutage));
        assert_eq!(u.percent, Some(0.0), "only the counted 6 hours, all down");
    }

    #[test]
    fn a_brief_blip_still_colours_the_day() {
        let at = t("2025-11-20T10:00:00Z");
        let changes = [(at, MajorOutage), (at, Operational)];
        let h = History {
            status_at_start: Some(Operational),
            changes: &changes,
            counted_from: None,
        };
        let u = uptime(
            &h,
            1,
            d("2025-11-20"),
            PageZone::utc(),
            t("2025-11-20T12:00:00Z"),
        );
        assert_eq!(u.days[0].worst, Some(MajorOutage));
        assert_eq!(u.percent, Some(100.0));
    }

    #[test]
    fn days_follow_the_page_time_zone() {
        let zone = PageZone::parse("America/New_York").unwrap();
        // 03:00 UTC on the 20th is still the 19th in New York.
        let changes = [
            (t("2025-11-20T03:00:00Z"), MajorOutage),
            (t("2025-11-20T04:00:00Z"), Operational),
        ];
        let h = History {
            status_at_start: Some(Operational),
            changes: &changes,
            counted_from: None,
        };
        let u = uptime(&h, 2, d("2025-11-20"), zone, t("2025-11-20T20:00:00Z"));
        assert_eq!(u.days[0].date, d("2025-11-19"));
        assert_eq!(u.days[0].major_outage, Duration::hours(1));
        assert_eq!(u.days[1].major_outage, Duration::zero());
    }
}
