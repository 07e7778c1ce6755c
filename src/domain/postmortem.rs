//! Postmortems: the story after an incident, written as a markdown draft and published.

use super::text::parse_body;
use super::{DomainError, IncidentKind, IncidentStatus};

/// The longest postmortem accepted, in characters.
pub const POSTMORTEM_MAX: usize = 100_000;

/// A draft as typed: at most 100,000 characters.
pub fn parse_draft(field: &str, raw: &str) -> Result<String, DomainError> {
    parse_body(field, raw, POSTMORTEM_MAX)
}

/// Whether a postmortem may be published now.
pub fn check_publish(
    kind: IncidentKind,
    status: IncidentStatus,
    draft: Option<&str>,
) -> Result<(), DomainError> {
    if kind != IncidentKind::Realtime {
        return Err(DomainError::new(
            "incident",
            "is a maintenance: postmortems are for incidents",
        ));
    }
    if !matches!(
        status,
        IncidentStatus::Resolved | IncidentStatus::Postmortem
    ) {
        return Err(DomainError::new(
            "incident",
            format!(
                "is {}: resolve it before publishing its postmortem",
                status.as_str()
            ),
        ));
    }
    match draft {
        Some(d) if !d.trim().is_empty() => Ok(()),
        _ => Err(DomainError::new(
            "postmortem[body_draft]",
            "is empty: save a draft (PUT .../postmortem) before publishing",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_needs_a_resolved_incident_and_a_draft() {
        use IncidentStatus::*;
        assert!(check_publish(IncidentKind::Realtime, Resolved, Some("# What happened")).is_ok());
        assert!(
            check_publish(IncidentKind::Realtime, Postmortem, Some("x")).is_ok(),
            "republishing"
        );
        let err = check_publish(IncidentKind::Realtime, Resolved, None).unwrap_err();
        assert_eq!(err.field, "postmortem[body_draft]");
        assert!(check_publish(IncidentKind::Realtime, Resolved, Some("  ")).is_err());
        let err = check_publish(IncidentKind::Realtime, Monitoring, Some("x")).unwrap_err();
        assert!(err.message.contains("resolve"), "{}", err.message);
        assert!(check_publish(IncidentKind::Maintenance, Completed, Some("x")).is_err());
    }

    #[test]
    fn drafts_are_bounded() {
        assert!(parse_draft("d", &"x".repeat(POSTMORTEM_MAX)).is_ok());
        let err =
            parse_draft("postmortem[body_draft]", &"x".repeat(POSTMORTEM_MAX + 1)).unwrap_err();
        assert!(err.message.contains("100000"));
    }
}
