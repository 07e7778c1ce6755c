//! Scheduled maintenance that moves by itself: `scheduled_auto_in_progress` starts it at
//! `scheduled_for`, `scheduled_auto_completed` completes it at `scheduled_until`, with
//! Statuspage's stock messages, the components put under maintenance and back when
//! asked, and subscribers told when asked.

use chrono::{DateTime, Utc};

use super::{ComponentStatus, IncidentStatus};

/// The flags and window of one maintenance, as stored.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub status: IncidentStatus,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub scheduled_until: Option<DateTime<Utc>>,
    pub auto_in_progress: bool,
    pub auto_completed: bool,
    pub to_maintenance_state: bool,
    pub to_operational_state: bool,
    pub notify_at_start: bool,
    pub notify_at_end: bool,
}

/// A step the clock has made due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub status: IncidentStatus,
    pub body: &'static str,
    /// What the maintenance's components become, if anything.
    pub components: Option<ComponentStatus>,
    pub notify: bool,
}

pub const IN_PROGRESS_BODY: &str =
    "Scheduled maintenance is currently in progress. We will provide updates as necessary.";
pub const COMPLETED_BODY: &str = "The scheduled maintenance has been completed.";

/// The transition due at `now`, if any. A maintenance whose whole window has passed
/// while it was still scheduled completes directly when it would auto-complete.
pub fn due(s: &Schedule, now: DateTime<Utc>) -> Option<Transition> {
    let started = s.scheduled_for.is_some_and(|at| at <= now);
    let ended = s.scheduled_until.is_some_and(|at| at <= now);
    let complete = Transition {
        status: IncidentStatus::Completed,
        body: COMPLETED_BODY,
        components: s
            .to_operational_state
            .then_some(ComponentStatus::Operational),
        notify: s.notify_at_end,
    };
    match s.status {
        IncidentStatus::Scheduled if ended && s.auto_completed => Some(complete),
        IncidentStatus::Scheduled if started && s.auto_in_progress => Some(Transition {
            status: IncidentStatus::InProgress,
            body: IN_PROGRESS_BODY,
            components: s
                .to_maintenance_state
                .then_some(ComponentStatus::UnderMaintenance),
            notify: s.notify_at_start,
        }),
        IncidentStatus::InProgress | IncidentStatus::Verifying if ended && s.auto_completed => {
            Some(complete)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn schedule(status: IncidentStatus) -> Schedule {
        let start = start();
        Schedule {
            status,
            scheduled_for: Some(start),
            scheduled_until: Some(start + Duration::hours(1)),
            auto_in_progress: true,
            auto_completed: true,
            to_maintenance_state: true,
            to_operational_state: true,
            notify_at_start: true,
            notify_at_end: false,
        }
    }

    #[test]
    fn starts_at_its_window_and_completes_at_its_end() {
        let s = schedule(IncidentStatus::Scheduled);
        let start = s.scheduled_for.unwrap();
        assert_eq!(due(&s, start - Duration::seconds(1)), None);
        let t = due(&s, start).unwrap();
        assert_eq!(t.status, IncidentStatus::InProgress);
        assert_eq!(t.components, Some(ComponentStatus::UnderMaintenance));
        assert!(t.notify);
        let running = schedule(IncidentStatus::InProgress);
        assert_eq!(due(&running, start + Duration::minutes(59)), None);
        let t = due(&running, start + Duration::hours(1)).unwrap();
        assert_eq!(
            (t.status, t.components, t.notify),
            (
                IncidentStatus::Completed,
                Some(ComponentStatus::Operational),
                false
            )
        );
        assert_eq!(
            due(
                &schedule(IncidentStatus::Verifying),
                start + Duration::hours(2)
            )
            .unwrap()
            .status,
            IncidentStatus::Completed
        );
    }

    #[test]
    fn flags_off_means_manual() {
        let mut s = schedule(IncidentStatus::Scheduled);
        s.auto_in_progress = false;
        s.auto_completed = false;
        assert_eq!(due(&s, start() + Duration::days(1)), None);
        s.to_maintenance_state = false;
        s.auto_in_progress = true;
        assert_eq!(
            due(&s, start() + Duration::minutes(1)).unwrap().components,
            None
        );
        assert_eq!(
            due(
                &schedule(IncidentStatus::Completed),
                start() + Duration::days(1)
            ),
            None
        );
    }

    #[test]
    fn a_missed_window_completes_directly() {
        let s = schedule(IncidentStatus::Scheduled);
        let t = due(&s, s.scheduled_until.unwrap() + Duration::minutes(5)).unwrap();
        assert_eq!(t.status, IncidentStatus::Completed);
    }
}
