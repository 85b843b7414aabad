//! Content-addressed, immutable storage of function code: `<dir>/<sha256[..2]>/<sha256>`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
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
            std::fs::create_dir_all(parent)?;
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
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a sha256 digest",
            ));
        }
        tokio::fs::read_to_string(blob_path(&self.dir, digest)).await
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
    }
}
