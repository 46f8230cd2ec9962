//! The forward protocol's shared-key handshake (HELO, PING, PONG): both
//! sides prove they know the key by hashing it with fresh random salts, and
//! a server may also ask for a user name and password.

use sha2::{Digest, Sha512};

/// Hex SHA-512 of the parts concatenated, the digest every handshake step uses.
pub fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    let out = h.finalize();
    let mut s = String::with_capacity(128);
    for b in out.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `sha512_hex(shared_key_salt + hostname + nonce + shared_key)`: sent by
/// the client with its own hostname, and by the server with its hostname.
pub fn shared_key_digest(salt: &[u8], hostname: &str, nonce: &[u8], key: &str) -> String {
    digest(&[salt, hostname.as_bytes(), nonce, key.as_bytes()])
}

/// `sha512_hex(auth_salt + username + password)`.
pub fn password_digest(auth_salt: &[u8], username: &str, password: &str) -> String {
    digest(&[auth_salt, username.as_bytes(), password.as_bytes()])
}

/// 16 random bytes for a nonce or salt.
pub fn random_salt() -> Vec<u8> {
    use rand::Rng;
    let b: [u8; 16] = rand::rng().random();
    b.to_vec()
}

/// Compare digests without leaking where they differ.
pub fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_known_answer() {
        // SHA-512("abc"), FIPS 180-2 appendix C.1
        assert_eq!(
            digest(&[b"a", b"bc"]),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert!(same_digest("ab", "ab") && !same_digest("ab", "ac") && !same_digest("a", "ab"));
    }
}
