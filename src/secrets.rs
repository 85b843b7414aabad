//! Values kept secret at rest: sealed with the server's secret key (XChaCha20-Poly1305, a fresh
//! random nonce per value, bound to what the value belongs to) before they reach the database.
//! The key is 32 random bytes in a 0600 file, by default `secret.key` in the data dir, made on
//! the first start. Losing it makes the sealed values unreadable; a copy of the database alone
//! reveals none of them.

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::data_dir;

/// The prefix of a sealed value, naming the format.
const SEALED: &str = "sealed:v1:";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read or make the secret key {path}: {source}")]
    KeyFile { path: PathBuf, source: io::Error },
    #[error("the secret key {0} is not {KEY_BYTES} bytes")]
    KeyLength(PathBuf),
    #[error(
        "the secret key {0} is missing, and the database holds values sealed with it: restore the file from where the database was backed up"
    )]
    KeyMissing(PathBuf),
    #[error("no randomness for the secret key or a nonce: {0}")]
    Random(#[from] getrandom::Error),
    /// The text is not a sealed value, or another key (or another owner) sealed it.
    #[error("a sealed value cannot be opened: {0}")]
    Unsealable(&'static str),
}

/// The key that seals values at rest.
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// Reads the key at `path`, if there is one.
    pub fn load(path: &Path) -> Result<Option<Self>, SecretError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SecretError::KeyFile {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| SecretError::KeyLength(path.to_path_buf()))?;
        Ok(Some(Self { cipher }))
    }

    /// Makes a new key and writes it to `path` (mode 0600).
    pub fn create(path: &Path) -> Result<Self, SecretError> {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key)?;
        data_dir::write_private(path, &key).map_err(|source| SecretError::KeyFile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::load(path)?.ok_or_else(|| SecretError::KeyMissing(path.to_path_buf()))
    }

    /// A key that lives only in memory (tests).
    pub fn ephemeral() -> Result<Self, SecretError> {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key)?;
        Ok(Self {
            cipher: XChaCha20Poly1305::new_from_slice(&key)
                .map_err(|_| SecretError::Unsealable("key length"))?,
        })
    }

    /// `plaintext` sealed as text; `context` names what it belongs to (it must be given again to
    /// open it, so a sealed value moved to another row does not open).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<String, SecretError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce)?;
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| SecretError::Unsealable("encryption failed"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{SEALED}{}", BASE64.encode(bytes)))
    }

    /// What [`SecretKey::seal`] sealed with the same `context`.
    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Vec<u8>, SecretError> {
        let encoded = sealed
            .strip_prefix(SEALED)
            .ok_or(SecretError::Unsealable("not a sealed value"))?;
        let bytes = BASE64
            .decode(encoded)
            .map_err(|_| SecretError::Unsealable("not base64"))?;
        if bytes.len() < NONCE_BYTES {
            return Err(SecretError::Unsealable("too short"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce
            .try_into()
            .map_err(|_| SecretError::Unsealable("too short"))?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: context,
                },
            )
            .map_err(|_| SecretError::Unsealable("wrong key or context, or altered"))
    }

    /// Whether `text` is a sealed value (rather than a plaintext one from before sealing).
    pub fn is_sealed(text: &str) -> bool {
        text.starts_with(SEALED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_in_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        assert!(SecretKey::load(&path).unwrap().is_none());
        let key = SecretKey::create(&path).unwrap();
        let sealed = key.seal(b"{\"API_KEY\":\"s3cret\"}", b"f1:1").unwrap();
        assert!(SecretKey::is_sealed(&sealed));
        assert!(!sealed.contains("s3cret"));
        assert_ne!(
            sealed,
            key.seal(b"{\"API_KEY\":\"s3cret\"}", b"f1:1").unwrap()
        );
        assert_eq!(
            key.open(&sealed, b"f1:1").unwrap(),
            b"{\"API_KEY\":\"s3cret\"}"
        );
        assert!(key.open(&sealed, b"f2:1").is_err());

        // The same file gives the same key; another key opens nothing.
        let again = SecretKey::load(&path).unwrap().unwrap();
        assert!(again.open(&sealed, b"f1:1").is_ok());
        assert!(
            SecretKey::ephemeral()
                .unwrap()
                .open(&sealed, b"f1:1")
                .is_err()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            SecretKey::load(&path),
            Err(SecretError::KeyLength(_))
        ));
    }
}
