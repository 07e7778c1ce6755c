//! The one error type at the HTTP edge. Every 4xx names what was wrong; 5xx bodies
//! stay opaque while the whole cause chain goes to the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::domain::DomainError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed syntax: JSON that does not parse, a body that is not an object.
    #[error("{0}")]
    BadRequest(String),
    #[error("Could not authenticate")]
    Unauthenticated(&'static str),
    #[error("The requested resource could not be found: {0}")]
    NotFound(String),
    /// Well-formed but breaks a rule: names the field and what is allowed.
    #[error("{0}")]
    Invalid(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        ApiError::Invalid(format!("{field} {message}"))
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::Invalid(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what.to_owned()),
            StoreError::Invalid(e) => e.into(),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // Statuspage's clients read `error` (live servers) or `message` (the OpenAPI
        // document): send both.
        let (error, message) = match self {
            ApiError::Unauthenticated(why) => {
                ("Could not authenticate".to_owned(), (*why).to_owned())
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "request failed");
                let text = "Internal server error".to_owned();
                (text.clone(), text)
            }
            other => {
                let text = other.to_string();
                (text.clone(), text)
            }
        };
        HttpResponse::build(self.status_code()).json(json!({ "error": error, "message": message }))
    }
}
