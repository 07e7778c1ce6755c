//! Identifiers in Statuspage's shape: 12 lowercase base36 characters.

use rand::Rng;

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
pub const ID_LEN: usize = 12;

/// A new random id such as `p31zjtct2jer` (62 bits of randomness).
pub fn new_id() -> String {
    let mut rng = rand::thread_rng();
    (0..ID_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A random token no one can guess: 256 bits from the OS, as 64 hex digits.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hex::encode(bytes)
}

/// Whether `s` could be an id we issued. Used to answer 404 early for junk in a path.
pub fn looks_like_id(s: &str) -> bool {
    s.len() == ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_have_statuspage_shape_and_differ() {
        let a = new_id();
        let b = new_id();
        assert!(looks_like_id(&a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn junk_is_not_an_id() {
        assert!(!looks_like_id("P31ZJTCT2JER"));
        assert!(!looks_like_id("p31zjtct2je"));
        assert!(!looks_like_id("p31zjtct2je!"));
    }
}
