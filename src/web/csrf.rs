//! CSRF protection for forms: a double-submit token. The page sets a random token in
//! an `HttpOnly`, `SameSite=Strict` cookie and in a hidden field; a POST is accepted
//! only when both are present and equal. Another site can make a browser send the
//! cookie (not with SameSite=Strict) but can never read it to fill in the field.
//!
//! Over https the cookie is named `__Host-herald_csrf`: browsers then refuse it from
//! any other host, so a sibling subdomain cannot plant a token of its own choosing.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;

/// The cookie's name: with the `__Host-` prefix when it can be `Secure`.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-herald_csrf"
    } else {
        "herald_csrf"
    }
}
pub const FIELD: &str = "csrf";

/// The token to put in a form, and the cookie to set when the request had none.
pub fn token_for(req: &HttpRequest, secure: bool) -> (String, Option<Cookie<'static>>) {
    if let Some(existing) = req
        .cookie(cookie_name(secure))
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 64)
    {
        return (existing, None);
    }
    let token = crate::domain::ids::new_secret();
    let cookie = Cookie::build(cookie_name(secure), token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish();
    (token, Some(cookie))
}

/// Whether a submitted form carries the token of its cookie.
pub fn verify(req: &HttpRequest, submitted: Option<&str>, secure: bool) -> bool {
    match (req.cookie(cookie_name(secure)), submitted) {
        (Some(cookie), Some(field)) => {
            let (a, b) = (cookie.value().as_bytes(), field.as_bytes());
            // Compare without stopping at the first difference.
            a.len() == 64
                && a.len() == b.len()
                && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn a_form_must_match_its_cookie() {
        let fresh = TestRequest::default().to_http_request();
        let (token, cookie) = token_for(&fresh, true);
        let cookie = cookie.unwrap();
        assert!(cookie.http_only().unwrap() && cookie.secure().unwrap());
        assert_eq!(cookie.same_site(), Some(SameSite::Strict));
        let req = TestRequest::default()
            .cookie(cookie.clone())
            .to_http_request();
        assert!(verify(&req, Some(&token), true));
        assert!(!verify(&req, Some(&"0".repeat(64)), true));
        assert!(!verify(&req, None, true));
        assert!(!verify(&fresh, Some(&token), true), "no cookie, no entry");
        let (again, none) = token_for(&req, true);
        assert_eq!(again, token);
        assert!(none.is_none());
        assert_eq!(cookie.name(), "__Host-herald_csrf");
        // Over https, a cookie without the prefix (which a sibling host could set) is
        // not the form's cookie.
        let planted = TestRequest::default()
            .cookie(Cookie::new("herald_csrf", token.clone()))
            .to_http_request();
        assert!(!verify(&planted, Some(&token), true));
        assert!(verify(&planted, Some(&token), false));
    }
}
