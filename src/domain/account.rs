//! People who sign in to the console, what each role may do, and who a change is
//! recorded against in the audit log.

use std::fmt;

use super::subscriber::SubscriberEmail;
use super::{one_of, DomainError};

/// The shortest password accepted. Length is what makes a password strong; no other
/// composition rules (NIST SP 800-63B).
pub const PASSWORD_MIN: usize = 12;
/// Argon2 takes any length, but a megabyte of "password" is an attack, not a secret.
pub const PASSWORD_MAX: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including users, API keys, page settings, components and groups,
    /// subscribers and the audit log.
    Admin,
    /// What running an incident needs: incidents, postmortems, maintenance and
    /// component status.
    Responder,
}

/// Something the console or the CLI lets a person do. Checked on the server for
/// every request, and used to hide what a role cannot do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Open, update, edit and delete incidents and maintenance; write and publish
    /// postmortems; set a component's status.
    RunIncidents,
    /// Create, rename, describe, group, reorder and remove components and groups.
    EditComponents,
    /// See, remove and export subscribers.
    ManageSubscribers,
    ManageApiKeys,
    ManageUsers,
    EditPageSettings,
    ReadAuditLog,
}

impl Role {
    pub const ALL: [&'static str; 2] = ["admin", "responder"];

    pub fn parse(field: &str, raw: &str) -> Result<Role, DomainError> {
        match raw.trim() {
            "admin" => Ok(Role::Admin),
            "responder" => Ok(Role::Responder),
            other => Err(one_of(field, &Role::ALL, other)),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Responder => "responder",
        }
    }

    pub fn can(self, permission: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Responder => permission == Permission::RunIncidents,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sign-in name: a valid email address, lower-cased so one person has one account.
pub fn parse_user_email(field: &str, raw: &str) -> Result<String, DomainError> {
    Ok(SubscriberEmail::parse(field, raw)?.key())
}

/// A new password: at least [`PASSWORD_MIN`] characters, not only white space.
pub fn check_new_password(field: &str, password: &str) -> Result<(), DomainError> {
    let length = password.chars().count();
    if password.trim().is_empty() || length < PASSWORD_MIN {
        return Err(DomainError::new(
            field,
            format!("must be at least {PASSWORD_MIN} characters long"),
        ));
    }
    if length > PASSWORD_MAX {
        return Err(DomainError::new(
            field,
            format!("is too long (at most {PASSWORD_MAX} characters)"),
        ));
    }
    Ok(())
}

/// Who made a change, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person signed in to the console.
    User { email: String },
    /// A caller of the `/v1` API.
    ApiKey { name: String },
    /// Someone at the command line (the OS user name, when known).
    Cli { user: String },
    /// `content/` files applied at start or by `herald content sync`.
    Content,
    /// Herald itself: the scheduler moving a maintenance, purging stale sign-ups.
    Scheduler,
    /// A visitor of the public site: subscribing, confirming, unsubscribing.
    Public,
}

impl Actor {
    /// The person running the command, from `$USER` (or `cli` when unset).
    pub fn cli() -> Actor {
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "cli".to_owned());
        Actor::Cli { user }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User { .. } => "user",
            Actor::ApiKey { .. } => "api_key",
            Actor::Cli { .. } => "cli",
            Actor::Content => "content",
            Actor::Scheduler => "scheduler",
            Actor::Public => "public",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Actor::User { email } => email,
            Actor::ApiKey { name } => name,
            Actor::Cli { user } => user,
            Actor::Content => "content/",
            Actor::Scheduler => "herald",
            Actor::Public => "visitor",
        }
    }
}

/// What one audit log entry says happened, besides who and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// `noun.verb`, e.g. `incident.create`.
    pub action: &'static str,
    pub target_kind: &'static str,
    pub target_id: String,
    /// One line a reader understands without looking anything up.
    pub summary: String,
}

impl AuditEvent {
    pub fn new(
        action: &'static str,
        target_kind: &'static str,
        target_id: impl Into<String>,
        summary: impl Into<String>,
    ) -> AuditEvent {
        AuditEvent {
            action,
            target_kind,
            target_id: target_id.into(),
            summary: summary.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responders_run_incidents_and_nothing_else() {
        use Permission::*;
        let all = [
            RunIncidents,
            EditComponents,
            ManageSubscribers,
            ManageApiKeys,
            ManageUsers,
            EditPageSettings,
            ReadAuditLog,
        ];
        for p in all {
            assert!(Role::Admin.can(p));
            assert_eq!(Role::Responder.can(p), p == RunIncidents, "{p:?}");
        }
    }

    #[test]
    fn roles_parse_and_name_the_allowed_values() {
        assert_eq!(Role::parse("role", " admin ").unwrap(), Role::Admin);
        assert_eq!(Role::parse("role", "responder").unwrap(), Role::Responder);
        let err = Role::parse("role", "owner").unwrap_err();
        assert_eq!(err.field, "role");
        assert!(err.message.contains("admin, responder"), "{}", err.message);
    }

    #[test]
    fn user_emails_are_lower_cased_and_checked() {
        assert_eq!(
            parse_user_email("email", " Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        assert!(parse_user_email("email", "not an address").is_err());
    }

    #[test]
    fn passwords_need_length_not_tricks() {
        assert!(check_new_password("password", "short").is_err());
        assert!(check_new_password("password", &" ".repeat(20)).is_err());
        assert!(check_new_password("password", "correct horse battery").is_ok());
        assert!(check_new_password("password", &"x".repeat(PASSWORD_MAX + 1)).is_err());
    }
}
