//! Bounded text fields: names and bodies with the limits Statuspage enforces.

use super::DomainError;

pub const NAME_MAX: usize = 255;
pub const BODY_MAX: usize = 25_000;
pub const DESCRIPTION_MAX: usize = 2_000;

/// A required single-line name: trimmed, not blank, at most 255 characters.
pub fn parse_name(field: &str, raw: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(DomainError::new(field, "can't be blank"));
    }
    if name.chars().count() > NAME_MAX {
        return Err(DomainError::new(
            field,
            format!("is too long (at most {NAME_MAX} characters)"),
        ));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(DomainError::new(field, "must be a single line of text"));
    }
    Ok(name.to_owned())
}

/// Free text of at most `max` characters; may be empty. Trailing white space is dropped.
pub fn parse_body(field: &str, raw: &str, max: usize) -> Result<String, DomainError> {
    let body = raw.trim_end();
    if body.chars().count() > max {
        return Err(DomainError::new(
            field,
            format!("is too long (at most {max} characters)"),
        ));
    }
    Ok(body.to_owned())
}

/// Optional description: blank becomes `None` (the API shows `null`, never `""`).
pub fn parse_description(field: &str, raw: &str) -> Result<Option<String>, DomainError> {
    let text = parse_body(field, raw.trim(), DESCRIPTION_MAX)?;
    Ok(if text.is_empty() { None } else { Some(text) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("n", "  API  ").unwrap(), "API");
        assert!(parse_name("n", "   ").is_err());
        assert!(parse_name("n", &"x".repeat(256)).is_err());
        assert!(parse_name("n", &"é".repeat(255)).is_ok());
        assert!(parse_name("n", "a\nb").is_err());
    }

    #[test]
    fn bodies_are_bounded_in_characters() {
        assert!(parse_body("b", &"x".repeat(BODY_MAX), BODY_MAX).is_ok());
        let err = parse_body("b", &"x".repeat(BODY_MAX + 1), BODY_MAX).unwrap_err();
        assert_eq!(err.field, "b");
        assert!(err.message.contains("25000"));
    }

    #[test]
    fn blank_description_is_none() {
        assert_eq!(parse_description("d", "  ").unwrap(), None);
        assert_eq!(parse_description("d", " x ").unwrap(), Some("x".into()));
    }
}
