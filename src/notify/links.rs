//! Links in mails, signed with the page's HMAC key so nobody can forge one for another
//! subscriber: manage and one-click unsubscribe (stable per subscriber), and
//! confirmation (expiring; single use through the nonce the store clears).

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Confirmation links work this long.
pub const CONFIRMATION_VALID_DAYS: i64 = 7;

#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
    base_url: String,
}

impl LinkSigner {
    pub fn new(key_hex: &str, base_url: &str) -> LinkSigner {
        LinkSigner {
            key: hex::decode(key_hex).unwrap_or_else(|_| key_hex.as_bytes().to_vec()),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    fn mac(&self, message: &str) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(message.as_bytes());
        mac
    }

    fn sign(&self, message: &str) -> String {
        hex::encode(&self.mac(message).finalize().into_bytes()[..20])
    }

    fn verify(&self, message: &str, token: &str) -> bool {
        match hex::decode(token) {
            Ok(bytes) => {
                self.mac(message).verify_truncated_left(&bytes).is_ok() && bytes.len() == 20
            }
            Err(_) => false,
        }
    }

    /// The token of a subscriber's manage and unsubscribe links.
    pub fn manage_token(&self, subscriber_id: &str) -> String {
        self.sign(&format!("manage:{subscriber_id}"))
    }

    pub fn verify_manage(&self, subscriber_id: &str, token: &str) -> bool {
        self.verify(&format!("manage:{subscriber_id}"), token)
    }

    pub fn manage_url(&self, subscriber_id: &str) -> String {
        format!(
            "{}/subscriptions/{subscriber_id}?token={}",
            self.base_url,
            self.manage_token(subscriber_id)
        )
    }

    /// RFC 8058 one-click target: a POST here unsubscribes, no cookie needed.
    pub fn unsubscribe_url(&self, subscriber_id: &str) -> String {
        format!(
            "{}/subscriptions/{subscriber_id}/unsubscribe?token={}",
            self.base_url,
            self.manage_token(subscriber_id)
        )
    }

    fn confirm_message(subscriber_id: &str, nonce: &str, expires: i64) -> String {
        format!("confirm:{subscriber_id}:{nonce}:{expires}")
    }

    pub fn confirm_url(&self, subscriber_id: &str, nonce: &str, sent_at: DateTime<Utc>) -> String {
        let expires = (sent_at + chrono::Duration::days(CONFIRMATION_VALID_DAYS)).timestamp();
        let token = self.sign(&Self::confirm_message(subscriber_id, nonce, expires));
        format!(
            "{}/subscriptions/{subscriber_id}/confirm?nonce={nonce}&expires={expires}&token={token}",
            self.base_url
        )
    }

    /// Whether a confirmation link is genuine and not expired at `now`.
    pub fn verify_confirm(
        &self,
        subscriber_id: &str,
        nonce: &str,
        expires: i64,
        token: &str,
        now: DateTime<Utc>,
    ) -> bool {
        now.timestamp() <= expires
            && self.verify(&Self::confirm_message(subscriber_id, nonce, expires), token)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new(
            "00112233445566778899aabbccddeeff",
            "https://status.example.com/",
        )
    }

    #[test]
    fn manage_tokens_are_per_subscriber() {
        let s = signer();
        let token = s.manage_token("abc");
        assert!(s.verify_manage("abc", &token));
        assert!(!s.verify_manage("abd", &token));
        assert!(!s.verify_manage("abc", "00"));
        assert!(!s.verify_manage("abc", "not hex"));
        let other = LinkSigner::new("ffeeddccbbaa99887766554433221100", "https://x");
        assert!(
            !other.verify_manage("abc", &token),
            "another key refuses it"
        );
        assert_eq!(
            s.manage_url("abc"),
            format!("https://status.example.com/subscriptions/abc?token={token}")
        );
    }

    #[test]
    fn confirmation_links_expire_and_bind_their_nonce() {
        let s = signer();
        let sent = Utc::now();
        let url = s.confirm_url("abc", "n1", sent);
        let query: std::collections::HashMap<String, String> =
            form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        let expires: i64 = query["expires"].parse().unwrap();
        let token = &query["token"];
        assert!(s.verify_confirm("abc", "n1", expires, token, sent));
        assert!(
            !s.verify_confirm("abc", "n2", expires, token, sent),
            "another nonce"
        );
        assert!(
            !s.verify_confirm("abc", "n1", expires + 1, token, sent),
            "a longer life"
        );
        assert!(
            !s.verify_confirm(
                "abc",
                "n1",
                expires,
                token,
                sent + chrono::Duration::days(8)
            ),
            "expired"
        );
    }
}
