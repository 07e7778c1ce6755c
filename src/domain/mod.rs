//! Plain types and rules. Nothing in here does I/O: every function takes what it needs
//! as arguments and returns a value or a [`DomainError`], so all of it is unit-testable.

pub mod account;
pub mod component;
pub mod ids;
pub mod incident;
pub mod maintenance;
pub mod postmortem;
pub mod rollup;
pub mod subscriber;
pub mod text;
pub mod uptime;

pub use component::ComponentStatus;
pub use incident::{Impact, IncidentKind, IncidentStatus};

/// A rule was broken by input. `field` names the input the way the caller wrote it
/// (`incident[status]`), so the message can be shown next to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {message}")]
pub struct DomainError {
    pub field: String,
    pub message: String,
}

impl DomainError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Builds the "must be one of a, b, c (got \"x\")" message used by every enum parser.
pub(crate) fn one_of(field: &str, allowed: &[&str], got: &str) -> DomainError {
    DomainError::new(
        field,
        format!("must be one of {} (got {:?})", allowed.join(", "), got),
    )
}
