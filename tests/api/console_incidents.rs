//! Console tests: console_incidents.
