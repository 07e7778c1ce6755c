//! Console tests: console_auth.
