//! Console passwords: argon2id with the argon2 crate's defaults (19 MiB, 2 passes,
//! one lane: OWASP's recommended minimum), stored as PHC strings that carry their own
//! salt and parameters, so the parameters can be raised later without a migration.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Hashes a new password with a fresh random salt.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Whether `password` matches `stored`. A stored value that is not a PHC string
/// matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time a real verification would, for sign-ins naming no account: the
/// answer (and how long it takes) must not tell whether an account exists.
pub fn verify_against_nothing(password: &str) {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    if let Some(dummy) = DUMMY.get_or_init(|| hash("no account has this password").ok()) {
        verify(password, dummy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery staple").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert!(verify("correct horse battery staple", &a));
        assert!(!verify("correct horse battery stapler", &a));
        assert_ne!(a, hash("correct horse battery staple").unwrap());
        assert!(!verify("anything", "not a hash"));
    }
}
