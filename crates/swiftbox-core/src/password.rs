//! Passwords: plaintext only in [`Password`] (redacted in `Debug`), stored only as an argon2
//! hash ([`PasswordHash`], also redacted), verified in constant time.

use std::fmt;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::Error;

/// A plaintext password on its way to being hashed. `Debug` never shows it.
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// Shortest accepted password.
    pub const MIN_LEN: usize = 8;
    /// Longest accepted password (argon2 hashes anything, but unbounded input is a DoS vector).
    pub const MAX_LEN: usize = 1024;

    /// Wraps a plaintext password.
    pub fn new(plain: impl Into<String>) -> Self {
        Password(plain.into())
    }

    /// The plaintext; use only to hash or verify.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let n = self.0.chars().count();
        if n < Self::MIN_LEN {
            return Err(Error::invalid("password", "must be at least 8 characters"));
        }
        if self.0.len() > Self::MAX_LEN {
            return Err(Error::invalid("password", "must be at most 1024 bytes"));
        }
        Ok(())
    }

    /// Hashes with argon2id and a random salt.
    pub fn hash(&self) -> Result<PasswordHash, Error> {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .map(|h| PasswordHash(h.to_string()))
            .map_err(|e| Error::backend("argon2", e.to_string()))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Password::new(s)
    }
}

/// An argon2 hash in PHC string form. Stays in the primary store; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read back from a store.
    pub fn from_phc(phc: impl Into<String>) -> Self {
        PasswordHash(phc.into())
    }

    /// The PHC string, for a backend to store.
    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// True when `password` matches this hash. A malformed hash never matches.
    pub fn verify(&self, password: &str) -> bool {
        match argon2::password_hash::PasswordHash::new(&self.0) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Spends the same time as a real verification, for logins of unknown users, so response
    /// times do not reveal which usernames exist.
    pub fn verify_dummy(password: &str) {
        static DUMMY: std::sync::OnceLock<Option<PasswordHash>> = std::sync::OnceLock::new();
        if let Some(h) = DUMMY.get_or_init(|| Password::new("swiftbox-dummy-password").hash().ok())
        {
            let _ = h.verify(password);
        }
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_never_show() {
        let p = Password::new("correct horse battery");
        let h = p.hash().unwrap();
        assert!(h.verify("correct horse battery"));
        assert!(!h.verify("wrong"));
        assert!(!format!("{p:?}{h:?}").contains("horse"));
        assert!(!format!("{h:?}").contains("argon2"));
        assert!(!PasswordHash::from_phc("garbage").verify("x"));
    }
}
