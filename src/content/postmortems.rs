//! `content/postmortems/*.md`: postmortems reviewed in git. Each file starts with a
//! front matter naming its incident, then the markdown:
//!
//! ```text
//! ---
//! incident: p31zjtct2jer
//! published: true
//! notify: false
//! ---
//! # What happened
//! ...
//! ```
//!
//! A file is applied when its text changed since the last sync (a hash is kept with
//! the postmortem): its text becomes the draft, and `published: true` publishes it
//! (telling subscribers once when `notify: true`). `published: false` after it was
//! published takes it back. Syncing unchanged files does nothing and sends nothing.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::domain::ids::looks_like_id;
use crate::store::{Store, StoreError};
use crate::time::Stamp;

/// A problem with one file, naming the line it is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostmortemFile {
    pub path: PathBuf,
    pub incident_id: String,
    /// The line the incident is named on, for errors about it.
    pub incident_line: usize,
    pub published: bool,
    pub notify: bool,
    pub body: String,
    pub hash: String,
}

/// Reads one file's text (pure: `path` only names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<PostmortemFile, FileError> {
    let error = |line: usize, message: String| FileError {
        path: path.to_owned(),
        line,
        message,
    };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, first)) if first.trim() == "---" => {}
        _ => {
            return Err(error(
                1,
                "must start with a front matter: a line `---`, then `incident: ID`, then `---`"
                    .into(),
            ))
        }
    }
    let (mut incident, mut published, mut notify) = (None, false, false);
    let mut body_start = None;
    for (number, line) in lines.by_ref() {
        let line = line.trim();
        if line == "---" {
            body_start = Some(number);
            break;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(error(
                number,
                format!("expected `key: value` in the front matter (got {line:?})"),
            ));
        };
        let (key, value) = (key.trim(), value.trim().trim_matches('"'));
        let flag = |value: &str| match value {
            "true" | "yes" => Ok(true),
            "false" | "no" => Ok(false),
            _ => Err(error(
                number,
                format!("{key} must be true or false (got {value:?})"),
            )),
        };
        match key {
            "incident" if looks_like_id(value) => incident = Some((value.to_owned(), number)),
            "incident" => {
                return Err(error(
                    number,
                    format!("incident must be an incident id such as p31zjtct2jer (got {value:?})"),
                ))
            }
            "published" => published = flag(value)?,
            "notify" => notify = flag(value)?,
            other => {
                return Err(error(
                    number,
                    format!(
                        "unknown front matter key {other:?} (allowed: incident, published, notify)"
                    ),
                ))
            }
        }
    }
    let Some(body_start) = body_start else {
        return Err(error(
            1,
            "the front matter is not closed: add a line `---` after it".into(),
        ));
    };
    let Some((incident_id, incident_line)) = incident else {
        return Err(error(
            1,
            "the front matter must name the incident: `incident: ID`".into(),
        ));
    };
    let body: String = text.lines().skip(body_start).collect::<Vec<_>>().join("\n");
    Ok(PostmortemFile {
        path: path.to_owned(),
        incident_id,
        incident_line,
        published,
        notify,
        hash: hex::encode(&Sha256::digest(text.as_bytes())[..12]),
        body: body.trim().to_owned(),
    })
}

#[derive(Debug, Default)]
pub struct PostmortemReport {
    pub applied: usize,
    pub unchanged: usize,
    pub errors: Vec<FileError>,
}

/// Applies every `*.md` under `dir` (missing folder: nothing to do). A bad file is
/// reported and skipped; the others still sync.
pub async fn sync(store: &Store, dir: &Path) -> Result<PostmortemReport, StoreError> {
    let mut report = PostmortemReport::default();
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect(),
        Err(_) => return Ok(report),
    };
    paths.sort();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                report.errors.push(FileError {
                    path,
                    line: 1,
                    message: format!("cannot be read: {e}"),
                });
                continue;
            }
        };
        let file = match parse(&path, &text) {
            Ok(file) => file,
            Err(e) => {
                report.errors.push(e);
                continue;
            }
        };
        match apply(store, &file).await {
            Ok(true) => report.applied += 1,
            Ok(false) => report.unchanged += 1,
            Err(StoreError::NotFound(_)) => report.errors.push(FileError {
                path: file.path.clone(),
                line: file.incident_line,
                message: format!("unknown incident {:?}", file.incident_id),
            }),
            Err(StoreError::Invalid(e)) => report.errors.push(FileError {
                path: file.path.clone(),
                line: 1,
                message: e.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// Applies one file; `false` when it had been applied already.
async fn apply(store: &Store, file: &PostmortemFile) -> Result<bool, StoreError> {
    let current = store.get_postmortem(&file.incident_id).await?;
    if current.as_ref().and_then(|p| p.content_hash.as_deref()) == Some(file.hash.as_str()) {
        return Ok(false);
    }
    store
        .save_postmortem_draft(&file.incident_id, &file.body, None, Stamp::Clock)
        .await?;
    let was_published = current.as_ref().is_some_and(|p| p.published_at.is_some());
    if file.published {
        store
            .publish_postmortem(&file.incident_id, None, file.notify, Stamp::Clock)
            .await?;
    } else if was_published {
        store
            .revert_postmortem(&file.incident_id, Stamp::Clock)
            .await?;
    }
    // Only now is the file done: a failure above leaves it to be tried again.
    store
        .save_postmortem_draft(
            &file.incident_id,
            &file.body,
            Some(&file.hash),
            Stamp::Clock,
        )
        .await?;
    Ok(true)
}

/// A new postmortem file for an incident: front matter, the incident's facts, its
/// timeline as a table, and the usual headings to fill in. Returns the file name and
/// the text.
pub fn template(
    record: &crate::store::IncidentRecord,
    tree: &crate::store::ComponentTree,
    zone: crate::time::PageZone,
) -> (String, String) {
    use crate::domain::incident::update_label;
    let i = &record.incident;
    let local = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&zone.tz())
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let slug: String = i
        .name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|w| !w.is_empty())
        .take(8)
        .collect::<Vec<_>>()
        .join("-");
    let file = format!(
        "{}-{}.md",
        i.started_at.format("%Y-%m-%d"),
        if slug.is_empty() { i.id.clone() } else { slug }
    );
    let components: Vec<&str> = record
        .component_ids
        .iter()
        .filter_map(|id| tree.component(id).map(|c| c.name.as_str()))
        .collect();
    let mut text = format!(
        "---\nincident: {}\npublished: false\nnotify: false\n---\n# {}\n\n",
        i.id, i.name
    );
    text.push_str(&format!(
        "- **Impact:** {}\n",
        crate::render::pages::impact_label(i.impact())
    ));
    text.push_str(&format!(
        "- **Affected components:** {}\n",
        if components.is_empty() {
            "none recorded".to_owned()
        } else {
            components.join(", ")
        }
    ));
    text.push_str(&format!(
        "- **Duration:** {} to {}\n\n",
        local(i.started_at),
        i.resolved_at
            .map_or_else(|| "(still open)".to_owned(), local)
    ));
    text.push_str("## Summary\n\nWhat happened, who was affected and for how long, in two or three sentences.\n\n");
    text.push_str("## Timeline\n\n| Time | Status | Update |\n|------|--------|--------|\n");
    let oldest_first: Vec<_> = record.updates.iter().rev().collect();
    for (n, u) in oldest_first.iter().enumerate() {
        let previous = n.checked_sub(1).map(|p| oldest_first[p].row.status());
        let summary: String = crate::render::markdown::plain_text(&u.row.body)
            .replace('|', "\\|")
            .chars()
            .take(160)
            .collect();
        text.push_str(&format!(
            "| {} | {} | {} |\n",
            local(u.row.display_at),
            update_label(u.row.status(), previous),
            summary
        ));
    }
    text.push_str("\n## Root cause\n\n\n## Resolution and recovery\n\n\n## Corrective and preventive measures\n\n- [ ] \n");
    (file, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<PostmortemFile, FileError> {
        parse(Path::new("content/postmortems/x.md"), text)
    }

    #[test]
    fn reads_front_matter_and_body() {
        let f = p("---\nincident: p31zjtct2jer\npublished: true\n---\n# What happened\n\nText.\n")
            .unwrap();
        assert_eq!(f.incident_id, "p31zjtct2jer");
        assert_eq!(f.incident_line, 2);
        assert!(f.published && !f.notify);
        assert_eq!(f.body, "# What happened\n\nText.");
    }

    #[test]
    fn errors_name_the_line_and_problem() {
        let e = p("# no front matter").unwrap_err();
        assert_eq!(
            (
                e.line,
                e.to_string().starts_with("content/postmortems/x.md:1:")
            ),
            (1, true)
        );
        let e = p("---\nincident: p31zjtct2jer\npublished: maybe\n---\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("true or false"));
        let e = p("---\nincident: nope\n---\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = p("---\nincident: p31zjtct2jer\ncolour: red\n---\n").unwrap_err();
        assert!(e.message.contains("unknown front matter key"));
        let e = p("---\nincident: p31zjtct2jer\n").unwrap_err();
        assert!(e.message.contains("not closed"));
        let e = p("---\npublished: true\n---\n").unwrap_err();
        assert!(e.message.contains("name the incident"));
    }
}
