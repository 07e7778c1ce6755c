//! Turning a delivery into a mail: askama templates (text and HTML), the page's name
//! as sender, threading headers, and RFC 8058 one-click unsubscribe.

use askama::Template;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

use super::links::LinkSigner;
use crate::domain::incident::update_label;
use crate::render::markdown::{self, SafeHtml};
use crate::store::{ComponentTree, IncidentRecord, PageRow, SubscriberRow};
use crate::time::PageZone;

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{0}")]
    Template(#[from] askama::Error),
    #[error("{0}")]
    Build(#[from] lettre::error::Error),
    #[error("invalid address: {0}")]
    Address(#[from] lettre::address::AddressError),
    #[error("invalid header: {0}")]
    Header(String),
}

/// Who mails come from, and how links and ids are made.
#[derive(Clone)]
pub struct Composer {
    pub from_address: lettre::Address,
    pub reply_to: Option<lettre::Address>,
    pub links: LinkSigner,
}

pub struct ComponentLine {
    pub name: String,
    pub status: &'static str,
}

#[derive(Template)]
#[template(path = "email/update.txt")]
struct UpdateText<'a> {
    label: &'a str,
    incident_name: &'a str,
    page_name: &'a str,
    body: &'a str,
    components: &'a [ComponentLine],
    posted: &'a str,
    incident_url: &'a str,
    manage_url: &'a str,
    unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/update.html")]
struct UpdateHtml<'a> {
    label: &'a str,
    incident_name: &'a str,
    page_name: &'a str,
    body_html: &'a SafeHtml,
    components: &'a [ComponentLine],
    posted: &'a str,
    incident_url: &'a str,
    manage_url: &'a str,
    unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/confirm.txt")]
struct ConfirmText<'a> {
    page_name: &'a str,
    confirm_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/confirm.html")]
struct ConfirmHtml<'a> {
    page_name: &'a str,
    confirm_url: &'a str,
}

fn raw_header(name: &str, value: String) -> Result<HeaderValue, ComposeError> {
    let name = HeaderName::new_from_ascii(name.to_owned())
        .map_err(|e| ComposeError::Header(e.to_string()))?;
    Ok(HeaderValue::new(name, value))
}

impl Composer {
    fn domain(&self) -> &str {
        self.from_address.domain()
    }

    fn from(&self, page: &PageRow) -> Mailbox {
        Mailbox::new(Some(page.name.clone()), self.from_address.clone())
    }

    fn base(
        &self,
        page: &PageRow,
        to: &SubscriberRow,
        subject: String,
    ) -> Result<lettre::message::MessageBuilder, ComposeError> {
        let mut builder = Message::builder()
            .from(self.from(page))
            .to(Mailbox::new(None, to.email.parse()?))
            .subject(subject)
            .date_now()
            .raw_header(raw_header("Auto-Submitted", "auto-generated".to_owned())?);
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(Mailbox::new(Some(page.name.clone()), reply_to.clone()));
        }
        Ok(builder)
    }

    /// The double opt-in mail.
    pub fn confirmation(
        &self,
        page: &PageRow,
        to: &SubscriberRow,
        nonce: &str,
    ) -> Result<Message, ComposeError> {
        let sent_at = to.confirmation_sent_at.unwrap_or(to.created_at);
        let confirm_url = self.links.confirm_url(&to.id, nonce, sent_at);
        let text = ConfirmText {
            page_name: &page.name,
            confirm_url: &confirm_url,
        }
        .render()?;
        let html = ConfirmHtml {
            page_name: &page.name,
            confirm_url: &confirm_url,
        }
        .render()?;
        Ok(self
            .base(
                page,
                to,
                format!("[{}] Confirm your subscription", page.name),
            )?
            .message_id(Some(format!(
                "<confirm-{}.{}@{}>",
                to.id,
                sent_at.timestamp(),
                self.domain()
            )))
            .multipart(MultiPart::alternative_plain_html(text, html))?)
    }

    /// One incident update. All mails of an incident thread together: the first
    /// update's Message-ID is the thread's root, which the others reference.
    pub fn incident_update(
        &self,
        page: &PageRow,
        tree: &ComponentTree,
        record: &IncidentRecord,
        update_id: &str,
        to: &SubscriberRow,
    ) -> Result<Option<Message>, ComposeError> {
        // Newest first: the update's predecessor is the next entry.
        let Some(index) = record.updates.iter().position(|u| u.row.id == update_id) else {
            return Ok(None);
        };
        let update = &record.updates[index];
        let previous = record.updates.get(index + 1).map(|u| u.row.status());
        let label = update_label(update.row.status(), previous);
        let zone = PageZone::parse(&page.time_zone).unwrap_or_else(PageZone::utc);
        let posted = update
            .row
            .display_at
            .with_timezone(&zone.tz())
            .format("%b %-d, %Y - %H:%M %Z")
            .to_string();
        let components: Vec<ComponentLine> = match &update.affected {
            Some(list) => list
                .iter()
                .map(|a| ComponentLine {
                    name: tree
                        .component(&a.component_id)
                        .map_or(a.name.clone(), |c| c.name.clone()),
                    status: crate::domain::ComponentStatus::from_db(&a.new_status).label(),
                })
                .collect(),
            None => Vec::new(),
        };
        let incident_url = format!("{}/incidents/{}", self.links.base_url(), record.incident.id);
        let manage_url = self.links.manage_url(&to.id);
        let unsubscribe_url = self.links.unsubscribe_url(&to.id);
        let body_html = markdown::update_body(&update.row.body);
        let text = UpdateText {
            label,
            incident_name: &record.incident.name,
            page_name: &page.name,
            body: &update.row.body,
            components: &components,
            posted: &posted,
            incident_url: &incident_url,
            manage_url: &manage_url,
            unsubscribe_url: &unsubscribe_url,
        }
        .render()?;
        let html = UpdateHtml {
            label,
            incident_name: &record.incident.name,
            page_name: &page.name,
            body_html: &body_html,
            components: &components,
            posted: &posted,
            incident_url: &incident_url,
            manage_url: &manage_url,
            unsubscribe_url: &unsubscribe_url,
        }
        .render()?;

        let domain = self.domain();
        let root = format!("<incident-{}.{}@{domain}>", record.incident.id, to.id);
        let is_first = index + 1 == record.updates.len();
        let message_id = if is_first {
            root.clone()
        } else {
            format!("<update-{update_id}.{}@{domain}>", to.id)
        };
        let mut builder = self
            .base(
                page,
                to,
                format!("[{}] {label}: {}", page.name, record.incident.name),
            )?
            .message_id(Some(message_id))
            .raw_header(raw_header(
                "List-Unsubscribe",
                format!(
                    "<{unsubscribe_url}>, <mailto:{}?subject=unsubscribe%20{}>",
                    self.reply_to.as_ref().unwrap_or(&self.from_address),
                    to.id
                ),
            )?)
            .raw_header(raw_header(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".to_owned(),
            )?);
        if !is_first {
            builder = builder.in_reply_to(root.clone()).references(root);
        }
        Ok(Some(builder.multipart(
            MultiPart::alternative_plain_html(text, html),
        )?))
    }
}
