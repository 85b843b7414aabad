//! Content-addressed, immutable storage of function code: `<dir>/<sha256[..2]>/<sha256>`, each
//! file 0600 in 0700 directories.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::data_dir;

#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        data_dir::create_private_dir(&dir)?;
        Ok(Self { dir })
    }

    /// Stores `bytes` (if not already stored) and returns their sha256 in hex. The file appears
    /// whole or not at all: it is written and synced under a temporary name, then renamed.
    pub async fn put(&self, bytes: Vec<u8>) -> io::Result<String> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let digest = hex::encode(Sha256::digest(&bytes));
            let path = blob_path(&dir, &digest);
            if path.exists() {
                return Ok(digest);
            }
            let parent = path.parent().unwrap_or(&dir);
            data_dir::create_private_dir(parent)?;
            // A temporary file is 0600.
            let mut file = tempfile::NamedTempFile::new_in(parent)?;
            file.write_all(&bytes)?;
            file.as_file().sync_all()?;
            file.persist(&path).map_err(|e| e.error)?;
            Ok(digest)
        })
        .await
        .map_err(io::Error::other)?
    }

    /// The text stored under `digest`.
    pub async fn get(&self, digest: &str) -> io::Result<String> {
        check_digest(digest)?;
        tokio::fs::read_to_string(blob_path(&self.dir, digest)).await
    }

    /// Deletes the blob stored under `digest`, if there is one.
    pub async fn remove(&self, digest: &str) -> io::Result<()> {
        check_digest(digest)?;
        match tokio::fs::remove_file(blob_path(&self.dir, digest)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The digest of every blob stored.
    pub async fn list(&self) -> io::Result<Vec<String>> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut digests = Vec::new();
            for shard in std::fs::read_dir(&dir)? {
                let shard = shard?;
                if !shard.file_type()?.is_dir() {
                    continue;
                }
                for blob in std::fs::read_dir(shard.path())? {
                    let name = blob?.file_name();
                    if let Some(name) = name.to_str()
                        && check_digest(name).is_ok()
                    {
                        digests.push(name.to_owned());
                    }
                }
            }
            Ok(digests)
        })
        .await
        .map_err(io::Error::other)?
    }
}

impl Blobs {
    /// Deletes the temporary files of writes a crash interrupted: those older than
    /// `older_than` (a write under way is younger). Returns how many went.
    pub async fn remove_stale_temporaries(&self, older_than: Duration) -> io::Result<usize> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            for shard in std::fs::read_dir(&dir)? {
                let shard = shard?;
                if !shard.file_type()?.is_dir() {
                    continue;
                }
                for file in std::fs::read_dir(shard.path())? {
                    let file = file?;
                    let is_blob = file
                        .file_name()
                        .to_str()
                        .is_some_and(|name| check_digest(name).is_ok());
                    let age = file.metadata()?.modified()?.elapsed().unwrap_or_default();
                    if !is_blob && age > older_than {
                        std::fs::remove_file(file.path())?;
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        })
        .await
        .map_err(io::Error::other)?
    }
}

fn check_digest(digest: &str) -> io::Result<()> {
    if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a sha256 digest",
        ))
    }
}

fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join(&digest[..2]).join(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path().join("blobs")).unwrap();
        let a = blobs.put(b"print(1)".to_vec()).await.unwrap();
        let b = blobs.put(b"print(1)".to_vec()).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(blobs.get(&a).await.unwrap(), "print(1)");
        assert!(blobs.get("../etc/passwd").await.is_err());
        assert_eq!(blobs.list().await.unwrap(), std::slice::from_ref(&a));
        blobs.remove(&a).await.unwrap();
        blobs.remove(&a).await.unwrap();
        assert!(blobs.get(&a).await.is_err());
        assert!(blobs.list().await.unwrap().is_empty());

        // A write a crash cut short leaves a temporary file: swept once it is old.
        let left = dir.path().join("blobs").join(&a[..2]).join(".tmpXYZ");
        std::fs::write(&left, b"half").unwrap();
        assert_eq!(
            blobs
                .remove_stale_temporaries(Duration::from_secs(60))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            blobs
                .remove_stale_temporaries(Duration::ZERO)
                .await
                .unwrap(),
            1
        );
        assert!(!left.exists());
    }
}
