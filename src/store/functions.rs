//! Functions and their versions.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{Store, StoreError, conflict};
use crate::model::Function;
use crate::secrets::SecretKey;

const SELECT_CURRENT: &str = "SELECT f.id, f.owner, f.name, f.route, f.created_at, f.updated_at,
        v.version, v.language, v.code_sha256, v.code_size, v.handler, v.timeout_secs,
        v.memory_mb, v.env, v.runtime, v.max_concurrency, v.min_warm, v.keep_alive_secs
    FROM functions f JOIN function_versions v ON v.function_id = f.id AND v.version = f.version";

impl Store {
    /// The current version of every function.
    pub async fn load_functions(&self) -> Result<Vec<Function>, StoreError> {
        sqlx::query(SELECT_CURRENT)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| self.function_from_row(row))
            .collect()
    }

    /// Stores a new function (its version 1), if its owner is a user still.
    pub async fn insert_function(&self, function: &Function) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // A request that was let in just before its user was deleted makes nothing.
        let inserted = sqlx::query(
            "INSERT INTO functions (id, owner, name, route, version, created_at, updated_at)
             SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)",
        )
        .bind(&*function.id)
        .bind(&function.owner)
        .bind(&function.name)
        .bind(&function.route)
        .bind(function.version)
        .bind(function.created_at.timestamp_millis())
        .bind(function.updated_at.timestamp_millis())
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::UnknownOwner);
        }
        self.insert_version(&mut tx, function).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores `function` as the new current version of its function.
    pub async fn update_function(&self, function: &Function) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        self.insert_version(&mut tx, function).await?;
        sqlx::query(
            "UPDATE functions SET name = $2, route = $3, version = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(&*function.id)
        .bind(&function.name)
        .bind(&function.route)
        .bind(function.version)
        .bind(function.updated_at.timestamp_millis())
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a function and its versions (its invocations stay); returns the code digests
    /// of its versions.
    pub async fn delete_function(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let digests = sqlx::query_scalar(
            "DELETE FROM function_versions WHERE function_id = $1 RETURNING code_sha256",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM functions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(digests)
    }

    /// Makes every function of `from` the function of `to` (their invocation records stay
    /// `from`'s).
    pub async fn transfer_functions(&self, from: &str, to: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE functions SET owner = $2 WHERE owner = $1")
            .bind(from)
            .bind(to)
            .execute(&self.pool)
            .await
            .map_err(conflict)?;
        Ok(())
    }

    /// A function's versions, newest first: those before version `before` (all without it),
    /// at most `limit`.
    pub async fn function_versions(
        &self,
        id: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Function>, StoreError> {
        let newest = before.map_or(i64::MAX, |before| before.saturating_sub(1));
        self.select_versions(id, (i64::MIN, newest), limit).await
    }

    /// Version `version` of a function.
    pub async fn function_version(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<Function>, StoreError> {
        Ok(self.select_versions(id, (version, version), 1).await?.pop())
    }

    /// A function's versions from `oldest` to `newest`, newest first, at most `limit`.
    async fn select_versions(
        &self,
        id: &str,
        (oldest, newest): (i64, i64),
        limit: u32,
    ) -> Result<Vec<Function>, StoreError> {
        sqlx::query(
            "SELECT f.id, f.owner, f.name, f.route, f.created_at, v.created_at AS updated_at,
                    v.version, v.language, v.code_sha256, v.code_size, v.handler, v.timeout_secs,
                    v.memory_mb, v.env, v.runtime, v.max_concurrency, v.min_warm, v.keep_alive_secs
             FROM functions f JOIN function_versions v ON v.function_id = f.id
             WHERE f.id = $1 AND v.version BETWEEN $2 AND $3 ORDER BY v.version DESC LIMIT $4",
        )
        .bind(id)
        .bind(oldest)
        .bind(newest)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| self.function_from_row(row))
        .collect()
    }

    /// Seals the environments stored in plain text (by a version before sealing existed), then
    /// rewrites the database file so that their plain text is gone from its free pages and its
    /// WAL too.
    pub(super) async fn seal_plaintext_environments(&self) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "SELECT function_id, version, env FROM function_versions WHERE env NOT LIKE 'sealed:%'",
        )
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for row in &rows {
            let function_id: String = row.try_get("function_id")?;
            let version: i64 = row.try_get("version")?;
            let env: String = row.try_get("env")?;
            let sealed = self
                .key
                .seal(env.as_bytes(), &env_context(&function_id, version))?;
            sqlx::query(
                "UPDATE function_versions SET env = $3 WHERE function_id = $1 AND version = $2",
            )
            .bind(&function_id)
            .bind(version)
            .bind(sealed)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        sqlx::query("VACUUM").execute(&self.pool).await?;
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await?;
        if busy != 0 {
            tracing::warn!(
                "the WAL could not be truncated yet: it may hold plain-text environments until the next checkpoint"
            );
        }
        tracing::info!(
            versions = rows.len(),
            "sealed the function environments stored in plain text"
        );
        Ok(())
    }

    async fn insert_version(
        &self,
        tx: &mut sqlx::SqliteConnection,
        function: &Function,
    ) -> Result<(), StoreError> {
        let env =
            serde_json::to_string(&function.env).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let env = self
            .key
            .seal(env.as_bytes(), &env_context(&function.id, function.version))?;
        sqlx::query(
            "INSERT INTO function_versions (function_id, version, language, code_sha256, code_size,
             handler, timeout_secs, memory_mb, env, runtime, created_at, max_concurrency, min_warm,
             keep_alive_secs)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&*function.id)
        .bind(function.version)
        .bind(function.language.as_str())
        .bind(&function.code_sha256)
        .bind(function.code_size as i64)
        .bind(&function.handler)
        .bind(function.timeout as i64)
        .bind(function.memory_mb as i64)
        .bind(env)
        .bind(function.runtime.as_str())
        .bind(function.updated_at.timestamp_millis())
        .bind(function.max_concurrency.map(i64::from))
        .bind(i64::from(function.min_warm))
        .bind(function.keep_alive_secs.map(i64::from))
        .execute(tx)
        .await?;
        Ok(())
    }

    fn function_from_row(&self, row: &SqliteRow) -> Result<Function, StoreError> {
        let corrupt =
            |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{what}: {e}"));
        let text = |column: &str| row.try_get::<String, _>(column);
        let id = text("id")?;
        let version = row.try_get("version")?;
        let env = text("env")?;
        let env = match SecretKey::is_sealed(&env) {
            true => self.key.open(&env, &env_context(&id, version))?,
            false => env.into_bytes(),
        };
        Ok(Function {
            id: Arc::from(id),
            owner: text("owner")?,
            name: text("name")?,
            route: row.try_get("route")?,
            language: text("language")?
                .parse()
                .map_err(|e: String| corrupt("language", &e))?,
            handler: text("handler")?,
            timeout: row.try_get::<i64, _>("timeout_secs")? as u32,
            memory_mb: row.try_get::<i64, _>("memory_mb")? as u32,
            env: serde_json::from_slice(&env).map_err(|e| corrupt("env", &e))?,
            runtime: text("runtime")?
                .parse()
                .map_err(|e: String| corrupt("runtime", &e))?,
            max_concurrency: row
                .try_get::<Option<i64>, _>("max_concurrency")?
                .map(|v| v as u32),
            min_warm: row.try_get::<i64, _>("min_warm")? as u32,
            keep_alive_secs: row
                .try_get::<Option<i64>, _>("keep_alive_secs")?
                .map(|v| v as u32),
            version,
            code_sha256: text("code_sha256")?,
            code_size: row.try_get::<i64, _>("code_size")? as u64,
            created_at: millis(row.try_get("created_at")?),
            updated_at: millis(row.try_get("updated_at")?),
        })
    }
}

/// What a function version's sealed environment is bound to.
fn env_context(function_id: &str, version: i64) -> Vec<u8> {
    format!("function_versions.env:{function_id}:{version}").into_bytes()
}

/// Unix milliseconds as a timestamp.
pub(super) fn millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
