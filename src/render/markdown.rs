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
        // Table alignment arrives as style="text-align: ..."; nothing else may.
        .add_tag_attributes("td", ["style"])
        .add_tag_attributes("th", ["style"]);
    b
}

/// The last word on attributes: task-list checkboxes are the only inputs, alignment the
/// only style, and a document's in-page links follow its prefixed ids.
fn filter_attribute<'a>(
    element: &str,
    attribute: &str,
    value: &'a str,
) -> Option<std::borrow::Cow<'a, str>> {
    match (element, attribute) {
        ("input", "type") => (value == "checkbox").then_some(value.into()),
        ("td" | "th", "style") => matches!(
            value,
            "text-align: left" | "text-align: center" | "text-align: right"
        )
        .then_some(value.into()),
        _ => Some(value.into()),
    }
}

/// For messages: no ids at all.
fn message_sanitizer() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let mut b = base_sanitizer();
        b.attribute_filter(filter_attribute);
        b
    })
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
                filter_attribute(element, attribute, value)
            });
        for h in ["h1", "h2", "h3", "h4", "h5", "h6"] {
            b.add_tag_attributes(h, ["id"]);
        }
        b
    })
}

/// Turns bare `https://...` addresses in text into links, as GitHub does; text inside
/// links and images is left alone (code and raw HTML are not text events).
fn with_bare_links(events: Vec<Event<'_>>) -> Vec<Event<'_>> {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    let mut in_link = 0usize;
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        match event {
            Event::Start(Tag::Link { .. }) | Event::Start(Tag::Image { .. }) => {
                in_link += 1;
                out.push(event);
            }
            Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => {
                in_link = in_link.saturating_sub(1);
                out.push(event);
            }
            Event::Text(text) if in_link == 0 && finder.links(&text).next().is_some() => {
                for span in finder.spans(&text) {
                    let piece = CowStr::from(span.as_str().to_owned());
                    if span.kind().is_some() {
                        out.push(Event::Start(Tag::Link {
                            link_type: pulldown_cmark::LinkType::Autolink,
                            dest_url: piece.clone(),
                            title: CowStr::from(""),
                            id: CowStr::from(""),
                        }));
                        out.push(Event::Text(piece));
                        out.push(Event::End(TagEnd::Link));
                    } else {
                        out.push(Event::Text(piece));
                    }
                }
            }
            other => out.push(other),
        }
    }
    out
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
    let events = with_bare_links(events);
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

    /// Every postmortem feature at once: what a real document uses.
    const RICH: &str = r#"# Database failover on March 14

**Summary:** a *failed* `pg_upgrade` left the primary read-only for ~~20~~ 23 minutes.[^timing]

## Timeline

| Time (UTC) | Event | Owner |
|:-----------|:-----:|------:|
| 14:02 | Alerts fire | on-call |
| 14:25 | Failover done | **db team** |

## Root cause

1. The upgrade script ran on the primary.
2. Replication lag hid it:
   - lag > 30s
   - no alert

```sql
SELECT pg_is_in_recovery(); -- <script>alert(1)</script>
```

> We should have caught this in staging.

## Corrective actions {#actions}

- [x] Page on replication lag
- [ ] Run upgrades on replicas first

See the [runbook](https://runbooks.acme.test/db "DB runbook"), <https://status.acme.test/history>,
<oncall@acme.test>, [the actions](#actions) and https://bare.example/link.

![graph](https://img.acme.test/lag.png "Replication lag")

## Timeline

Duplicate heading, second anchor.

[^timing]: From the first alert to the failover.
"#;

    /// Everything a hostile author might try: raw HTML, scripts, event handlers,
    /// `javascript:` and `data:` URLs, iframes, nested and malformed tags.
    const HOSTILE: &str = r#"<script>alert(1)</script>
<SCRIPT SRC=//evil.example/x.js></SCRIPT>
<img src=x onerror=alert(2)><img src="javascript:alert(3)">
<a href="javascript:alert(4)">js</a> <a href="JaVaScRiPt:alert(5)">mixed</a> <a href="jav&#x09;ascript:alert(6)">tab</a>
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==">data</a>
<a href="https://ok.example" onmouseover="alert(8)" target="_blank">ok</a>
<iframe src="https://evil.example"></iframe><iframe srcdoc="<script>alert(9)</script>">inner</iframe>
<div style="position:fixed;top:0" onclick="alert(10)">styled</div><style>body{display:none}</style>
<p style="background:url(javascript:alert(11))">bg</p>
<svg onload=alert(12)><circle r=1 /></svg><math><mi xlink:href="javascript:alert(13)">m</mi></math>
<scr<script>ipt>alert(14)</script> <<script>script>alert(15)<</script>/script>
<div><span><iframe src=//evil.example><script>alert(16)</script></iframe></span></div>
<img src="x" onerror="alert(17)"
<form action="javascript:alert(18)"><button formaction="javascript:alert(19)">go</button><input onfocus=alert(20) autofocus></form>
<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/x.swf">
<meta http-equiv="refresh" content="0;url=javascript:alert(21)"><base href="javascript:alert(22)//"><link rel=stylesheet href="https://evil.example/x.css">
<table><tr><td background="javascript:alert(23)">cell</td></tr></table>
<!-- <script>alert(24)</script> -->

# Heading {#pwn onclick=alert(25) .evil}

[md](javascript:alert(26)) [spaced]( javascript:alert(27) ) [d](data:text/html,<script>alert(28)</script>)
<javascript:alert(29)> ![img](javascript:alert(30)) ![px](data:image/png;base64,iVBORw0KGgo=) [t](https://ok.example "a\" onmouseover=\"alert(31)")
[vb](vbscript:msgbox(32)) [ref][r]

[r]: javascript:alert(33)
"#;

    /// Fails on anything in sanitised HTML that could run or restyle the page: tags
    /// outside a small allowlist, attributes outside one, or URLs with other schemes.
    /// Sanitised HTML escapes `<` in text, so every `<` starts a tag.
    fn assert_inert(html: &str) {
        const TAGS: &[&str] = &[
            "a",
            "blockquote",
            "br",
            "code",
            "del",
            "div",
            "em",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "hr",
            "img",
            "input",
            "li",
            "ol",
            "p",
            "pre",
            "section",
            "span",
            "strong",
            "sup",
            "table",
            "tbody",
            "td",
            "th",
            "thead",
            "tr",
            "ul",
        ];
        const ATTRIBUTES: &[&str] = &[
            "href",
            "src",
            "alt",
            "title",
            "rel",
            "id",
            "type",
            "checked",
            "disabled",
            "aria-label",
            "align",
            "start",
            "style",
        ];
        let mut rest = html;
        while let Some(open) = rest.find('<') {
            rest = &rest[open + 1..];
            let rest_tag = rest.strip_prefix('/').unwrap_or(rest);
            let name_end = rest_tag
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(rest_tag.len());
            let name = rest_tag[..name_end].to_ascii_lowercase();
            assert!(TAGS.contains(&name.as_str()), "tag <{name}> in {html}");
            let mut attrs = &rest_tag[name_end..];
            loop {
                attrs = attrs.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
                if attrs.starts_with('>') || attrs.is_empty() {
                    break;
                }
                let end = attrs
                    .find(|c: char| c == '=' || c.is_whitespace() || c == '>')
                    .unwrap_or(attrs.len());
                let attr = attrs[..end].to_ascii_lowercase();
                assert!(
                    ATTRIBUTES.contains(&attr.as_str()),
                    "attribute {attr} on <{name}> in {html}"
                );
                attrs = &attrs[end..];
                if let Some(quoted) = attrs.strip_prefix("=\"") {
                    let close = quoted.find('"').expect("quoted attribute is closed");
                    let value = quoted[..close].to_ascii_lowercase();
                    if attr == "style" {
                        assert!(
                            matches!(name.as_str(), "td" | "th")
                                && matches!(
                                    value.as_str(),
                                    "text-align: left" | "text-align: center" | "text-align: right"
                                ),
                            "style={value:?} on <{name}> in {html}"
                        );
                    }
                    if attr == "href" || attr == "src" {
                        let scheme = value
                            .split(['/', '?', '#'])
                            .next()
                            .unwrap_or_default()
                            .split_once(':')
                            .map(|(s, _)| s.to_owned());
                        assert!(
                            matches!(scheme.as_deref(), None | Some("http" | "https" | "mailto")),
                            "{attr}={value:?} on <{name}> in {html}"
                        );
                    }
                    attrs = &quoted[close + 1..];
                }
            }
            rest = attrs;
        }
    }

    #[test]
    fn rich_document_snapshot() {
        let html = document(RICH);
        assert_inert(html.as_str());
        insta::assert_snapshot!(html.as_str());
    }

    #[test]
    fn rich_update_body_snapshot() {
        let html = update_body(RICH);
        assert_inert(html.as_str());
        assert!(!html.as_str().contains("id="), "{html}");
        insta::assert_snapshot!(html.as_str());
    }

    #[test]
    fn hostile_document_snapshot() {
        let html = document(HOSTILE);
        assert_inert(html.as_str());
        insta::assert_snapshot!(html.as_str());
    }

    #[test]
    fn hostile_update_body_snapshot() {
        let html = update_body(HOSTILE);
        assert_inert(html.as_str());
        insta::assert_snapshot!(html.as_str());
    }

    #[test]
    fn the_inertness_check_catches_what_it_should() {
        for bad in [
            "<script>x</script>",
            "<p onclick=\"x\">a</p>",
            "<a href=\"javascript:x\">a</a>",
            "<img src=\"data:image/png;base64,x\">",
            "<p style=\"x\">a</p>",
            "<iframe src=\"https://x\"></iframe>",
        ] {
            assert!(
                std::panic::catch_unwind(|| assert_inert(bad)).is_err(),
                "{bad} passed the check"
            );
        }
        assert_inert("<p><a href=\"https://x\" rel=\"nofollow\">a</a> <a href=\"#md-x\">b</a> &lt;script&gt;</p>");
    }

    #[test]
    fn table_alignment_survives_sanitising() {
        let html = document("| left | right |\n|:-----|------:|\n| 1 | 2 |");
        assert!(
            html.as_str().contains("<td align=\"right\">2</td>")
                || html.as_str().contains("text-align: right"),
            "{html}"
        );
    }

    #[test]
    fn bare_urls_become_links() {
        let html = document("Details at https://status.acme.test/history today.");
        assert!(
            html.as_str()
                .contains("<a href=\"https://status.acme.test/history\""),
            "{html}"
        );
    }
}
