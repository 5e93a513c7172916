//! Encryption at rest for org credentials (SPEC §5): AES-256-GCM with a random nonce per value.
//!
//! The key comes from configuration (`CONTACTSYNC_ENCRYPTION_KEY`, 32 bytes in base64); a stored
//! value is `nonce (12 bytes) || ciphertext+tag`. Decrypting with the wrong key fails loudly rather
//! than yielding garbage.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("the encryption key must be 32 bytes of base64: {0}")]
    BadKey(String),
    #[error("a stored secret does not decrypt with the configured key")]
    Undecryptable,
    #[error("the system random generator failed")]
    Random,
}

/// Seals and opens secrets with one key.
pub struct Cipher {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

impl Cipher {
    /// A cipher from a base64-encoded 32-byte key.
    pub fn from_base64(key: &str) -> Result<Cipher, CipherError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|e| CipherError::BadKey(e.to_string()))?;
        if bytes.len() != 32 {
            return Err(CipherError::BadKey(format!("got {} bytes", bytes.len())));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| CipherError::BadKey("rejected by AES-256-GCM".into()))?;
        Ok(Cipher {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// Encrypts a secret for storage.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CipherError::Random)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .map_err(|_| CipherError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts a stored secret.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CipherError> {
        if sealed.len() < NONCE_LEN {
            return Err(CipherError::Undecryptable);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| CipherError::Undecryptable)?;
        let mut buf = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut buf)
            .map_err(|_| CipherError::Undecryptable)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn a_sealed_secret_opens_to_itself_and_never_shows_in_the_stored_bytes() {
        let cipher = Cipher::from_base64(KEY).expect("key");
        let sealed = cipher.seal(b"client-secret-value").expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"client"));
        assert_eq!(cipher.open(&sealed).expect("open"), b"client-secret-value");
    }

    #[test]
    fn the_same_secret_seals_differently_each_time() {
        let cipher = Cipher::from_base64(KEY).expect("key");
        assert_ne!(
            cipher.seal(b"x").expect("seal"),
            cipher.seal(b"x").expect("seal")
        );
    }

    #[test]
    fn another_key_or_tampering_fails_to_open() {
        let cipher = Cipher::from_base64(KEY).expect("key");
        let other =
            Cipher::from_base64("HwEeHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=").expect("key");
        let mut sealed = cipher.seal(b"secret").expect("seal");
        assert!(matches!(
            other.open(&sealed),
            Err(CipherError::Undecryptable)
        ));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(matches!(
            cipher.open(&sealed),
            Err(CipherError::Undecryptable)
        ));
    }

    #[test]
    fn a_short_or_non_base64_key_is_refused() {
        assert!(matches!(
            Cipher::from_base64("c2hvcnQ="),
            Err(CipherError::BadKey(_))
        ));
        assert!(matches!(
            Cipher::from_base64("not base64!"),
            Err(CipherError::BadKey(_))
        ));
    }
}
