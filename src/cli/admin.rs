//! `kindling admin`: account operations for the operator of a server, on the server's machine.
//! They work on the data dir's database directly, so they need no token and work while the
//! server runs (SQLite serialises the writes).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::read_password;
use crate::auth::{Accounts, IssuedToken};
use crate::config::{Config, Overrides};
use crate::model::Role;
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
