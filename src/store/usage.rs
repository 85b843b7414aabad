//! What a user's stored things add up to, for their quotas.

use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// Bytes of code kept for `owner`'s functions, every stored version counted.
    pub async fn code_bytes_of(&self, owner: &str) -> Result<u64, StoreError> {
        let total: i64 = sqlx::query(
            "SELECT COALESCE(SUM(v.code_size), 0) FROM function_versions v
             JOIN functions f ON f.id = v.function_id WHERE f.owner = $1",
        )
        .bind(owner)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        Ok(total.max(0) as u64)
    }

    /// The code size of each stored version of a function, newest first.
    pub async fn version_sizes(&self, function_id: &str) -> Result<Vec<u64>, StoreError> {
        let rows = sqlx::query(
            "SELECT code_size FROM function_versions WHERE function_id = $1 ORDER BY version DESC",
        )
        .bind(function_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<i64, _>(0)?.max(0) as u64))
            .collect()
    }
}

impl Store {
    /// Deletes a function's versions beyond its newest `keep` (never its current one); returns
    /// the code digests of those that went. (When versions can be named by aliases, those
    /// named must be kept too.)
    pub async fn prune_versions(
        &self,
        function_id: &str,
        keep: u32,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "DELETE FROM function_versions WHERE function_id = $1
               AND version NOT IN (SELECT version FROM function_versions WHERE function_id = $1
                                   ORDER BY version DESC LIMIT $2)
               AND version <> (SELECT version FROM functions WHERE id = $1)
             RETURNING code_sha256",
        )
        .bind(function_id)
        .bind(i64::from(keep.max(1)))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Which of `digests` no function version uses (any more).
    pub async fn unused_code(&self, digests: &[String]) -> Result<Vec<String>, StoreError> {
        let mut unused = Vec::new();
        for digest in digests {
            let used: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM function_versions WHERE code_sha256 = $1 LIMIT 1",
            )
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
            if used.is_none() && !unused.contains(digest) {
                unused.push(digest.clone());
            }
        }
        Ok(unused)
    }

    /// The code digest of every stored version.
    pub async fn used_code(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT code_sha256 FROM function_versions")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect(),
        )
    }
}
