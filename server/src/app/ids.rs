//! Identifiers and API keys: random, prefixed, and for secrets, hashed before storage.

use rand::Rng;
use sha2::{Digest, Sha256};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` random base-62 characters from the OS generator.
pub fn random(len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A new id with its type's prefix, such as `prod_…`.
pub fn id(prefix: &str) -> String {
    format!("{prefix}_{}", random(16))
}

/// The hash a key is stored and looked up by. Keys carry 143+ bits of randomness, so a fast
/// hash is enough: there is nothing to brute-force.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A secret key as it may be shown again: its prefix and last four characters.
pub fn redact(key: &str) -> String {
    let prefix: String = key.chars().take(8).collect();
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{prefix}…{tail}")
}
