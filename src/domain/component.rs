//! Component status and its ordering by severity.

use super::{one_of, DomainError};

/// Declared from least to most severe, so `Ord` means "worse than".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 5] = [
        Self::Operational,
        Self::DegradedPerformance,
        Self::PartialOutage,
        Self::MajorOutage,
        Self::UnderMaintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::DegradedPerformance => "degraded_performance",
            Self::PartialOutage => "partial_outage",
            Self::MajorOutage => "major_outage",
            Self::UnderMaintenance => "under_maintenance",
        }
    }

    /// Words for people, as Statuspage shows them.
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::DegradedPerformance => "Degraded Performance",
            Self::PartialOutage => "Partial Outage",
            Self::MajorOutage => "Major Outage",
            Self::UnderMaintenance => "Under Maintenance",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| one_of(field, &Self::ALL.map(Self::as_str), raw))
    }

    /// Reading back what the store wrote; an unknown value means a corrupted row.
    pub fn from_db(raw: &str) -> Self {
        Self::parse("status", raw).unwrap_or(Self::Operational)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_every_status() {
        for s in ComponentStatus::ALL {
            assert_eq!(ComponentStatus::parse("s", s.as_str()).unwrap(), s);
        }
    }

    #[test]
    fn unknown_status_names_field_and_allowed_values() {
        let err = ComponentStatus::parse("component[status]", "down").unwrap_err();
        assert_eq!(err.field, "component[status]");
        assert!(err.message.contains("major_outage"), "{}", err.message);
        assert!(err.message.contains("\"down\""));
    }

    #[test]
    fn severity_order() {
        use ComponentStatus::*;
        assert!(MajorOutage > PartialOutage);
        assert!(PartialOutage > DegradedPerformance);
        assert!(DegradedPerformance > UnderMaintenance);
        assert!(UnderMaintenance > Operational);
    }
}
