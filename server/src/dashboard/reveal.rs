//! A value shown once on the page after a redirect (the secret key a rotation made), kept in
//! the session's row until then, sealed so that only the browser that asked can read it: the
//! key is derived (HKDF-SHA256) from the session's cookie token, of which the server keeps only
//! a hash, and the value is encrypted with ChaCha20-Poly1305. The row alone opens nothing.

use ring::aead::{self, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

const CONTEXT: &[u8] = b"dream dashboard reveal v1";

fn key(cookie_token: &str) -> LessSafeKey {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, CONTEXT).extract(cookie_token.as_bytes());
    let okm = prk
        .expand(&[CONTEXT], &CHACHA20_POLY1305)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    let mut bytes = [0u8; 32];
    okm.fill(&mut bytes)
        .expect("the output length is the algorithm's key length");
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &bytes).expect("a 32-byte key"))
}

/// `plain`, sealed for the holder of `cookie_token`: hex of nonce, ciphertext and tag.
pub fn seal(cookie_token: &str, plain: &str) -> Option<String> {
    let mut nonce = [0u8; aead::NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).ok()?;
    let mut data = plain.as_bytes().to_vec();
    key(cookie_token)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Some(hex::encode(out))
}

/// What `seal` sealed for this cookie token; `None` for another token or altered bytes.
pub fn open(cookie_token: &str, sealed: &str) -> Option<String> {
    let bytes = hex::decode(sealed).ok()?;
    if bytes.len() < aead::NONCE_LEN {
        return None;
    }
    let (nonce, data) = bytes.split_at(aead::NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let plain = key(cookie_token)
        .open_in_place(nonce, Aad::empty(), &mut data)
        .ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_cookie_token_opens_it() {
        let sealed = seal("cookie-token-a", "sk_test_new").unwrap();
        assert!(!sealed.contains("sk_test_new"));
        assert_eq!(
            open("cookie-token-a", &sealed).as_deref(),
            Some("sk_test_new")
        );
        assert_eq!(open("cookie-token-b", &sealed), None);
        let mut altered = sealed.into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            open("cookie-token-a", &String::from_utf8(altered).unwrap()),
            None
        );
        assert_eq!(open("cookie-token-a", "zz"), None);
    }
}
