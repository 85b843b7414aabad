//! Password hashing: Argon2id with the `argon2` crate's defaults (19 MiB, 2 passes), stored as a
//! PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`). Both operations take tens of
//! milliseconds on purpose; callers run them on a blocking thread.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest and longest passwords accepted. The upper bound caps the work one request can ask
/// of the hasher.
pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 1024;

/// Hashes `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("hashing a password failed: {e}"))
}

/// Whether `password` is the one `stored` was made from. `None` (an unknown user, or one without
/// a password) still costs one verification, so that the answer's timing does not tell which
/// user names exist.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let matches = |stored: &str| {
        Argon2::default()
            .verify_password(password.as_bytes(), stored)
            .is_ok()
    };
    match stored {
        Some(stored) => matches(stored),
        None => {
            matches(decoy());
            false
        }
    }
}

/// A hash nobody knows the password of, made once.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let mut random = [0u8; 16];
        let _ = getrandom::fill(&mut random);
        hash(&hex::encode(random)).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let first = hash("correct horse").unwrap();
        let second = hash("correct horse").unwrap();
        assert!(first.starts_with("$argon2id$v=19$"), "{first}");
        assert_ne!(first, second, "a fresh salt each time");
        assert!(!first.contains("correct horse"));
        assert!(verify("correct horse", Some(&first)));
        assert!(!verify("correct horsf", Some(&first)));
        assert!(!verify("correct horse", None));
        assert!(!verify("correct horse", Some("not a hash")));
    }
}
