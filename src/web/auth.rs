//! API key authentication for `/v1`: `Authorization: OAuth KEY` (Statuspage's scheme),
//! `Bearer KEY`, or `?api_key=KEY`. Keys are stored as SHA-256 hashes and never logged.

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;

use super::error::ApiError;
use super::AppState;
use crate::domain::account::Actor;
use crate::store::{ApiKeyRow, Store};

/// A new key: `hrld_` and 64 hex digits (256 random bits).
pub fn generate_key() -> String {
    format!("hrld_{}", crate::domain::ids::new_secret())
}

/// What the store keeps of a key. A fast hash is right here: the key is random and
/// long, so there is nothing to guess, and lookup by hash needs a deterministic one.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The authenticated caller of a `/v1` request, and the store that records its
/// changes in the audit log against the key's name.
#[derive(Clone)]
pub struct ApiCaller {
    pub key: ApiKeyRow,
    pub store: Store,
}

fn presented_key(req: &HttpRequest) -> Option<String> {
    if let Some(header) = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let header = header.trim();
        for scheme in ["OAuth ", "Bearer ", "oauth ", "bearer "] {
            if let Some(key) = header.strip_prefix(scheme) {
                return Some(key.trim().to_owned());
            }
        }
    }
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "api_key")
        .map(|(_, v)| v.into_owned())
}

impl FromRequest for ApiCaller {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = presented_key(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("app state missing")))?;
            let Some(key) = key.filter(|k| !k.is_empty()) else {
                return Err(ApiError::Unauthenticated(
                    "send the API key as 'Authorization: OAuth KEY' (create one with 'herald api-key create NAME')",
                )
                .into());
            };
            match state
                .store
                .use_api_key(&hash_key(&key), crate::time::now())
                .await
                .map_err(ApiError::from)?
            {
                Some(key) => {
                    let actor = Actor::ApiKey {
                        name: key.name.clone(),
                    };
                    let store = state.store.acting_as(actor);
                    Ok(ApiCaller { key, store })
                }
                None => Err(ApiError::Unauthenticated("the API key is unknown or revoked").into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hash_stably() {
        let a = generate_key();
        assert!(a.starts_with("hrld_") && a.len() == 69);
        assert_ne!(a, generate_key());
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_ne!(hash_key(&a), a);
    }
}
