//! `kindling admin`: account operations for the operator of a server. `create-user` and
//! `reset-token` work on the data dir's database directly, on the server's machine: they need
//! no token and work while the server runs (SQLite serialises the writes). `delete-user` and
//! `quotas` change what the running server holds in memory too (its functions, instances and
//! the quotas it enforces), so they go through its API, with an administrator's token.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use reqwest::Method;

use super::client::{Client, ClientArgs, print, segment};
use super::read_password;
use crate::auth::{Accounts, IssuedToken};
use crate::config::{Config, Overrides};
use crate::model::Role;
use crate::quotas::QuotaOverrides;
use crate::store::Store;

/// Where the server keeps its data.
#[derive(Args)]
pub struct ServerData {
    /// The server's data dir [default: the config's, else ./kindling-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The server's TOML settings file.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Make a user and print an API token for them (on stdout, shown once).
    CreateUser {
        username: String,
        /// Make an administrator.
        #[arg(long)]
        admin: bool,
        /// Their password, for `POST /auth/login` (visible to other local users in the process
        /// list: prefer --password-stdin). Without either, the user signs in with tokens only.
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        server: ServerData,
    },
    /// Revoke every token of a user and print a new one (on stdout, shown once).
    ResetToken {
        username: String,
        #[command(flatten)]
        server: ServerData,
    },
    /// Delete a user, through the running server: their tokens and sessions stop working at
    /// once; their functions are deleted, or handed over to another user.
    #[command(group = clap::ArgGroup::new("functions").required(true))]
    DeleteUser {
        username: String,
        /// Delete the user's functions (their idle instances are killed).
        #[arg(long, group = "functions")]
        delete_functions: bool,
        /// Hand the user's functions over to this user instead.
        #[arg(long, value_name = "USER", group = "functions")]
        transfer_to: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a user's quotas, or change some of them, through the running server.
    Quotas {
        username: String,
        /// The quotas to change; those not given keep their value.
        #[command(flatten)]
        changes: QuotaOverrides,
        /// Put every quota back to the default first (then apply the ones given).
        #[arg(long)]
        reset: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateUser {
            username,
            admin,
            password,
            password_stdin,
            server,
        } => {
            let password = match (password, password_stdin) {
                (Some(password), _) => Some(password),
                (None, true) => Some(read_password("password for the new user")?),
                (None, false) => None,
            };
            let accounts = open(server).await?;
            let role = if admin { Role::Admin } else { Role::User };
            let user = accounts
                .create_user(&username, role, password.as_deref())
                .await?;
            let token = accounts
                .replace_tokens(&user.username, "kindling admin create-user")
                .await?;
            eprintln!(
                "created {} '{}' (id {}); their API token, shown once:",
                role.as_str(),
                user.username,
                user.id
            );
            print_token(&token);
        }
        AdminCommand::ResetToken { username, server } => {
            let token = open(server)
                .await?
                .replace_tokens(&username, "kindling admin reset-token")
                .await?;
            eprintln!("revoked every token of '{username}'; the new one, shown once:");
            print_token(&token);
        }
        AdminCommand::DeleteUser {
            username,
            delete_functions: _,
            transfer_to,
            client,
        } => {
            let choice = match &transfer_to {
                Some(to) => format!("functions=transfer&to={}", segment(to)),
                None => "functions=delete".to_owned(),
            };
            let path = format!("/auth/users/{}?{choice}", segment(&username));
            let answer = Client::new(client)
                .send(Method::DELETE, &path, None)
                .await?;
            eprintln!("deleted '{username}'; their tokens and sessions no longer work");
            print(&answer);
        }
        AdminCommand::Quotas {
            username,
            changes,
            reset,
            client,
        } => {
            let client = Client::new(client);
            let path = format!("/auth/users/{}/quotas", segment(&username));
            let mut answer = client.send(Method::GET, &path, None).await?;
            if reset || changes != QuotaOverrides::default() {
                let current = match reset {
                    true => QuotaOverrides::default(),
                    false => serde_json::from_value(answer["overrides"].take())
                        .context("the server's answer holds no quota overrides")?,
                };
                let body = serde_json::to_value(changes.or(current))?;
                answer = client.send(Method::PUT, &path, Some(body)).await?;
                eprintln!("changed the quotas of '{username}'");
            }
            print(&answer);
        }
    }
    Ok(())
}

/// The accounts of an existing server's data dir.
async fn open(server: ServerData) -> anyhow::Result<Accounts> {
    let overrides = Overrides {
        data_dir: server.data_dir,
        ..Overrides::default()
    };
    let config = Config::load(server.config.as_deref(), overrides)?;
    let database = config.data_dir.join("kindling.db");
    if !database.is_file() {
        bail!(
            "no Kindling database at {}: pass the server's --data-dir (or --config)",
            database.display()
        );
    }
    let store = Store::open(&config.data_dir)
        .await
        .with_context(|| format!("opening {}", database.display()))?;
    Ok(Accounts::open(store, &config.data_dir, true, config.accounts).await?)
}

fn print_token(token: &IssuedToken) {
    println!("{}", token.token);
}
