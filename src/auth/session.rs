//! Browser sessions: tokens of kind [`TokenKind::Session`](super::TokenKind), which the
//! dashboard's server hands out in an HttpOnly, `SameSite=Strict` cookie that page scripts never
//! see. A request that changes something and authenticates by that cookie must also carry the
//! session's CSRF proof: a value derived from the session's secret, which the page learns from
//! `GET /auth/session` and sends in a header. Another site's page can neither read the proof nor
//! (with `SameSite=Strict`) make the browser send the cookie.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie that holds a browser session's token on plain HTTP.
pub const COOKIE: &str = "kindling_session";
/// Its name over HTTPS: `__Host-` cookies are `Secure`, for `/`, and settable by this host only.
pub const SECURE_COOKIE: &str = "__Host-kindling_session";
/// The header that carries the CSRF proof of the session.
pub const CSRF_HEADER: &str = "x-kindling-csrf";

/// The CSRF proof of the session whose token is `text`. It reveals nothing of the token (a
/// one-way hash of it), so it may live where page scripts read it.
pub fn csrf_proof(text: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"kindling csrf\0");
    hash.update(text.as_bytes());
    BASE64URL.encode(hash.finalize())
}

/// Whether `presented` is the CSRF proof of the session `text`, compared in constant time.
pub fn csrf_matches(text: &str, presented: &[u8]) -> bool {
    csrf_proof(text).as_bytes().ct_eq(presented).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_belong_to_one_session() {
        let proof = csrf_proof("kdl_a_b");
        assert!(csrf_matches("kdl_a_b", proof.as_bytes()));
        assert!(!csrf_matches("kdl_a_c", proof.as_bytes()));
        assert!(!csrf_matches("kdl_a_b", b""));
        assert!(!proof.contains("kdl_a_b"));
    }
}
