//! The `herald` command: wires settings, logging, the store and the server. All the
//! work lives in the library.

use anyhow::Context;
use clap::{Parser, Subcommand};

use herald::config::Settings;
use herald::domain::account::{check_new_password, parse_user_email, Actor, Role};
use herald::store::{NewUser, Store};
use herald::time::Stamp;
use herald::web::auth::{generate_key, hash_key};
use herald::web::Application;
use herald::{content, telemetry, time};

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Self-hosted incident status page and postmortem publisher"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Fill an empty database with a fictional history first (see `herald demo`).
    #[arg(long)]
    demo: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the status page and APIs (the default when no command is given).
    Serve(ServeArgs),
    /// Run only the delivery worker (mail), e.g. on another machine than the web.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage the people who sign in to the console at /admin.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys for the /v1 management API.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Work with the files under content/.
    #[command(subcommand)]
    Content(ContentCommand),
    /// Postmortems kept as files under content/postmortems/.
    #[command(subcommand)]
    Postmortem(PostmortemCommand),
    /// Fill an empty database with a fictional history, to see a living page.
    Demo,
}

#[derive(Subcommand)]
enum PostmortemCommand {
    /// Write content/postmortems/DATE-NAME.md for an incident, pre-filled from it.
    New { incident_id: String },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create a key; the key itself is printed once, alone on the last line.
    Create { name: String },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by its id.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add an account. The password is asked for (or read from the first line of
    /// standard input when it is not a terminal).
    Add {
        email: String,
        /// admin: everything; responder: incidents, postmortems, maintenance and
        /// component status.
        #[arg(long)]
        role: String,
    },
    /// List accounts.
    List,
    /// Remove an account (not the last admin).
    Remove { email: String },
    /// Set a new password (asked for as with add); signs the account out everywhere.
    Password { email: String },
}

#[derive(Subcommand)]
enum ContentCommand {
    /// Apply content/site.toml to the database (also done at every start).
    Sync,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load()?;
    telemetry::init(&settings.log_format);
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            let app = Application::build(&settings).await?;
            if args.demo {
                report_demo(herald::demo::fill(&app.state.store).await?);
                report_demo_account(&app.state.store, &settings).await?;
            }
            app.run_until_stopped().await?;
        }
        Command::Demo => {
            let store = connect(&settings).await?;
            content::sync(&store, &settings.content_dir).await?;
            report_demo(herald::demo::fill(&store).await?);
            report_demo_account(&store, &settings).await?;
        }
        Command::Postmortem(PostmortemCommand::New { incident_id }) => {
            let store = connect(&settings).await?;
            let record = store
                .get_incident(&incident_id)
                .await
                .with_context(|| format!("incident {incident_id}"))?;
            let tree = store.list_components().await?;
            let page = store.page().await?;
            let zone = herald::time::PageZone::parse(&page.time_zone)
                .unwrap_or_else(herald::time::PageZone::utc);
            let (name, text) = content::postmortems::template(&record, &tree, zone);
            let dir = settings.content_dir.join("postmortems");
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(name);
            anyhow::ensure!(
                !path.exists(),
                "{} exists already: edit it instead",
                path.display()
            );
            std::fs::write(&path, text)?;
            println!("{}", path.display());
        }
        Command::Worker => {
            let store = connect(&settings).await?;
            let site = content::load(&settings.content_dir)?;
            let base_url = herald::web::public_url(&settings, site.public_url, &settings.bind);
            let links =
                herald::notify::links::LinkSigner::new(&store.secret("links").await?, &base_url);
            let store = store.acting_as(Actor::Scheduler);
            let worker = herald::web::build_worker(&settings, &store, links).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let running = tokio::spawn(worker.run(stopped));
            tracing::info!("delivery worker running; stop with Ctrl-C or SIGTERM");
            shutdown_signal().await;
            let _ = stop.send(true);
            let _ = running.await;
        }
        Command::Migrate => {
            connect(&settings).await?;
            println!("migrations applied");
        }
        Command::ApiKey(command) => api_key(&settings, command).await?,
        Command::User(command) => user(&settings, command).await?,
        Command::Content(ContentCommand::Sync) => {
            let store = connect(&settings).await?;
            let report = content::sync(&store, &settings.content_dir).await?;
            println!(
                "site.toml: {} created, {} updated, {} unchanged",
                report.created, report.updated, report.unchanged
            );
            let pm = &report.postmortems;
            println!(
                "postmortems: {} applied, {} unchanged, {} refused",
                pm.applied,
                pm.unchanged,
                pm.errors.len()
            );
            for error in &pm.errors {
                eprintln!("{error}");
            }
            anyhow::ensure!(
                pm.errors.is_empty(),
                "{} postmortem file(s) refused",
                pm.errors.len()
            );
        }
    }
    Ok(())
}

fn report_demo(outcome: herald::demo::DemoOutcome) {
    match outcome {
        herald::demo::DemoOutcome::Filled { incidents } => {
            tracing::info!(incidents, "demo history written (fictional)")
        }
        herald::demo::DemoOutcome::NotEmpty => {
            tracing::info!("the database has incidents already: no demo history written")
        }
    }
}

/// Makes the demo's console account when there is none, and says how to sign in.
async fn report_demo_account(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    if let Some((email, password)) = herald::demo::demo_account(store).await? {
        println!(
            "demo console: http://{}/admin  email {email}  password {password}  (shown only now)",
            settings.bind
        );
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return ctrl_c.await.unwrap_or_default(),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or_default();
}

async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    let store = Store::connect(&settings.database_url)
        .await
        .with_context(|| "connecting to the database (HERALD_DATABASE_URL)")?;
    Ok(store.acting_as(Actor::cli()))
}

/// A new password: typed twice at a prompt, or the first line of standard input when
/// that is not a terminal (scripts, `echo ... | herald user add`).
fn read_new_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ; nothing changed");
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    check_new_password("password", &password)?;
    Ok(password)
}

async fn user(settings: &Settings, command: UserCommand) -> anyhow::Result<()> {
    let store = connect(settings).await?;
    match command {
        UserCommand::Add { email, role } => {
            let email = parse_user_email("EMAIL", &email)?;
            let role = Role::parse("--role", &role)?;
            let password = read_new_password()?;
            let new = NewUser {
                email,
                role,
                password_hash: herald::password::hash(&password)?,
            };
            let row = store.create_user(&new, Stamp::Clock).await?;
            println!("added {} ({}); sign in at /admin", row.email, row.role);
        }
        UserCommand::List => {
            for user in store.list_users().await? {
                let last = user
                    .last_sign_in_at
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "never".to_owned());
                println!("{}  {}  last sign-in {}", user.email, user.role, last);
            }
        }
        UserCommand::Remove { email } => {
            let email = parse_user_email("EMAIL", &email)?;
            let row = store.remove_user(&email, Stamp::Clock).await?;
            println!("removed {} ({})", row.email, row.role);
        }
        UserCommand::Password { email } => {
            let email = parse_user_email("EMAIL", &email)?;
            store
                .find_user_by_email(&email)
                .await?
                .with_context(|| format!("no account {email}"))?;
            let password = read_new_password()?;
            let hash = herald::password::hash(&password)?;
            store.set_user_password(&email, &hash, Stamp::Clock).await?;
            println!("new password set for {email}; its sessions are signed out");
        }
    }
    Ok(())
}

async fn api_key(settings: &Settings, command: ApiKeyCommand) -> anyhow::Result<()> {
    let store = connect(settings).await?;
    match command {
        ApiKeyCommand::Create { name } => {
            let name = name.trim();
            anyhow::ensure!(!name.is_empty(), "NAME can't be blank");
            let key = generate_key();
            let row = store
                .create_api_key(name, &hash_key(&key), time::now())
                .await?;
            println!(
                "created API key {} ({}); it is shown only now:",
                row.id, row.name
            );
            println!("{key}");
        }
        ApiKeyCommand::List => {
            for key in store.list_api_keys().await? {
                let state = match key.revoked_at {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M UTC")),
                    None => "active".to_owned(),
                };
                let used = key
                    .last_used_at
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "never".to_owned());
                println!(
                    "{}  {}  created {}  last used {}  {}",
                    key.id,
                    key.name,
                    key.created_at.format("%Y-%m-%d %H:%M UTC"),
                    used,
                    state
                );
            }
        }
        ApiKeyCommand::Revoke { id } => {
            let key = store
                .revoke_api_key(&id, time::now())
                .await
                .with_context(|| format!("revoking {id}"))?;
            println!("revoked API key {} ({})", key.id, key.name);
        }
    }
    store.close().await;
    Ok(())
}
