//! Email subscribers: their addresses, states, and who hears about a change.

use super::DomainError;

/// The longest address SMTP carries (RFC 5321: 254 characters in a path).
pub const EMAIL_MAX: usize = 254;

/// A syntactically valid, single-line email address. Holding one means it cannot
/// inject headers (no CR, LF or other control characters) and fits in SMTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberEmail(String);

impl SubscriberEmail {
    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        let email = raw.trim();
        if email.is_empty() {
            return Err(DomainError::new(field, "can't be blank"));
        }
        if email.chars().any(|c| c.is_control()) {
            return Err(DomainError::new(
                field,
                "must be a single email address on one line",
            ));
        }
        if email.chars().count() > EMAIL_MAX {
            return Err(DomainError::new(
                field,
                format!("is too long (at most {EMAIL_MAX} characters)"),
            ));
        }
        let invalid = || {
            DomainError::new(
                field,
                format!("is not a valid email address (got {email:?})"),
            )
        };
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && label.len() <= 63)
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || !domain_ok || email.contains(char::is_whitespace)
        {
            return Err(invalid());
        }
        // The last word: what lettre will put in an envelope and a header.
        email.parse::<lettre::Address>().map_err(|_| invalid())?;
        Ok(SubscriberEmail(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key that makes one subscriber per address: case does not matter.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriberState {
    /// Signed up, not yet confirmed: hears nothing but the confirmation.
    Unconfirmed,
    Active,
    /// Mail to it kept failing permanently: hears nothing until reactivated.
    Quarantined,
    Unsubscribed,
}

impl SubscriberState {
    pub const ALL: [SubscriberState; 4] = [
        Self::Unconfirmed,
        Self::Active,
        Self::Quarantined,
        Self::Unsubscribed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unconfirmed => "unconfirmed",
            Self::Active => "active",
            Self::Quarantined => "quarantined",
            Self::Unsubscribed => "unsubscribed",
        }
    }

    pub fn from_db(raw: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .unwrap_or(Self::Unsubscribed)
    }
}

/// Permanent failures in a row after which a subscriber is quarantined.
pub const QUARANTINE_AFTER: i64 = 3;

/// What a subscribe request does to the address's current state. The answer the
/// requester sees is the same in every case (no address enumeration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeAction {
    /// A new address, or one that had left: unconfirmed, and a confirmation goes out.
    StartConfirmation,
    /// Already waiting: another confirmation, unless one went out within the hour.
    ResendConfirmation { allowed: bool },
    /// Already subscribed: nothing to send.
    Nothing,
}

pub fn subscribe_action(
    current: Option<SubscriberState>,
    last_confirmation_sent: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> SubscribeAction {
    match current {
        // A quarantined address starts over too: confirming proves the mailbox works.
        None | Some(SubscriberState::Unsubscribed) | Some(SubscriberState::Quarantined) => {
            SubscribeAction::StartConfirmation
        }
        Some(SubscriberState::Unconfirmed) => SubscribeAction::ResendConfirmation {
            allowed: last_confirmation_sent.is_none_or(|at| now - at >= chrono::Duration::hours(1)),
        },
        Some(SubscriberState::Active) => SubscribeAction::Nothing,
    }
}

/// Whether a subscriber hears about a change concerning `changed` components (empty:
/// the whole page, which everyone hears about).
pub fn hears_about(all_components: bool, chosen: &[String], changed: &[String]) -> bool {
    all_components || changed.is_empty() || changed.iter().any(|c| chosen.contains(c))
}

/// Seconds to wait before attempt `attempts + 1` after a temporary failure:
/// exponential from 30 s, capped at an hour, with up to 20% jitter (`jitter` in 0..1).
pub fn retry_delay_secs(attempts: i64, jitter: f64) -> i64 {
    let base = 30_i64
        .saturating_mul(1_i64 << attempts.clamp(0, 7))
        .min(3600);
    base + (base as f64 * 0.2 * jitter.clamp(0.0, 1.0)) as i64
}

/// Attempts after which a temporary failure is given up as permanent.
pub const MAX_ATTEMPTS: i64 = 12;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    #[test]
    fn addresses_are_checked_and_header_injection_refused() {
        assert_eq!(
            SubscriberEmail::parse("e", " Ops@Example.com ")
                .unwrap()
                .as_str(),
            "Ops@Example.com"
        );
        assert_eq!(
            SubscriberEmail::parse("e", "Ops@Example.com")
                .unwrap()
                .key(),
            "ops@example.com"
        );
        for bad in [
            "",
            "nobody",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@b.com\r\nBcc: victim@example.com",
            "a@b.com\nX: y",
            "@b.com",
            "a@.com",
            "a@b..com",
        ] {
            let err = SubscriberEmail::parse("subscriber[email]", bad).unwrap_err();
            assert_eq!(err.field, "subscriber[email]", "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(SubscriberEmail::parse("e", &long)
            .unwrap_err()
            .message
            .contains("too long"));
    }

    #[test]
    fn subscribing_again_never_reveals_or_spams() {
        let now = Utc::now();
        assert_eq!(
            subscribe_action(None, None, now),
            SubscribeAction::StartConfirmation
        );
        assert_eq!(
            subscribe_action(Some(SubscriberState::Unsubscribed), None, now),
            SubscribeAction::StartConfirmation
        );
        assert_eq!(
            subscribe_action(
                Some(SubscriberState::Unconfirmed),
                Some(now - Duration::minutes(10)),
                now
            ),
            SubscribeAction::ResendConfirmation { allowed: false }
        );
        assert_eq!(
            subscribe_action(
                Some(SubscriberState::Unconfirmed),
                Some(now - Duration::minutes(61)),
                now
            ),
            SubscribeAction::ResendConfirmation { allowed: true }
        );
        assert_eq!(
            subscribe_action(Some(SubscriberState::Active), None, now),
            SubscribeAction::Nothing
        );
    }

    #[test]
    fn component_choice_filters_changes() {
        let chosen = vec!["api".to_owned()];
        assert!(hears_about(
            false,
            &chosen,
            &["api".to_owned(), "web".to_owned()]
        ));
        assert!(!hears_about(false, &chosen, &["web".to_owned()]));
        assert!(
            hears_about(false, &chosen, &[]),
            "page-wide news reaches everyone"
        );
        assert!(hears_about(true, &[], &["web".to_owned()]));
    }

    #[test]
    fn retries_back_off_exponentially_with_bounded_jitter() {
        assert_eq!(retry_delay_secs(0, 0.0), 30);
        assert_eq!(retry_delay_secs(1, 0.0), 60);
        assert_eq!(retry_delay_secs(3, 0.0), 240);
        assert_eq!(retry_delay_secs(20, 0.0), 3600);
        assert_eq!(retry_delay_secs(0, 1.0), 36);
        assert!(retry_delay_secs(5, 0.5) > retry_delay_secs(5, 0.0));
    }
}
