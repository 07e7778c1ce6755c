//! Herald: a self-hosted incident status page and postmortem publisher.
//! See ARCHITECTURE.md for the bird's-eye view.

pub mod config;
pub mod content;
pub mod demo;
pub mod domain;
pub mod notify;
pub mod password;
pub mod render;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod web;
