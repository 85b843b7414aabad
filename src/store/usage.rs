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
