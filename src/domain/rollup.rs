//! The page's overall status (§1.7 of the Statuspage reference): from the components,
//! raised by the impact of unresolved incidents.

use super::{ComponentStatus, Impact};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Indicator {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Maintenance => "maintenance",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageStatus {
    pub indicator: Indicator,
    pub description: &'static str,
}

const fn status(indicator: Indicator, description: &'static str) -> PageStatus {
    PageStatus {
        indicator,
        description,
    }
}

/// `components`: the statuses of the page's components (group rows excluded).
/// `open_impacts`: the impacts of its unresolved realtime incidents.
pub fn page_status(components: &[ComponentStatus], open_impacts: &[Impact]) -> PageStatus {
    use ComponentStatus::*;
    let from_components = match components {
        [single] => match single {
            Operational => status(Indicator::None, "All Systems Operational"),
            UnderMaintenance => status(Indicator::Maintenance, "Service Under Maintenance"),
            DegradedPerformance => status(Indicator::Minor, "Partially Degraded Service"),
            PartialOutage => status(Indicator::Major, "Partial System Outage"),
            MajorOutage => status(Indicator::Critical, "Major System Outage"),
        },
        _ => {
            let all = |s| !components.is_empty() && components.iter().all(|c| *c == s);
            let any = |s| components.contains(&s);
            if all(MajorOutage) {
                status(Indicator::Critical, "Major System Outage")
            } else if any(MajorOutage) || all(PartialOutage) {
                status(Indicator::Major, "Partial System Outage")
            } else if any(PartialOutage) {
                status(Indicator::Minor, "Minor Service Outage")
            } else if all(DegradedPerformance) {
                status(Indicator::Minor, "Degraded System Service")
            } else if any(DegradedPerformance) {
                status(Indicator::Minor, "Partially Degraded Service")
            } else if any(UnderMaintenance) {
                status(Indicator::Maintenance, "Service Under Maintenance")
            } else {
                status(Indicator::None, "All Systems Operational")
            }
        }
    };
    let from_incidents = open_impacts
        .iter()
        .filter_map(|impact| match impact {
            Impact::Minor => Some(status(Indicator::Minor, "Minor Service Outage")),
            Impact::Major => Some(status(Indicator::Major, "Partial System Outage")),
            Impact::Critical => Some(status(Indicator::Critical, "Major System Outage")),
            Impact::None | Impact::Maintenance => None,
        })
        .max_by_key(|s| s.indicator);
    match from_incidents {
        // An incident only raises the indicator; maintenance counts as below minor.
        Some(raised) if raised.indicator > from_components.indicator => raised,
        _ => from_components,
    }
}

/// A group row's status: the worst of its children (operational when empty).
pub fn group_status(children: impl IntoIterator<Item = ComponentStatus>) -> ComponentStatus {
    children
        .into_iter()
        .max()
        .unwrap_or(ComponentStatus::Operational)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;

    fn roll(components: &[ComponentStatus], impacts: &[Impact]) -> (&'static str, &'static str) {
        let s = page_status(components, impacts);
        (s.indicator.as_str(), s.description)
    }

    #[test]
    fn no_components_is_operational() {
        assert_eq!(roll(&[], &[]), ("none", "All Systems Operational"));
    }

    #[test]
    fn single_component_uses_official_mapping() {
        assert_eq!(
            roll(&[Operational], &[]),
            ("none", "All Systems Operational")
        );
        assert_eq!(
            roll(&[UnderMaintenance], &[]),
            ("maintenance", "Service Under Maintenance")
        );
        assert_eq!(
            roll(&[DegradedPerformance], &[]),
            ("minor", "Partially Degraded Service")
        );
        assert_eq!(
            roll(&[PartialOutage], &[]),
            ("major", "Partial System Outage")
        );
        assert_eq!(
            roll(&[MajorOutage], &[]),
            ("critical", "Major System Outage")
        );
    }

    #[test]
    fn blend_table_first_match_wins() {
        assert_eq!(
            roll(&[MajorOutage, MajorOutage], &[]),
            ("critical", "Major System Outage")
        );
        assert_eq!(
            roll(&[MajorOutage, Operational], &[]),
            ("major", "Partial System Outage")
        );
        assert_eq!(
            roll(&[PartialOutage, PartialOutage], &[]),
            ("major", "Partial System Outage")
        );
        assert_eq!(
            roll(&[PartialOutage, Operational], &[]),
            ("minor", "Minor Service Outage")
        );
        assert_eq!(
            roll(&[DegradedPerformance, DegradedPerformance], &[]),
            ("minor", "Degraded System Service")
        );
        assert_eq!(
            roll(&[DegradedPerformance, Operational], &[]),
            ("minor", "Partially Degraded Service")
        );
        assert_eq!(
            roll(&[UnderMaintenance, Operational], &[]),
            ("maintenance", "Service Under Maintenance")
        );
        assert_eq!(
            roll(&[Operational, Operational], &[]),
            ("none", "All Systems Operational")
        );
    }

    #[test]
    fn open_incidents_raise_but_never_lower() {
        assert_eq!(
            roll(&[Operational, Operational], &[Impact::Major]),
            ("major", "Partial System Outage")
        );
        assert_eq!(
            roll(&[MajorOutage, MajorOutage], &[Impact::Minor]),
            ("critical", "Major System Outage")
        );
        assert_eq!(
            roll(
                &[Operational, Operational],
                &[Impact::Maintenance, Impact::None]
            ),
            ("none", "All Systems Operational")
        );
        assert_eq!(
            roll(&[UnderMaintenance, Operational], &[Impact::Minor]),
            ("minor", "Minor Service Outage")
        );
        assert_eq!(
            roll(&[Operational], &[Impact::Minor, Impact::Critical]),
            ("critical", "Major System Outage")
        );
    }

    #[test]
    fn group_is_worst_child() {
        assert_eq!(
            group_status([Operational, PartialOutage, DegradedPerformance]),
            PartialOutage
        );
        assert_eq!(group_status([]), Operational);
    }
}
