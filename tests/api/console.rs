//! A browser-like client for the console: keeps cookies, does not follow redirects
//! (tests look at them), and fills in each form's CSRF token from the last page.

use herald::domain::account::Role;
use herald::store::NewUser;
use reqwest::redirect::Policy;

use crate::helpers::{Reply, TestApp};

/// The password every test account gets.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct ConsoleClient {
    pub client: reqwest::Client,
    base: String,
    /// The CSRF token of the last page that had a form.
    pub csrf: String,
}

impl TestApp {
    /// Adds an account with [`PASSWORD`].
    pub async fn add_user(&self, email: &str, role: Role) {
        let new = NewUser {
            email: email.to_owned(),
            role,
            password_hash: herald::password::hash(PASSWORD).unwrap(),
        };
        self.store
            .create_user(&new, herald::time::Stamp::Clock)
            .await
            .unwrap();
    }

    /// A client with no session yet (it has fetched the sign-in form).
    pub async fn console_client(&self) -> ConsoleClient {
        let mut client = ConsoleClient {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: self.address.clone(),
            csrf: String::new(),
        };
        client.get("/admin/sign-in").await.expect(200);
        client
    }

    /// A new account of `role`, signed in.
    pub async fn console(&self, email: &str, role: Role) -> ConsoleClient {
        self.add_user(email, role).await;
        let mut client = self.console_client().await;
        let reply = client.sign_in(email, PASSWORD).await;
        assert_eq!(reply.status.as_u16(), 303, "sign-in failed: {}", reply.text);
        client
    }
}

/// The value of the first `name="csrf"` field in a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

impl ConsoleClient {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let res = self.client.get(self.url(path)).send().await.unwrap();
        let reply = Reply::read(res).await;
        if let Some(token) = csrf_in(&reply.text) {
            self.csrf = token;
        }
        reply
    }

    /// POSTs a form with the current CSRF token added.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let csrf = self.csrf.clone();
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// POSTs exactly these fields (no token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let res = self
            .client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .unwrap();
        let reply = Reply::read(res).await;
        if let Some(token) = csrf_in(&reply.text) {
            self.csrf = token;
        }
        reply
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Reply {
        self.post(
            "/admin/sign-in",
            &[("email", email), ("password", password), ("next", "/admin")],
        )
        .await
    }

    /// Follows a 303 and returns the page it leads to.
    pub async fn follow(&mut self, reply: &Reply) -> Reply {
        assert_eq!(
            reply.status.as_u16(),
            303,
            "expected a redirect; body: {}",
            reply.text
        );
        let to = reply.headers["location"].to_str().unwrap().to_owned();
        self.get(&to).await
    }
}

/// The `Location` of a redirect.
pub fn location(reply: &Reply) -> String {
    reply.headers["location"].to_str().unwrap().to_owned()
}
