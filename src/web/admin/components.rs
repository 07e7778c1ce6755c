//! Console screens: components and component groups. Every change goes through the
//! same store calls as `/v1` (create, update, delete, move) and the same domain
//! parsers for names, descriptions and statuses; a status change is the dashboard's
//! one click, not a form here.
//!
//! The end of this file holds the small helpers every admin screen shares: the status
//! of a form page, a select's option, and building a link with a query.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;
use askama::Template;

use super::dashboard::{status_choices, StatusChoice};
use super::{AdminLayout, Console, ConsoleError, ConsoleResult};
use crate::domain::account::Permission;
use crate::domain::text::{parse_description, parse_name};
use crate::domain::{ComponentStatus, DomainError};
use crate::store::{
    ComponentPatch, ComponentRow, ComponentTree, GroupPatch, GroupRow, NewComponent, NewGroup,
    TopLevel,
};
use crate::time::Stamp;
use crate::web::form::{Form, FormErrors};

pub fn routes(cfg: &mut web::ServiceConfig) {
    // POST /components/{id}/status (the dashboard's status buttons) is in dashboard.rs.
    cfg.route("/components", web::get().to(list))
        .service(
            web::resource("/components/new")
                .route(web::get().to(new_component))
                .route(web::post().to(create_component)),
        )
        .service(
            web::resource("/components/{id}/edit")
                .route(web::get().to(edit_component))
                .route(web::post().to(update_component)),
        )
        .service(
            web::resource("/components/{id}/delete")
                .route(web::get().to(confirm_delete_component))
                .route(web::post().to(delete_component)),
        )
        .route("/components/{id}/move", web::post().to(move_item))
        .service(
            web::resource("/groups/new")
                .route(web::get().to(new_group))
                .route(web::post().to(create_group)),
        )
        .service(
            web::resource("/groups/{id}/edit")
                .route(web::get().to(edit_group))
                .route(web::post().to(update_group)),
        )
        .service(
            web::resource("/groups/{id}/delete")
                .route(web::get().to(confirm_delete_group))
                .route(web::post().to(delete_group)),
        )
        .route("/groups/{id}/move", web::post().to(move_item));
}

const LIST: &str = "/admin/components";

/// The store names fields as the `/v1` API does; the forms here use plain names.
const STORE_FIELDS: &[(&str, &str)] = &[
    ("component[group_id]", "group_id"),
    ("component_group[components]", "components"),
];

// --- the list --------------------------------------------------------------------------

/// One line of the list: a component or a group, in page order (a group's components
/// follow it).
pub struct Row {
    pub id: String,
    pub name: String,
    /// "components" or "groups": the first part of the row's links.
    pub path: &'static str,
    pub is_group: bool,
    /// For a component in a group, the group's name.
    pub group: Option<String>,
    /// For a group, how many components it holds.
    pub members: usize,
    pub status_label: &'static str,
    pub showcase: bool,
    /// First or last among its siblings: it cannot move further that way.
    pub first: bool,
    pub last: bool,
}

fn component_row(c: &ComponentRow, group: Option<String>) -> Row {
    Row {
        id: c.id.clone(),
        name: c.name.clone(),
        path: "components",
        is_group: false,
        group,
        members: 0,
        status_label: c.status().label(),
        showcase: c.showcase,
        first: false,
        last: false,
    }
}

/// Marks the first and last of a list of siblings.
fn mark_ends(rows: &mut [Row]) {
    let count = rows.len();
    for (index, row) in rows.iter_mut().enumerate() {
        row.first = index == 0;
        row.last = index + 1 == count;
    }
}

/// Groups and components in page order, each group followed by its components. The
/// top level mixes groups and ungrouped components, ordered like the store orders
/// them (position, then creation).
fn rows(tree: &ComponentTree) -> Vec<Row> {
    let top = tree.top_level();
    let count = top.len();
    let mut rows = Vec::new();
    for (index, item) in top.into_iter().enumerate() {
        let mut block = match item {
            TopLevel::Component(c) => vec![component_row(c, None)],
            TopLevel::Group(g, children) => {
                let mut children: Vec<Row> = children
                    .into_iter()
                    .map(|c| component_row(c, Some(g.name.clone())))
                    .collect();
                mark_ends(&mut children);
                let mut block = vec![Row {
                    id: g.id.clone(),
                    name: g.name.clone(),
                    path: "groups",
                    is_group: true,
                    group: None,
                    members: children.len(),
                    status_label: "",
                    showcase: false,
                    first: false,
                    last: false,
                }];
                block.extend(children);
                block
            }
        };
        // The block's first row is the top-level item; its ends are among the top level.
        block[0].first = index == 0;
        block[0].last = index + 1 == count;
        rows.extend(block);
    }
    rows
}

#[derive(Template)]
#[template(path = "admin/components.html")]
struct ListPage {
    layout: AdminLayout,
    rows: Vec<Row>,
}

async fn list(console: Console) -> ConsoleResult {
    console.require(Permission::EditComponents)?;
    let tree = console.store.list_components().await?;
    console.page(&ListPage {
        layout: console.layout("Components", "components"),
        rows: rows(&tree),
    })
}

/// Moves a component or a group one place up or down among its siblings.
async fn move_item(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::EditComponents)?;
    let step = match form.get("direction") {
        Some("up") => -1,
        Some("down") => 1,
        _ => {
            return Err(ConsoleError::BadRequest(
                "direction must be up or down".to_owned(),
            ))
        }
    };
    console
        .store
        .move_item(&path.into_inner(), step, Stamp::Clock)
        .await?;
    console.done(LIST, "Order saved.")
}

// --- components ------------------------------------------------------------------------

/// The component form as typed, kept when it comes back with problems.
#[derive(Default)]
struct ComponentFields {
    name: String,
    description: String,
    /// "" for no group.
    group_id: String,
    /// Only asked when adding: afterwards the dashboard sets it.
    status: String,
    showcase: bool,
}

impl ComponentFields {
    fn from_form(form: &Form) -> Self {
        ComponentFields {
            name: form.text("name"),
            description: form.text("description"),
            group_id: form.text("group_id"),
            status: form.text("status"),
            showcase: form.checked("showcase"),
        }
    }

    fn from_row(row: &ComponentRow) -> Self {
        ComponentFields {
            name: row.name.clone(),
            description: row.description.clone().unwrap_or_default(),
            group_id: row.group_id.clone().unwrap_or_default(),
            status: row.status.clone(),
            showcase: row.showcase,
        }
    }

    fn group(&self) -> Option<String> {
        Some(self.group_id.trim().to_owned()).filter(|g| !g.is_empty())
    }
}

/// A group to choose in a select.
pub struct GroupChoice {
    pub id: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "admin/components_form.html")]
struct ComponentPage {
    layout: AdminLayout,
    /// Where the form is sent; it is also where it is shown.
    action: String,
    /// Adding (the form asks for a status) or editing.
    is_new: bool,
    fields: ComponentFields,
    groups: Vec<GroupChoice>,
    statuses: Vec<StatusChoice>,
    errors: FormErrors,
    problems: Vec<String>,
}

const COMPONENT_FIELDS: [&str; 5] = ["name", "description", "group_id", "status", "showcase"];

/// Shows the component form: 200 when fresh, 422 when it came back with problems.
async fn component_form(
    console: &Console,
    title: String,
    action: String,
    is_new: bool,
    fields: ComponentFields,
    errors: FormErrors,
) -> ConsoleResult {
    let tree = console.store.list_components().await?;
    let page = ComponentPage {
        layout: console.layout(title, "components"),
        action,
        is_new,
        fields,
        groups: tree
            .groups
            .iter()
            .map(|g| GroupChoice {
                id: g.id.clone(),
                name: g.name.clone(),
            })
            .collect(),
        statuses: status_choices(),
        problems: errors.others(&COMPONENT_FIELDS),
        errors,
    };
    console.render(form_status(&page.errors), &page)
}

async fn new_component(console: Console) -> ConsoleResult {
    console.require(Permission::EditComponents)?;
    let fields = ComponentFields {
        status: ComponentStatus::Operational.as_str().to_owned(),
        showcase: true,
        ..ComponentFields::default()
    };
    let action = format!("{LIST}/new");
    let title = "Add a component".to_owned();
    component_form(&console, title, action, true, fields, FormErrors::default()).await
}

async fn create_component(console: Console, req: HttpRequest, body: Bytes) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::EditComponents)?;
    let fields = ComponentFields::from_form(&form);
    let mut errors = FormErrors::default();
    let name = errors.check(parse_name("name", &fields.name));
    let description = errors.check(parse_description("description", &fields.description));
    let status = errors.check(ComponentStatus::parse("status", &fields.status));
    if let (Some(name), Some(description), Some(status)) = (name, description, status) {
        let new = NewComponent {
            name,
            description,
            status: Some(status),
            group_id: fields.group(),
            showcase: Some(fields.showcase),
            ..NewComponent::default()
        };
        match console.store.create_component(&new, Stamp::Clock).await {
            Ok(row) => return console.done(LIST, &format!("{} added.", row.name)),
            Err(e) => errors.refusal(e, STORE_FIELDS)?,
        }
    }
    let action = format!("{LIST}/new");
    let title = "Add a component".to_owned();
    component_form(&console, title, action, true, fields, errors).await
}

/// The component `id`, or 404.
async fn find_component(console: &Console, id: &str) -> Result<ComponentRow, ConsoleError> {
    let tree = console.store.list_components().await?;
    tree.component(id)
        .cloned()
        .ok_or_else(|| ConsoleError::NotFound("component".to_owned()))
}

async fn edit_component(console: Console, path: web::Path<String>) -> ConsoleResult {
    console.require(Permission::EditComponents)?;
    let row = find_component(&console, &path).await?;
    let action = format!("{LIST}/{}/edit", row.id);
    let title = format!("Edit {}", row.name);
    let fields = ComponentFields::from_row(&row);
    component_form(
        &console,
        title,
        action,
        false,
        fields,
        FormErrors::default(),
    )
    .await
}

async fn update_component(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::EditComponents)?;
    let current = find_component(&console, &path).await?;
    let fields = ComponentFields::from_form(&form);
    let mut errors = FormErrors::default();
    let name = errors.check(parse_name("name", &fields.name));
    let description = errors.check(parse_description("description", &fields.description));
    if let (Some(name), Some(description)) = (name, description) {
        // Only what changed, so the audit log says what the edit did.
        let group_id = fields.group();
        let patch = ComponentPatch {
            name: (name != current.name).then_some(name),
            description: (description != current.description).then_some(description),
            group_id: (group_id != current.group_id).then_some(group_id),
            showcase: (fields.showcase != current.showcase).then_some(fields.showcase),
            ..ComponentPatch::default()
        };
        let unchanged = patch.name.is_none()
            && patch.description.is_none()
            && patch.group_id.is_none()
            && patch.showcase.is_none();
        if unchanged {
            return console.done(LIST, "Nothing changed.");
        }
        match console
            .store
            .update_component(&current.id, &patch, Stamp::Clock)
            .await
        {
            Ok(row) => return console.done(LIST, &format!("{} saved.", row.name)),
            Err(e) => errors.refusal(e, STORE_FIELDS)?,
        }
    }
    let action = format!("{LIST}/{}/edit", current.id);
    let title = format!("Edit {}", current.name);
    component_form(&console, title, action, false, fields, errors).await
}

/// "Are you sure?", for a component or a group.
#[derive(Template)]
#[template(path = "admin/components_delete.html")]
struct DeletePage {
    layout: AdminLayout,
    /// "component" or "group".
    kind: &'static str,
    name: String,
    action: String,
    /// What else the deletion does, in one sentence.
    consequence: &'static str,
}

async fn confirm_delete_component(console: Console, path: web::Path<String>) -> ConsoleResult {
    console.require(Permission::EditComponents)?;
    let row = find_component(&console, &path).await?;
    console.page(&DeletePage {
        layout: console.layout(format!("Delete {}", row.name), "components"),
        kind: "component",
        action: format!("{LIST}/{}/delete", row.id),
        name: row.name,
        consequence: "It disappears from the public page, its status history and uptime \
                      with it. A group left with no components is removed too.",
    })
}

async fn delete_component(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    console.form(&req, &body)?;
    console.require(Permission::EditComponents)?;
    let row = find_component(&console, &path).await?;
    console
        .store
        .delete_component(&row.id, Stamp::Clock)
        .await?;
    console.done(LIST, &format!("{} deleted.", row.name))
}

// --- groups ------------------------------------------------------------------------------

/// The group form as typed.
#[derive(Default)]
struct GroupFields {
    name: String,
    description: String,
    /// The ticked components, in page order.
    members: Vec<String>,
}

/// A component to tick as a member of the group.
pub struct MemberChoice {
    pub id: String,
    pub name: String,
    /// The group it is in now, when that is another one.
    pub elsewhere: Option<String>,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "admin/group_form.html")]
struct GroupPage {
    layout: AdminLayout,
    action: String,
    is_new: bool,
    fields: GroupFields,
    choices: Vec<MemberChoice>,
    errors: FormErrors,
    problems: Vec<String>,
}

const GROUP_FIELDS: [&str; 3] = ["name", "description", "components"];

/// A group needs at least one component (the store says so too; asking here shows it
/// together with the other problems of the form).
fn members(field: &str, ids: &[String]) -> Result<Vec<String>, DomainError> {
    if ids.is_empty() {
        Err(DomainError::new(
            field,
            "can't be empty: tick at least one component",
        ))
    } else {
        Ok(ids.to_vec())
    }
}

async fn group_form(
    console: &Console,
    title: String,
    action: String,
    group_id: Option<&str>,
    fields: GroupFields,
    errors: FormErrors,
) -> ConsoleResult {
    let tree = console.store.list_components().await?;
    let group_name = |id: &str| {
        tree.groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.name.clone())
    };
    let choices = rows(&tree)
        .into_iter()
        .filter(|row| !row.is_group)
        .map(|row| {
            let current = tree.component(&row.id).and_then(|c| c.group_id.clone());
            MemberChoice {
                elsewhere: current
                    .filter(|g| Some(g.as_str()) != group_id)
                    .and_then(|g| group_name(&g)),
                checked: fields.members.contains(&row.id),
                id: row.id,
                name: row.name,
            }
        })
        .collect();
    let page = GroupPage {
        layout: console.layout(title, "components"),
        action,
        is_new: group_id.is_none(),
        fields,
        choices,
        problems: errors.others(&GROUP_FIELDS),
        errors,
    };
    console.render(form_status(&page.errors), &page)
}

async fn new_group(console: Console) -> ConsoleResult {
    console.require(Permission::EditComponents)?;
    let action = "/admin/groups/new".to_owned();
    let title = "Add a group".to_owned();
    group_form(
        &console,
        title,
        action,
        None,
        GroupFields::default(),
        FormErrors::default(),
    )
    .await
}

impl GroupFields {
    fn from_form(form: &Form) -> Self {
        GroupFields {
            name: form.text("name"),
            description: form.text("description"),
            members: form.all("components"),
        }
    }
}

async fn create_group(console: Console, req: HttpRequest, body: Bytes) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::EditComponents)?;
    let fields = GroupFields::from_form(&form);
    let mut errors = FormErrors::default();
    let name = errors.check(parse_name("name", &fields.name));
    let description = errors.check(parse_description("description", &fields.description));
    let component_ids = errors.check(members("components", &fields.members));
    if let (Some(name), Some(description), Some(component_ids)) = (name, description, component_ids)
    {
        let new = NewGroup {
            name,
            description,
            component_ids,
        };
        match console.store.create_group(&new, Stamp::Clock).await {
            Ok(row) => return console.done(LIST, &format!("{} added.", row.name)),
            Err(e) => errors.refusal(e, STORE_FIELDS)?,
        }
    }
    let action = "/admin/groups/new".to_owned();
    let title = "Add a group".to_owned();
    group_form(&console, title, action, None, fields, errors).await
}

/// The group `id` and its components' ids in order, or 404.
async fn find_group(console: &Console, id: &str) -> Result<(GroupRow, Vec<String>), ConsoleError> {
    let tree = console.store.list_components().await?;
    let group = tree
        .groups
        .iter()
        .find(|g| g.id == id)
        .cloned()
        .ok_or_else(|| ConsoleError::NotFound("group".to_owned()))?;
    let members = tree.children(id).map(|c| c.id.clone()).collect();
    Ok((group, members))
}

async fn edit_group(console: Console, path: web::Path<String>) -> ConsoleResult {
    console.require(Permission::EditComponents)?;
    let (group, members) = find_group(&console, &path).await?;
    let fields = GroupFields {
        name: group.name.clone(),
        description: group.description.clone().unwrap_or_default(),
        members,
    };
    let action = format!("/admin/groups/{}/edit", group.id);
    let title = format!("Edit {}", group.name);
    group_form(
        &console,
        title,
        action,
        Some(&group.id),
        fields,
        FormErrors::default(),
    )
    .await
}

async fn update_group(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::EditComponents)?;
    let (group, current_members) = find_group(&console, &path).await?;
    let fields = GroupFields::from_form(&form);
    let mut errors = FormErrors::default();
    let name = errors.check(parse_name("name", &fields.name));
    let description = errors.check(parse_description("description", &fields.description));
    let component_ids = errors.check(members("components", &fields.members));
    if let (Some(name), Some(description), Some(component_ids)) = (name, description, component_ids)
    {
        // Members only when they changed: setting them renumbers the group.
        let patch = GroupPatch {
            name: Some(name),
            description: Some(description),
            component_ids: (component_ids != current_members).then_some(component_ids),
        };
        match console
            .store
            .update_group(&group.id, &patch, Stamp::Clock)
            .await
        {
            Ok(row) => return console.done(LIST, &format!("{} saved.", row.name)),
            Err(e) => errors.refusal(e, STORE_FIELDS)?,
        }
    }
    let action = format!("/admin/groups/{}/edit", group.id);
    let title = format!("Edit {}", group.name);
    group_form(&console, title, action, Some(&group.id), fields, errors).await
}

async fn confirm_delete_group(console: Console, path: web::Path<String>) -> ConsoleResult {
    console.require(Permission::EditComponents)?;
    let (group, _) = find_group(&console, &path).await?;
    console.page(&DeletePage {
        layout: console.layout(format!("Delete {}", group.name), "components"),
        kind: "group",
        action: format!("/admin/groups/{}/delete", group.id),
        name: group.name,
        consequence: "Its components stay: they move to the end of the page, outside any group.",
    })
}

async fn delete_group(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    console.form(&req, &body)?;
    console.require(Permission::EditComponents)?;
    let row = console
        .store
        .delete_group(&path.into_inner(), Stamp::Clock)
        .await?;
    let notice = format!(
        "{} deleted; its components are now outside any group.",
        row.name
    );
    console.done(LIST, &notice)
}

// --- shared by the admin screens ----------------------------------------------------------

/// An option of a select: the value sent, and the words shown.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
}

/// A form page is 200 when fresh and 422 when it comes back with problems.
pub fn form_status(errors: &FormErrors) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// `path?key=value&...`, leaving out empty values so links stay short.
pub fn link_with(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs.iter().filter(|(_, value)| !value.is_empty()) {
        query.append_pair(key, value);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_leave_out_empty_values_and_encode_the_rest() {
        assert_eq!(link_with("/admin/audit", &[("q", "")]), "/admin/audit");
        assert_eq!(
            link_with("/admin/audit", &[("q", "a b&c"), ("x", ""), ("page", "2")]),
            "/admin/audit?q=a+b%26c&page=2"
        );
    }
}
