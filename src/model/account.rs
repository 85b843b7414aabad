//! Users and the tokens they hold, as stored and listed.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees and changes every user's functions, registers users, reads `/metrics`.
    Admin,
    /// Sees and changes their own functions only.
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            other => Err(format!(
                "unknown role '{other}': expected 'admin' or 'user'"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Stable: what functions and invocations record as their owner.
    pub id: String,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// What a token is for: scripts send API tokens as bearer tokens; the dashboard's browser
/// sessions live in a cookie. Neither is accepted in the other's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Api,
    Session,
}

named_enum!(TokenKind, "token kind", { Api => "api", Session => "session" });

/// An API token or a browser session as listed: never its text.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// The public part of the token (`kdl_<id>_…`); revoke it with `DELETE /auth/tokens/{id}`.
    pub id: String,
    pub name: String,
    pub kind: TokenKind,
    pub created_at: DateTime<Utc>,
    /// `null`: never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When a request last used it (noted at most every few seconds).
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Neither revoked nor expired.
    pub active: bool,
}

impl TokenInfo {
    pub fn new(
        id: String,
        name: String,
        kind: TokenKind,
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        last_used_at: Option<DateTime<Utc>>,
        revoked_at: Option<DateTime<Utc>>,
    ) -> Self {
        let active = revoked_at.is_none() && expires_at.is_none_or(|expiry| expiry > Utc::now());
        Self {
            id,
            name,
            kind,
            created_at,
            expires_at,
            last_used_at,
            revoked_at,
            active,
        }
    }
}
