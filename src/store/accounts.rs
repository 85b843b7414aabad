//! Users and their API tokens.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::functions::millis;
use super::{Store, StoreError, conflict};
use crate::model::{QuotaOverrides, TokenInfo, User};

/// A token as the check of a request needs it: its digest, its state and its user.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub info: TokenInfo,
    pub digest: String,
    pub user: User,
}

/// The owner functions and invocations had before accounts existed.
const PRE_ACCOUNTS_OWNER: &str = "local";

/// User columns are `user_*` in every query, so that one mapping reads them. (Macros, so that
/// `concat!` makes whole queries of them: sqlx takes only literal SQL.)
macro_rules! select_user {
    () => {
        "SELECT id AS user_id, name AS user_name, role AS user_role,
            created_at AS user_created_at, password_hash
         FROM users "
    };
}

macro_rules! select_token {
    () => {
        "SELECT t.id, t.name, t.kind, t.digest, t.created_at, t.expires_at, t.last_used_at, t.revoked_at,
            u.id AS user_id, u.name AS user_name, u.role AS user_role,
            u.created_at AS user_created_at
         FROM api_tokens t JOIN users u ON u.id = t.user_id "
    };
}

impl Store {
    /// Stores the first administrator with its first token, if there is no user yet; returns
    /// whether it did. Functions and invocations from before accounts existed (owner `local`,
    /// the single implicit administrator of that time) become this administrator's: they were
    /// made by whoever ran the server, which is who this account is for.
    pub async fn bootstrap_admin(
        &self,
        admin: &User,
        token: &TokenInfo,
        digest: &str,
    ) -> Result<bool, StoreError> {
        // IMMEDIATE: it reads, then writes (see `store::retention`).
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        if users > 0 {
            return Ok(false);
        }
        insert_user(&mut tx, admin, None).await?;
        insert_token(&mut tx, &admin.id, token, digest).await?;
        for adopt in [
            "UPDATE functions SET owner = $1 WHERE owner = $2",
            "UPDATE invocations SET owner = $1 WHERE owner = $2",
        ] {
            sqlx::query(adopt)
                .bind(&admin.id)
                .bind(PRE_ACCOUNTS_OWNER)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a new user; a taken name is a `Conflict`.
    pub async fn insert_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await?;
        insert_user(&mut connection, user, password_hash).await
    }

    /// A user and their password hash, by name.
    pub async fn user_by_name(
        &self,
        name: &str,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        sqlx::query(concat!(select_user!(), "WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?)))
            .transpose()
    }

    /// Every user, oldest first.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query(concat!(select_user!(), "ORDER BY created_at, name"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    /// The quota overrides of every user (`None`: one user's), by user id; users without any
    /// are left out.
    pub async fn quota_overrides(
        &self,
        user_id: Option<&str>,
    ) -> Result<HashMap<String, QuotaOverrides>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, quotas FROM users WHERE quotas IS NOT NULL AND ($1 IS NULL OR id = $1)",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, quotas)| {
                let overrides = serde_json::from_str(&quotas)
                    .map_err(|e| StoreError::Corrupt(format!("quotas of user {id}: {e}")))?;
                Ok((id, overrides))
            })
            .collect()
    }

    /// Sets a user's quota overrides (all `None`: the defaults again).
    pub async fn set_quota_overrides(
        &self,
        user_id: &str,
        overrides: &QuotaOverrides,
    ) -> Result<(), StoreError> {
        let quotas = (*overrides != QuotaOverrides::default())
            .then(|| serde_json::to_string(overrides))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("UPDATE users SET quotas = $2 WHERE id = $1")
            .bind(user_id)
            .bind(quotas)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes every active token and browser session of a user.
    pub async fn revoke_tokens(&self, user_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(at.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a user and, with them, their tokens and browser sessions. (Their functions must
    /// have been deleted or handed over first; their invocation records stay until retention
    /// prunes them.)
    pub async fn delete_user(&self, user_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn insert_token(
        &self,
        user_id: &str,
        token: &TokenInfo,
        digest: &str,
    ) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await?;
        insert_token(&mut connection, user_id, token, digest).await
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        sqlx::query(concat!(select_token!(), "WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    /// The tokens of one user, or of everyone, newest first.
    pub async fn tokens(&self, user_id: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        sqlx::query(concat!(
            select_token!(),
            "WHERE ($1 IS NULL OR t.user_id = $1) ORDER BY t.created_at DESC, t.id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token_from_row)
        .collect()
    }

    /// Revokes one token (if still active); returns whether it did.
    pub async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(at.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Revokes every active token of a user and stores a new one, at once.
    pub async fn replace_tokens(
        &self,
        user_id: &str,
        token: &TokenInfo,
        digest: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(token.created_at.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        insert_token(&mut tx, user_id, token, digest).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the browser sessions of a user that were revoked or expired before `ended`.
    pub async fn forget_sessions(
        &self,
        user_id: &str,
        ended: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM api_tokens WHERE user_id = $1 AND kind = 'session'
               AND (revoked_at < $2 OR expires_at < $2)",
        )
        .bind(user_id)
        .bind(ended.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at.timestamp_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

async fn insert_user(
    connection: &mut sqlx::SqliteConnection,
    user: &User,
    password_hash: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&user.id)
    .bind(&user.username)
    .bind(user.role.as_str())
    .bind(password_hash)
    .bind(user.created_at.timestamp_millis())
    .execute(connection)
    .await
    .map_err(conflict)?;
    Ok(())
}

async fn insert_token(
    connection: &mut sqlx::SqliteConnection,
    user_id: &str,
    token: &TokenInfo,
    digest: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, kind, digest, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&token.id)
    .bind(user_id)
    .bind(&token.name)
    .bind(token.kind.as_str())
    .bind(digest)
    .bind(token.created_at.timestamp_millis())
    .bind(token.expires_at.map(|t| t.timestamp_millis()))
    .execute(connection)
    .await?;
    Ok(())
}

fn user_from_row(row: &SqliteRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get("user_id")?,
        username: row.try_get("user_name")?,
        role: row
            .try_get::<String, _>("user_role")?
            .parse()
            .map_err(StoreError::Corrupt)?,
        created_at: millis(row.try_get("user_created_at")?),
    })
}

fn token_from_row(row: &SqliteRow) -> Result<TokenRecord, StoreError> {
    let optional_time = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(millis))
    };
    Ok(TokenRecord {
        info: TokenInfo::new(
            row.try_get("id")?,
            row.try_get("name")?,
            row.try_get::<String, _>("kind")?
                .parse()
                .map_err(StoreError::Corrupt)?,
            millis(row.try_get("created_at")?),
            optional_time("expires_at")?,
            optional_time("last_used_at")?,
            optional_time("revoked_at")?,
        ),
        digest: row.try_get("digest")?,
        user: user_from_row(row)?,
    })
}
