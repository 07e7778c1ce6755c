//! Settings: compiled defaults < `herald.toml` < `HERALD_*` environment variables.
//!
//! Hand-written rather than through a configuration crate: the settings are a flat
//! list, and this way each one's name, default and meaning sit in one table below
//! (mirrored in the README).

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Address the web server listens on.
    pub bind: String,
    /// Where the SQLite database (and later the outbox) live.
    pub data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://...`; default a SQLite file in the data dir.
    pub database_url: String,
    /// Public URL of the status page, used in links. Default: site.toml's `url`, else
    /// `http://BIND`.
    pub base_url: Option<String>,
    /// Folder with `site.toml` (and later postmortems).
    pub content_dir: PathBuf,
    /// `pretty` or `json`.
    pub log_format: String,
    /// SMTP server for notifications; `None` writes `.eml` files to `DATA_DIR/outbox`.
    pub smtp_url: Option<String>,
    /// Sender address of notifications (the page's name is the sender's name).
    pub mail_from: String,
    pub mail_reply_to: Option<String>,
    /// The most mails sent per second; 0 for no limit.
    pub mail_rate: u32,
    /// Whether `herald serve` also runs the delivery worker.
    pub run_worker: bool,
    /// Whether every request comes through a proxy that appends the client's address
    /// to `X-Forwarded-For` (a load balancer): then that address, not the proxy's, is
    /// what sign-in and subscribe limits count.
    pub behind_proxy: bool,
}

/// `herald.toml`: every key optional, named like the environment variable without the
/// `HERALD_` prefix, in lower case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    bind: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    base_url: Option<String>,
    content_dir: Option<PathBuf>,
    log_format: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    mail_reply_to: Option<String>,
    mail_rate: Option<u32>,
    run_worker: Option<bool>,
    behind_proxy: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{name} must be {allowed} (got {value:?})")]
    Invalid {
        name: &'static str,
        allowed: &'static str,
        value: String,
    },
}

impl Settings {
    /// Reads `herald.toml` from `HERALD_CONFIG` or the working directory (when present)
    /// and the process environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let path = env
            .iter()
            .find(|(k, _)| k == "HERALD_CONFIG")
            .map(|(_, v)| PathBuf::from(v));
        let (path, required) = match path {
            Some(p) => (p, true),
            None => (PathBuf::from("herald.toml"), false),
        };
        Self::from_sources(&path, required, &env)
    }

    /// The compiled defaults alone (what a run with no file and no variables gets).
    pub fn defaults() -> Settings {
        match Settings::from_sources(Path::new(""), false, &[]) {
            Ok(settings) => settings,
            // The defaults are constants that pass every check.
            Err(e) => unreachable!("compiled defaults are invalid: {e}"),
        }
    }

    /// The layering itself, with the file and environment passed in (testable).
    pub fn from_sources(
        file: &Path,
        file_required: bool,
        env: &[(String, String)],
    ) -> Result<Settings, ConfigError> {
        let from_file = match std::fs::read_to_string(file) {
            Ok(text) => {
                toml::from_str::<FileSettings>(&text).map_err(|source| ConfigError::Parse {
                    path: file.to_owned(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !file_required => {
                FileSettings::default()
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: file.to_owned(),
                    source,
                })
            }
        };
        let var = |name: &str| {
            env.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };

        let bind = var("HERALD_BIND")
            .or(from_file.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let data_dir = var("HERALD_DATA_DIR")
            .map(PathBuf::from)
            .or(from_file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = var("HERALD_DATABASE_URL")
            .or(from_file.database_url)
            .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("herald.db").display()));
        let base_url = var("HERALD_BASE_URL")
            .or(from_file.base_url)
            .map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    name: "HERALD_BASE_URL",
                    allowed: "an http:// or https:// URL",
                    value: url.clone(),
                });
            }
        }
        let content_dir = var("HERALD_CONTENT_DIR")
            .map(PathBuf::from)
            .or(from_file.content_dir)
            .unwrap_or_else(|| PathBuf::from("./content"));
        let log_format = var("HERALD_LOG_FORMAT")
            .or(from_file.log_format)
            .unwrap_or_else(|| "pretty".to_owned());
        if !matches!(log_format.as_str(), "pretty" | "json") {
            return Err(ConfigError::Invalid {
                name: "HERALD_LOG_FORMAT",
                allowed: "pretty or json",
                value: log_format,
            });
        }
        let smtp_url = var("HERALD_SMTP_URL").or(from_file.smtp_url);
        if let Some(url) = &smtp_url {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                // Never print a password: keep the scheme and host only.
                let shown = match (url.split_once("://"), url.rsplit_once('@')) {
                    (Some((scheme, _)), Some((_, host))) => format!("{scheme}://…@{host}"),
                    _ => url.clone(),
                };
                return Err(ConfigError::Invalid {
                    name: "HERALD_SMTP_URL",
                    allowed: "an smtp:// or smtps:// URL",
                    value: shown,
                });
            }
        }
        let address = |name: &'static str, value: String| -> Result<String, ConfigError> {
            match value.parse::<lettre::Address>() {
                Ok(_) => Ok(value),
                Err(_) => Err(ConfigError::Invalid {
                    name,
                    allowed: "an email address",
                    value,
                }),
            }
        };
        let mail_from = address(
            "HERALD_MAIL_FROM",
            var("HERALD_MAIL_FROM")
                .or(from_file.mail_from)
                .unwrap_or_else(|| "status@localhost".to_owned()),
        )?;
        let mail_reply_to = var("HERALD_MAIL_REPLY_TO")
            .or(from_file.mail_reply_to)
            .map(|v| address("HERALD_MAIL_REPLY_TO", v))
            .transpose()?;
        let mail_rate = match var("HERALD_MAIL_RATE") {
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .map_err(|_| ConfigError::Invalid {
                    name: "HERALD_MAIL_RATE",
                    allowed: "a whole number of mails per second (0 for no limit)",
                    value: raw,
                })?,
            None => from_file.mail_rate.unwrap_or(0),
        };
        let run_worker = match var("HERALD_RUN_WORKER") {
            Some(raw) => boolean("HERALD_RUN_WORKER", raw)?,
            None => from_file.run_worker.unwrap_or(true),
        };
        let behind_proxy = match var("HERALD_BEHIND_PROXY") {
            Some(raw) => boolean("HERALD_BEHIND_PROXY", raw)?,
            None => from_file.behind_proxy.unwrap_or(false),
        };
        Ok(Settings {
            bind,
            data_dir,
            database_url,
            base_url,
            content_dir,
            log_format,
            smtp_url,
            mail_from,
            mail_reply_to,
            mail_rate,
            run_worker,
            behind_proxy,
        })
    }
}

fn boolean(name: &'static str, raw: String) -> Result<bool, ConfigError> {
    match raw.trim() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::Invalid {
            name,
            allowed: "true or false",
            value: raw,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_file_or_environment() {
        let s = Settings::from_sources(Path::new("/nonexistent/herald.toml"), false, &[]).unwrap();
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.database_url, "sqlite:./data/herald.db");
        assert_eq!(s.base_url, None);
        assert_eq!(s.content_dir, PathBuf::from("./content"));
        assert_eq!(s.smtp_url, None);
        assert_eq!(s.mail_from, "status@localhost");
        assert!(s.run_worker);
        assert!(!s.behind_proxy);
        let s = Settings::from_sources(
            Path::new("/nonexistent/herald.toml"),
            false,
            &env(&[("HERALD_BEHIND_PROXY", "yes")]),
        )
        .unwrap();
        assert!(s.behind_proxy);
    }

    #[test]
    fn mail_settings_are_checked() {
        let none = Path::new("/nonexistent/herald.toml");
        let err = Settings::from_sources(none, false, &env(&[("HERALD_SMTP_URL", "http://mail")]))
            .unwrap_err();
        assert!(err.to_string().contains("HERALD_SMTP_URL"));
        let err =
            Settings::from_sources(none, false, &env(&[("HERALD_MAIL_FROM", "not an address")]))
                .unwrap_err();
        assert!(err.to_string().contains("HERALD_MAIL_FROM"));
        let err =
            Settings::from_sources(none, false, &env(&[("HERALD_MAIL_RATE", "fast")])).unwrap_err();
        assert!(err.to_string().contains("HERALD_MAIL_RATE"));
        let s = Settings::from_sources(
            none,
            false,
            &env(&[
                ("HERALD_SMTP_URL", "smtp://127.0.0.1:2525"),
                ("HERALD_MAIL_RATE", "50"),
            ]),
        )
        .unwrap();
        assert_eq!(s.smtp_url.as_deref(), Some("smtp://127.0.0.1:2525"));
        assert_eq!(s.mail_rate, 50);
    }

    #[test]
    fn environment_beats_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        std::fs::write(&file, "bind = \"0.0.0.0:9000\"\ndata_dir = \"/srv/herald\"\nbase_url = \"https://status.example.com/\"\n").unwrap();
        let s = Settings::from_sources(&file, true, &env(&[("HERALD_BIND", "127.0.0.1:7000")]))
            .unwrap();
        assert_eq!(s.bind, "127.0.0.1:7000");
        assert_eq!(s.data_dir, PathBuf::from("/srv/herald"));
        assert_eq!(s.database_url, "sqlite:/srv/herald/herald.db");
        assert_eq!(s.base_url.as_deref(), Some("https://status.example.com"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        std::fs::write(&file, "bnd = \"x\"\n").unwrap();
        assert!(matches!(
            Settings::from_sources(&file, true, &[]),
            Err(ConfigError::Parse { .. })
        ));
        let err = Settings::from_sources(
            &dir.path().join("none.toml"),
            false,
            &env(&[("HERALD_BASE_URL", "status.example.com")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("HERALD_BASE_URL"));
        assert!(Settings::from_sources(&dir.path().join("none.toml"), true, &[]).is_err());
    }
}
