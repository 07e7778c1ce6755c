//! `content/site.toml`: the page and its components as code, reviewed in git.
//!
//! Loaded at every start (and by `herald content sync`). Each group and component has a
//! `key` that identifies it across restarts; its id is generated once (or fixed with
//! `id`). An entry is applied only when its text changed since the last sync (a hash is
//! kept per row), so restarting changes nothing and edits made through the API stand
//! until the file itself is edited. Entries removed from the file are left alone: the
//! API may have added components the file does not know.

pub mod postmortems;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::text::{parse_description, parse_name};
use crate::domain::ComponentStatus;
use crate::store::{
    ContentComponent, ContentGroup, ContentSpec, PageSeed, Store, StoreError, SyncOutcome,
};
use crate::time::{PageZone, Stamp};

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteFile {
    #[serde(default)]
    pub page: PageSpec,
    /// Top-level entries in display order; an entry with `components` is a group.
    #[serde(default)]
    pub components: Vec<EntrySpec>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PageSpec {
    pub id: Option<String>,
    pub name: String,
    /// Public URL of the status page (HERALD_BASE_URL overrides it).
    pub url: Option<String>,
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
}

impl Default for PageSpec {
    fn default() -> Self {
        PageSpec {
            id: None,
            name: "Status".to_owned(),
            url: None,
            time_zone: default_time_zone(),
        }
    }
}

fn default_time_zone() -> String {
    "Etc/UTC".to_owned()
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySpec {
    pub key: String,
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    /// Initial status, and the status applied whenever this entry is edited.
    pub status: Option<String>,
    pub showcase: Option<bool>,
    pub only_show_if_degraded: Option<bool>,
    pub start_date: Option<NaiveDate>,
    /// Present on groups only.
    pub components: Option<Vec<EntrySpec>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
}

/// What a sync did.
#[derive(Debug, Default)]
pub struct SyncReport {
    pub public_url: Option<String>,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// `content/postmortems/`: files applied, unchanged, and refused (with why).
    pub postmortems: postmortems::PostmortemReport,
}

impl SyncReport {
    fn count(&mut self, outcome: SyncOutcome) {
        match outcome {
            SyncOutcome::Created => self.created += 1,
            SyncOutcome::Updated => self.updated += 1,
            SyncOutcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// Parsed and checked `site.toml`, ready to write.
pub struct Site {
    pub spec: ContentSpec,
    pub public_url: Option<String>,
}

fn hash_of<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// Reads `DIR/site.toml`; a missing file means an empty page named "Status".
pub fn load(dir: &Path) -> Result<Site, ContentError> {
    let path = dir.join("site.toml");
    let invalid = |message: String| ContentError::Invalid {
        path: path.clone(),
        message,
    };
    let file: SiteFile = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| invalid(e.to_string()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => SiteFile::default(),
        Err(e) => return Err(invalid(e.to_string())),
    };
    check(&file).map_err(invalid)?;

    let mut groups = Vec::new();
    let mut components = Vec::new();
    for (index, entry) in file.components.iter().enumerate() {
        let position = index as i64 + 1;
        match &entry.components {
            Some(children) => {
                groups.push(ContentGroup {
                    key: entry.key.clone(),
                    id: entry.id.clone(),
                    name: entry.name.trim().to_owned(),
                    description: entry.description.clone().filter(|d| !d.trim().is_empty()),
                    position,
                    content_hash: hash_of(&(&entry.key, &entry.name, &entry.description, position)),
                });
                for (child_index, child) in children.iter().enumerate() {
                    components.push(component_spec(
                        child,
                        Some(&entry.key),
                        child_index as i64 + 1,
                    ));
                }
            }
            None => components.push(component_spec(entry, None, position)),
        }
    }
    Ok(Site {
        spec: ContentSpec {
            page: PageSeed {
                id: file.page.id.clone(),
                name: file.page.name.trim().to_owned(),
                time_zone: file.page.time_zone.clone(),
                content_hash: hash_of(&file.page),
            },
            groups,
            components,
        },
        public_url: file
            .page
            .url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_owned()),
    })
}

fn component_spec(entry: &EntrySpec, group_key: Option<&str>, position: i64) -> ContentComponent {
    ContentComponent {
        key: entry.key.clone(),
        id: entry.id.clone(),
        name: entry.name.trim().to_owned(),
        description: entry.description.clone().filter(|d| !d.trim().is_empty()),
        status: entry
            .status
            .as_deref()
            .map(ComponentStatus::from_db)
            .unwrap_or(ComponentStatus::Operational),
        group_key: group_key.map(str::to_owned),
        position,
        showcase: entry.showcase.unwrap_or(true),
        only_show_if_degraded: entry.only_show_if_degraded.unwrap_or(false),
        start_date: entry.start_date,
        content_hash: hash_of(&(entry, group_key, position)),
    }
}

/// Every rule the file must follow, checked before anything is written.
fn check(file: &SiteFile) -> Result<(), String> {
    parse_name("page.name", &file.page.name).map_err(|e| e.to_string())?;
    if PageZone::parse(&file.page.time_zone).is_none() {
        return Err(format!(
            "page.time_zone must be an IANA time zone name such as Etc/UTC (got {:?})",
            file.page.time_zone
        ));
    }
    if let Some(url) = &file.page.url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "page.url must start with http:// or https:// (got {url:?})"
            ));
        }
    }
    if let Some(id) = &file.page.id {
        check_id("page.id", id)?;
    }
    let mut keys: Vec<String> = Vec::new();
    let mut ids: Vec<String> = file.page.id.iter().cloned().collect();
    let mut check_entry = |entry: &EntrySpec, field: &str| -> Result<(), String> {
        if entry.key.trim().is_empty() {
            return Err(format!("{field}.key can't be blank"));
        }
        if keys.contains(&entry.key) {
            return Err(format!("{field}.key {:?} is used twice", entry.key));
        }
        keys.push(entry.key.clone());
        parse_name(&format!("{field}.name"), &entry.name).map_err(|e| e.to_string())?;
        if let Some(d) = &entry.description {
            parse_description(&format!("{field}.description"), d).map_err(|e| e.to_string())?;
        }
        if let Some(status) = &entry.status {
            ComponentStatus::parse(&format!("{field}.status"), status)
                .map_err(|e| e.to_string())?;
        }
        if let Some(id) = &entry.id {
            check_id(&format!("{field}.id"), id)?;
            if ids.contains(id) {
                return Err(format!("{field}.id {id:?} is used twice"));
            }
            ids.push(id.clone());
        }
        Ok(())
    };
    for (i, entry) in file.components.iter().enumerate() {
        let field = format!("components[{i}] ({})", entry.key);
        check_entry(entry, &field)?;
        if let Some(children) = &entry.components {
            if children.is_empty() {
                return Err(format!(
                    "{field}.components can't be empty: a group needs a component"
                ));
            }
            if entry.status.is_some() {
                return Err(format!(
                    "{field}.status: a group's status follows its components"
                ));
            }
            for (j, child) in children.iter().enumerate() {
                let child_field = format!("{field}.components[{j}] ({})", child.key);
                check_entry(child, &child_field)?;
                if child.components.is_some() {
                    return Err(format!("{child_field}: groups can't be nested"));
                }
            }
        }
    }
    Ok(())
}

fn check_id(field: &str, id: &str) -> Result<(), String> {
    if crate::domain::ids::looks_like_id(id) {
        Ok(())
    } else {
        Err(format!(
            "{field} must be 12 lowercase letters and digits (got {id:?})"
        ))
    }
}

/// Loads `DIR/site.toml` and applies it to the store, all of it or nothing; then the
/// postmortem files, each on its own (a bad one is reported, the others apply).
pub async fn sync(store: &Store, dir: &Path) -> Result<SyncReport, ContentError> {
    let store = &store.acting_as(crate::domain::account::Actor::Content);
    let site = load(dir)?;
    let outcomes = store
        .sync_content(&site.spec, Stamp::Clock)
        .await
        .map_err(|source| ContentError::Store {
            path: dir.join("site.toml"),
            source,
        })?;
    let mut report = SyncReport {
        public_url: site.public_url,
        ..SyncReport::default()
    };
    for outcome in outcomes {
        report.count(outcome);
    }
    let postmortem_dir = dir.join("postmortems");
    report.postmortems = postmortems::sync(store, &postmortem_dir)
        .await
        .map_err(|source| ContentError::Store {
            path: postmortem_dir,
            source,
        })?;
    for error in &report.postmortems.errors {
        tracing::warn!(%error, "postmortem file not applied");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Site, ContentError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("site.toml"), text).unwrap();
        load(dir.path())
    }

    #[test]
    fn groups_and_components_in_file_order() {
        let site = load_text(
            r#"
            [page]
            name = "Acme"
            time_zone = "Europe/Berlin"
            url = "https://status.acme.test/"

            [[components]]
            key = "api"
            name = "API"
            status = "degraded_performance"

            [[components]]
            key = "dash"
            name = "Dashboard"
              [[components.components]]
              key = "web"
              name = "Web App"
            "#,
        )
        .unwrap();
        assert_eq!(site.spec.page.name, "Acme");
        assert_eq!(site.public_url.as_deref(), Some("https://status.acme.test"));
        assert_eq!(site.spec.groups.len(), 1);
        assert_eq!(site.spec.groups[0].position, 2);
        assert_eq!(
            site.spec.components[0].status,
            ComponentStatus::DegradedPerformance
        );
        assert_eq!(site.spec.components[1].group_key.as_deref(), Some("dash"));
        assert_eq!(site.spec.components[1].position, 1);
    }

    #[test]
    fn bad_files_name_the_problem() {
        let err = load_text("[page]\nname = \"x\"\ntime_zone = \"Mars/Base\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("site.toml") && err.contains("Mars/Base"),
            "{err}"
        );
        let err = load_text("[[components]]\nkey = \"a\"\nname = \"A\"\nstatus = \"down\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("status") && err.contains("major_outage"),
            "{err}"
        );
        let err = load_text("[[components]]\nkey = \"a\"\nname = \"A\"\n[[components]]\nkey = \"a\"\nname = \"B\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("used twice"), "{err}");
        let err = load_text("[page]\nnam = \"x\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn missing_file_is_an_empty_page() {
        let dir = tempfile::tempdir().unwrap();
        let site = load(dir.path()).unwrap();
        assert_eq!(site.spec.page.name, "Status");
        assert!(site.spec.components.is_empty());
    }
}
