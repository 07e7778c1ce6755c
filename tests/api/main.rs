//! Black-box tests: Herald spawned on a random port with its own database, spoken to
//! over HTTP. Every test runs on SQLite and on PostgreSQL.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod console;
mod helpers;

mod auth_and_errors;
mod components;
mod console_auth;
mod console_incidents;
mod console_manage;
mod console_settings;
mod email;
mod incidents;
mod instances;
mod maintenance;
mod postmortems;
mod public_api;
mod site;
mod smtp;
mod store_conformance;
