//! API token texts: `kdl_<id>_<secret>`. The id is public (it names the token in listings and
//! finds its row); the secret is 32 random bytes. Only the SHA-256 digest of the whole text is
//! stored, and a presented token is checked against it in constant time.
//!
//! A fast hash is enough here, unlike for passwords: the secret has 256 bits of entropy, so there
//! is nothing to guess from its digest.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "kdl_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A token just made: its text is shown once and never stored.
pub struct Minted {
    pub id: String,
    pub text: String,
    /// Hex SHA-256 of `text`, what is stored.
    pub digest: String,
}

/// Makes a new token from the operating system's CSPRNG.
pub fn mint() -> Result<Minted, getrandom::Error> {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut id)?;
    getrandom::fill(&mut secret)?;
    let id = hex::encode(id);
    let text = format!("{PREFIX}{id}_{}", BASE64URL.encode(secret));
    Ok(Minted {
        digest: digest(&text),
        id,
        text,
    })
}

/// The id of a well-formed token text, or `None`.
pub fn id_of(text: &str) -> Option<&str> {
    let (id, secret) = text.strip_prefix(PREFIX)?.split_once('_')?;
    let well_formed = id.len() == ID_BYTES * 2
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && BASE64URL
            .decode(secret)
            .is_ok_and(|bytes| bytes.len() == SECRET_BYTES);
    well_formed.then_some(id)
}

/// Whether `text` is the token whose stored digest is `stored`, compared in constant time.
pub fn matches(text: &str, stored: &str) -> bool {
    digest(text).as_bytes().ct_eq(stored.as_bytes()).into()
}

fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_parse_and_match_only_themselves() {
        let token = mint().unwrap();
        let other = mint().unwrap();
        assert_ne!(token.text, other.text);
        assert_eq!(id_of(&token.text), Some(token.id.as_str()));
        assert!(matches(&token.text, &token.digest));
        assert!(!matches(&other.text, &token.digest));
        assert!(!token.digest.contains(&token.text[PREFIX.len() + 17..]));
    }

    #[test]
    fn malformed_texts_have_no_id() {
        let token = mint().unwrap();
        for bad in [
            "",
            "secret123",
            "kdl_",
            "kdl_0123456789abcdef",
            "kdl_0123456789abcdef_short",
            "kdl_xyz3456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &token.text[..token.text.len() - 1],
            &format!("{}x", token.text),
        ] {
            assert_eq!(id_of(bad), None, "{bad}");
        }
    }
}
