//! Console screens: the people who may sign in. Adding an account, changing a role,
//! setting a new password (which signs that person out everywhere) and removing an
//! account. The store refuses to remove or demote the last admin; the list then
//! says why.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;
use askama::Template;

use super::components::{form_status, Choice};
use super::{AdminLayout, Console, ConsoleError, ConsoleResult};
use crate::domain::account::{check_new_password, parse_user_email, Permission, Role};
use crate::store::{NewUser, StoreError, UserRow};
use crate::time::Stamp;
use crate::web::form::{Form, FormErrors};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users")
            .route(web::get().to(list))
            .route(web::post().to(add)),
    )
    .route("/users/{id}/role", web::post().to(change_role))
    .service(
        web::resource("/users/{id}/password")
            .route(web::get().to(password_form))
            .route(web::post().to(set_password)),
    )
    .service(
        web::resource("/users/{id}/remove")
            .route(web::get().to(confirm_remove))
            .route(web::post().to(remove)),
    );
}

const LIST: &str = "/admin/users";

/// The roles a select offers (the values `Role::parse` takes).
const ROLES: [Choice; 2] = [
    Choice {
        value: "responder",
        label: "responder",
    },
    Choice {
        value: "admin",
        label: "admin",
    },
];

/// One row of the list.
pub struct UserLine {
    pub id: String,
    pub email: String,
    pub role: &'static str,
    /// "never" until the first sign-in.
    pub last_sign_in: String,
    /// The signed-in person's own account.
    pub is_me: bool,
}

/// The add form as typed (the passwords are never sent back).
#[derive(Default)]
struct NewUserFields {
    email: String,
    role: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct ListPage {
    layout: AdminLayout,
    users: Vec<UserLine>,
    roles: &'static [Choice],
    /// Why a change from a row (role, removal) was refused.
    refusal: Option<String>,
    fields: NewUserFields,
    errors: FormErrors,
    problems: Vec<String>,
}

const ADD_FIELDS: [&str; 4] = ["email", "role", "password", "password_confirm"];

/// The list with the add form. 422 when either has something to say.
async fn list_page(
    console: &Console,
    refusal: Option<String>,
    fields: NewUserFields,
    errors: FormErrors,
) -> ConsoleResult {
    let users = console
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserLine {
            is_me: u.id == console.user.id,
            role: u.role().as_str(),
            last_sign_in: u
                .last_sign_in_at
                .map_or_else(|| "never".to_owned(), |at| console.time(at)),
            id: u.id,
            email: u.email,
        })
        .collect();
    let status = if refusal.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        form_status(&errors)
    };
    let page = ListPage {
        layout: console.layout("Users", "users"),
        users,
        roles: &ROLES,
        refusal,
        fields,
        problems: errors.others(&ADD_FIELDS),
        errors,
    };
    console.render(status, &page)
}

async fn list(console: Console) -> ConsoleResult {
    console.require(Permission::ManageUsers)?;
    let fields = NewUserFields {
        role: Role::Responder.as_str().to_owned(),
        ..NewUserFields::default()
    };
    list_page(&console, None, fields, FormErrors::default()).await
}

/// The new password, when it is acceptable and typed the same twice.
fn new_password(form: &Form, errors: &mut FormErrors) -> Option<String> {
    let password = form.text("password");
    let acceptable = errors.check(check_new_password("password", &password));
    if password != form.text("password_confirm") {
        errors.add("password_confirm", "does not match the password");
        return None;
    }
    acceptable.map(|()| password)
}

/// Argon2 is slow on purpose (tens of milliseconds of CPU): off the async workers.
async fn hash_password(password: String) -> Result<String, ConsoleError> {
    web::block(move || crate::password::hash(&password))
        .await
        .map_err(|e| ConsoleError::Internal(anyhow::anyhow!("password hashing: {e}")))?
        .map_err(ConsoleError::Internal)
}

async fn add(console: Console, req: HttpRequest, body: Bytes) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::ManageUsers)?;
    let fields = NewUserFields {
        email: form.text("email"),
        role: form.text("role"),
    };
    let mut errors = FormErrors::default();
    let email = errors.check(parse_user_email("email", &fields.email));
    let role = errors.check(Role::parse("role", &fields.role));
    let password = new_password(&form, &mut errors);
    if let (Some(email), Some(role), Some(password)) = (email, role, password) {
        let new = NewUser {
            email,
            role,
            password_hash: hash_password(password).await?,
        };
        match console.store.create_user(&new, Stamp::Clock).await {
            Ok(row) => {
                let notice = format!("{} can now sign in as {}.", row.email, row.role);
                return console.done(LIST, &notice);
            }
            Err(e) => errors.refusal(e, &[])?,
        }
    }
    list_page(&console, None, fields, errors).await
}

/// A change from a row that the store refused (the last admin) comes back as the
/// list with the reason on top; any other failure stays an error.
async fn refused_on_list(console: &Console, error: StoreError) -> ConsoleResult {
    match error {
        StoreError::Invalid(e) => {
            let fields = NewUserFields {
                role: Role::Responder.as_str().to_owned(),
                ..NewUserFields::default()
            };
            list_page(console, Some(e.message), fields, FormErrors::default()).await
        }
        other => Err(other.into()),
    }
}

async fn change_role(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::ManageUsers)?;
    let user = console.store.get_user(&path).await?;
    let role = Role::parse("role", &form.text("role"))
        .map_err(|e| ConsoleError::BadRequest(e.to_string()))?;
    match console
        .store
        .set_user_role(&user.email, role, Stamp::Clock)
        .await
    {
        Ok(row) => {
            let notice = format!("{} is now {}.", row.email, row.role);
            // Someone who just made themselves a responder may no longer see this list.
            let to = if row.id == console.user.id && role != Role::Admin {
                "/admin"
            } else {
                LIST
            };
            console.done(to, &notice)
        }
        Err(e) => refused_on_list(&console, e).await,
    }
}

#[derive(Template)]
#[template(path = "admin/users_password.html")]
struct PasswordPage {
    layout: AdminLayout,
    id: String,
    email: String,
    is_me: bool,
    errors: FormErrors,
    problems: Vec<String>,
}

async fn password_page(console: &Console, user: UserRow, errors: FormErrors) -> ConsoleResult {
    let page = PasswordPage {
        layout: console.layout(format!("New password for {}", user.email), "users"),
        is_me: user.id == console.user.id,
        id: user.id,
        email: user.email,
        problems: errors.others(&["password", "password_confirm"]),
        errors,
    };
    console.render(form_status(&page.errors), &page)
}

async fn password_form(console: Console, path: web::Path<String>) -> ConsoleResult {
    console.require(Permission::ManageUsers)?;
    let user = console.store.get_user(&path).await?;
    password_page(&console, user, FormErrors::default()).await
}

async fn set_password(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::ManageUsers)?;
    let user = console.store.get_user(&path).await?;
    let mut errors = FormErrors::default();
    if let Some(password) = new_password(&form, &mut errors) {
        let hash = hash_password(password).await?;
        match console
            .store
            .set_user_password(&user.email, &hash, Stamp::Clock)
            .await
        {
            Ok(row) => {
                let notice = format!(
                    "{} has a new password and is signed out everywhere.",
                    row.email
                );
                return console.done(LIST, &notice);
            }
            Err(e) => errors.refusal(e, &[])?,
        }
    }
    password_page(&console, user, errors).await
}

#[derive(Template)]
#[template(path = "admin/users_remove.html")]
struct RemovePage {
    layout: AdminLayout,
    id: String,
    email: String,
    is_me: bool,
}

async fn confirm_remove(console: Console, path: web::Path<String>) -> ConsoleResult {
    console.require(Permission::ManageUsers)?;
    let user = console.store.get_user(&path).await?;
    console.page(&RemovePage {
        layout: console.layout(format!("Remove {}", user.email), "users"),
        is_me: user.id == console.user.id,
        id: user.id,
        email: user.email,
    })
}

async fn remove(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    console.form(&req, &body)?;
    console.require(Permission::ManageUsers)?;
    let user = console.store.get_user(&path).await?;
    match console.store.remove_user(&user.email, Stamp::Clock).await {
        Ok(row) => console.done(LIST, &format!("{} can no longer sign in.", row.email)),
        Err(e) => refused_on_list(&console, e).await,
    }
}
