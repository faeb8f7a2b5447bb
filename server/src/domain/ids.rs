//! Identifiers and API keys: random, prefixed, and for secrets, hashed before storage.

use rand::RngCore;
use sha2::{Digest, Sha256};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` random base-62 characters from the thread's CSPRNG (`rand::thread_rng`: ChaCha12
/// seeded, and reseeded, from the OS generator). Every request id is made here, so not one
/// system call each.
pub fn random(len: usize) -> String {
    let mut out = String::with_capacity(len);
    push_random(&mut out, len);
    out
}

/// Appends `len` random characters of [`random`]'s alphabet to `out`.
pub fn push_random(out: &mut String, len: usize) {
    let end = out.len() + len;
    let mut bytes = [0u8; 64];
    let mut rng = rand::thread_rng();
    while out.len() < end {
        rng.fill_bytes(&mut bytes);
        // 248 = 4 × 62: the bytes below it fall evenly on the alphabet; the rest are skipped.
        for b in bytes.iter().filter(|b| **b < 248).take(end - out.len()) {
            out.push(ALPHABET[usize::from(*b % 62)] as char);
        }
    }
}

/// A new id with its type's prefix, such as `prod_…`.
pub fn id(prefix: &str) -> String {
    format!("{prefix}_{}", random(16))
}

/// The hash a key is stored and looked up by. Keys carry 143+ bits of randomness, so a fast
/// hash is enough: there is nothing to brute-force.
pub fn key_hash(key: &str) -> String {
    hex::encode(key_digest(key))
}

/// [`key_hash`] before its hex: what a copy of a key's row is found by in memory.
pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Whether a presented token is the expected one, compared in constant time (through their
/// hashes, so neither length nor a common prefix shows in the timing).
pub fn same_secret(presented: &str, expected: &str) -> bool {
    let (a, b) = (key_hash(presented), key_hash(expected));
    a.bytes()
        .zip(b.bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_have_the_length_and_alphabet_asked_for_and_differ() {
        for len in [1, 16, 43, 100] {
            let id = random(len);
            assert_eq!(id.len(), len);
            assert!(id.bytes().all(|b| ALPHABET.contains(&b)), "{id}");
        }
        assert_ne!(random(20), random(20));
        // Every character of the alphabet turns up, none more than chance allows.
        let sample = random(62 * 400);
        for c in ALPHABET {
            let n = sample.bytes().filter(|b| b == c).count();
            assert!(
                (250..=550).contains(&n),
                "{} appeared {n} times",
                *c as char
            );
        }
    }
}
