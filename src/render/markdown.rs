//! Markdown to safe HTML: pulldown-cmark with GitHub-style options, then ammonia. The
//! only way text an incident commander typed becomes HTML; its output is the only
//! thing templates mark `|safe`.

use std::sync::OnceLock;

use pulldown_cmark::{html, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Sanitised HTML, produced only by this module. Templates print it unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SafeHtml(String);

impl SafeHtml {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SafeHtml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a message (an incident update) may use: it can appear several times on one
/// page, so nothing in it may carry an id (no footnotes, no heading anchors).
fn message_options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// What a document (a postmortem) may use: GitHub-flavoured markdown in full.
fn document_options() -> Options {
    message_options() | Options::ENABLE_FOOTNOTES | Options::ENABLE_HEADING_ATTRIBUTES
}

const ID_PREFIX: &str = "md-";

fn base_sanitizer() -> ammonia::Builder<'static> {
    let mut b = ammonia::Builder::default();
    b.link_rel(Some("nofollow noopener noreferrer"))
        // Drop what these hold, not only the tags: an iframe's text is not content.
        .clean_content_tags(
            [
                "script", "style", "iframe", "noscript", "object", "embed", "template",
            ]
            .into(),
        )
        .add_tags(["input"])
        .add_tag_attributes("input", ["type", "checked", "disabled", "aria-label"])
        .add_tag_attributes("td", ["align"])
        .add_tag_attributes("th", ["align"]);
    b
}

/// For messages: no ids at all.
fn message_sanitizer() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(base_sanitizer)
}

/// For documents: ids kept but prefixed, so they never collide with the page's own
/// (GitHub does the same), and in-page links rewritten to match.
fn document_sanitizer() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let mut b = base_sanitizer();
        b.id_prefix(Some(ID_PREFIX))
            .add_tag_attributes("sup", ["id"])
            .add_tag_attributes("li", ["id"])
            .add_tag_attributes("div", ["id"])
            .attribute_filter(|element, attribute, value| {
                if element == "a" && attribute == "href" {
                    if let Some(anchor) = value.strip_prefix('#') {
                        return Some(format!("#{ID_PREFIX}{anchor}").into());
                    }
                }
                Some(value.into())
            });
        for h in ["h1", "h2", "h3", "h4", "h5", "h6"] {
            b.add_tag_attributes(h, ["id"]);
        }
        b
    })
}

/// A heading's anchor: lower-case words joined by `-`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if (c == ' ' || c == '-' || c == '_') && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// Adds an `id` to every heading that has none, from its text (unique per document).
fn with_heading_anchors(events: Vec<Event<'_>>) -> Vec<Event<'_>> {
    let mut used: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(events.len());
    let mut i = 0;
    while i < events.len() {
        if let Event::Start(Tag::Heading {
            level,
            id: None,
            classes,
            attrs,
        }) = &events[i]
        {
            let mut text = String::new();
            for e in &events[i + 1..] {
                match e {
                    Event::End(TagEnd::Heading(_)) => break,
                    Event::Text(t) | Event::Code(t) => text.push_str(t),
                    _ => {}
                }
            }
            let base = match slug(&text) {
                s if s.is_empty() => "section".to_owned(),
                s => s,
            };
            let mut anchor = base.clone();
            let mut n = 1;
            while used.contains(&anchor) {
                n += 1;
                anchor = format!("{base}-{n}");
            }
            used.push(anchor.clone());
            out.push(Event::Start(Tag::Heading {
                level: *level,
                id: Some(CowStr::from(anchor)),
                classes: classes.clone(),
                attrs: attrs.clone(),
            }));
        } else {
            out.push(events[i].clone());
        }
        i += 1;
    }
    out
}

/// How a kind of text is rendered.
struct Style {
    options: Options,
    /// Levels added to every heading: the page's own headings sit above.
    heading_shift: u8,
    /// Messages are typed like chat: a new line is a new line.
    hard_breaks: bool,
    anchors: bool,
    sanitizer: &'static ammonia::Builder<'static>,
}

fn render(markdown: &str, style: Style) -> SafeHtml {
    let events: Vec<Event<'_>> = Parser::new_ext(markdown, style.options)
        .map(|event| match event {
            Event::SoftBreak if style.hard_breaks => Event::HardBreak,
            // A checkbox needs a name to be accessible.
            Event::TaskListMarker(done) => Event::InlineHtml(CowStr::from(if done {
                "<input type=\"checkbox\" disabled checked aria-label=\"Done\"> "
            } else {
                "<input type=\"checkbox\" disabled aria-label=\"Not done\"> "
            })),
            // The page owns <h1>: text starts at <h2>.
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) => Event::Start(Tag::Heading {
                level: demote(level, style.heading_shift),
                id,
                classes,
                attrs,
            }),
            Event::End(TagEnd::Heading(level)) => {
                Event::End(TagEnd::Heading(demote(level, style.heading_shift)))
            }
            other => other,
        })
        .collect();
    let events = if style.anchors {
        with_heading_anchors(events)
    } else {
        events
    };
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, events.into_iter());
    SafeHtml(style.sanitizer.clean(&unsafe_html).to_string())
}

fn demote(level: HeadingLevel, by: u8) -> HeadingLevel {
    match (level as u8 + by).min(6) {
        1 => HeadingLevel::H1,
        2 => HeadingLevel::H2,
        3 => HeadingLevel::H3,
        4 => HeadingLevel::H4,
        5 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

/// An incident update's body: markdown where line breaks are kept, without ids.
pub fn update_body(markdown: &str) -> SafeHtml {
    render(
        markdown,
        Style {
            options: message_options(),
            heading_shift: 1,
            hard_breaks: true,
            anchors: false,
            sanitizer: message_sanitizer(),
        },
    )
}

/// A longer document (a postmortem): headings get anchors and start at `<h3>`.
pub fn document(markdown: &str) -> SafeHtml {
    render(
        markdown,
        Style {
            options: document_options(),
            // Under the incident's <h1> and the section's <h2>.
            heading_shift: 2,
            hard_breaks: false,
            anchors: true,
            sanitizer: document_sanitizer(),
        },
    )
}

/// Plain text of a markdown body (feeds' titles, e-mail previews): the sanitised HTML
/// with tags removed.
pub fn plain_text(markdown: &str) -> String {
    let mut text = String::new();
    for event in Parser::new_ext(markdown, message_options()) {
        match event {
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak | Event::End(TagEnd::Paragraph) => text.push(' '),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_github_style_markdown() {
        let html = document("# Root cause\n\nA **bad** deploy.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n\n~~old~~");
        let html = html.as_str();
        assert!(
            html.contains("<h3 id=\"md-root-cause\">Root cause</h3>"),
            "{html}"
        );
        assert!(html.contains("<strong>bad</strong>"));
        assert!(html.contains("<table>"));
        assert!(html.contains("type=\"checkbox\""));
        assert!(html.contains("<del>old</del>"));
    }

    #[test]
    fn update_bodies_keep_line_breaks_and_captured_br() {
        let html = update_body("line one\nline two<br />line three");
        assert!(html.as_str().contains("line one<br>"), "{html}");
        assert!(html.as_str().contains("line two<br>line three"), "{html}");
    }

    #[test]
    fn hostile_html_is_inert() {
        let hostile = r#"<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>
<iframe src="https://evil.example"></iframe><a href="data:text/html;base64,PHNjcmlwdD4=">d</a>
<div style="position:fixed" onclick="alert(4)">s</div>[md](javascript:alert(5)) <svg onload=alert(6)>
<scr<script>ipt>alert(7)</script>"#;
        for html in [update_body(hostile), document(hostile)] {
            let html = html.as_str().to_lowercase();
            for bad in [
                "<script",
                "onerror",
                "href=\"javascript",
                "<iframe",
                "data:text",
                "onclick",
                "style=",
                "onload",
                "<svg",
            ] {
                assert!(!html.contains(bad), "{bad} survived in {html}");
            }
        }
    }

    #[test]
    fn markdown_links_to_scripts_lose_their_target() {
        for body in [
            "[md](javascript:alert(5))",
            "[d](data:text/html,x)",
            "<javascript:alert(1)>",
            "[v](vbscript:x)",
        ] {
            let html = update_body(body);
            assert!(!html.as_str().contains("href"), "{body} gave {html}");
        }
    }

    #[test]
    fn external_links_are_nofollow() {
        let html = update_body("[docs](https://example.com)");
        assert!(
            html.as_str()
                .contains("rel=\"nofollow noopener noreferrer\""),
            "{html}"
        );
    }

    #[test]
    fn in_page_links_follow_prefixed_ids() {
        let html = document("See [the cause](#root-cause).[^1]\n\n## Root cause\n\n[^1]: A note.");
        let html = html.as_str();
        assert!(html.contains("href=\"#md-root-cause\""), "{html}");
        assert!(html.contains("id=\"md-root-cause\""), "{html}");
        assert!(
            html.contains("href=\"#md-1\"") && html.contains("id=\"md-1\""),
            "{html}"
        );
    }

    #[test]
    fn messages_carry_no_ids_and_named_checkboxes() {
        let html = update_body(
            "## Next steps\n\n- [x] rolled back\n- [ ] postmortem\n\nNote[^1]\n\n[^1]: x",
        );
        let html = html.as_str();
        assert!(!html.contains("id="), "{html}");
        assert!(
            html.contains("aria-label=\"Done\"") && html.contains("aria-label=\"Not done\""),
            "{html}"
        );
    }

    #[test]
    fn duplicate_headings_get_distinct_anchors() {
        let html = document("## Timeline\n\n## Timeline");
        assert!(
            html.as_str().contains("md-timeline\"") && html.as_str().contains("md-timeline-2\""),
            "{html}"
        );
    }

    #[test]
    fn plain_text_drops_markup() {
        assert_eq!(
            plain_text("**Fixed** the `cache`.\nAll good."),
            "Fixed the cache. All good."
        );
    }
}
