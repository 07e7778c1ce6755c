//! Console tests: console_manage.
