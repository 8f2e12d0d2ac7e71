//! Passwords: plaintext only in [`Password`] (redacted in `Debug`), stored only as an argon2
//! hash ([`PasswordHash`], also redacted), verified in constant time.

use std::fmt;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::Error;

/// A plaintext password on its way to being hashed. `Debug` never shows it.
///
/// Hashing is deliberately slow (argon2, tens of milliseconds of CPU), so an async service
/// should not do it on its executor's threads: [`Password::prehash`] hashes once (for example
/// inside `tokio::task::spawn_blocking`) and keeps the hash, which [`Password::hash`] then
/// returns without hashing again, so a store's `create_user` or `update_user` does no argon2
/// work of its own.
#[derive(Clone, serde::Deserialize)]
#[serde(from = "String")]
pub struct Password {
    plain: String,
    hashed: Option<PasswordHash>,
}

impl From<String> for Password {
    fn from(plain: String) -> Self {
        Password::new(plain)
    }
}

impl Password {
    /// Shortest accepted password.
    pub const MIN_LEN: usize = 8;
    /// Longest accepted password (argon2 hashes anything, but unbounded input is a DoS vector).
    pub const MAX_LEN: usize = 1024;

    /// Wraps a plaintext password.
    pub fn new(plain: impl Into<String>) -> Self {
        Password {
            plain: plain.into(),
            hashed: None,
        }
    }

    /// The plaintext; use only to hash or verify.
    pub fn expose(&self) -> &str {
        &self.plain
    }

    /// Checks the password's length and hashes it now, keeping the hash for
    /// [`Password::hash`]: [`Error::Invalid`] on `password` for a bad one.
    ///
    /// ```
    /// use swiftbox_core::{NewUser, Password};
    /// // In an async service: tokio::task::spawn_blocking(move || password.prehash()).
    /// let password = Password::new("long enough").prehash().unwrap();
    /// let new = NewUser::new("ann", "ann@example.com").with_password(password);
    /// # let _ = new;
    /// ```
    pub fn prehash(mut self) -> Result<Self, Error> {
        self.validate()?;
        if self.hashed.is_none() {
            self.hashed = Some(self.hash()?);
        }
        Ok(self)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let n = self.plain.chars().count();
        if n < Self::MIN_LEN {
            return Err(Error::invalid("password", "must be at least 8 characters"));
        }
        if self.plain.len() > Self::MAX_LEN {
            return Err(Error::invalid("password", "must be at most 1024 bytes"));
        }
        Ok(())
    }

    /// Hashes with argon2id and a random salt; the hash of [`Password::prehash`] when there
    /// is one (no argon2 work then).
    pub fn hash(&self) -> Result<PasswordHash, Error> {
        if let Some(h) = &self.hashed {
            return Ok(h.clone());
        }
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(self.plain.as_bytes(), &salt)
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

#[cfg(test)]
mod prehash_tests {
    use super::*;

    #[test]
    fn a_prehashed_password_hashes_once_and_verifies() {
        let p = Password::new("long enough").prehash().unwrap();
        let h1 = p.hash().unwrap();
        assert_eq!(p.hash().unwrap(), h1, "the kept hash, not a new salt");
        assert!(h1.verify("long enough"));
        assert!(!format!("{p:?}").contains("long enough"));
        let short = Password::new("short").prehash().err().unwrap();
        assert!(matches!(&short, Error::Invalid { field, .. } if field == "password"));
        let fresh = Password::new("long enough");
        assert_ne!(
            fresh.hash().unwrap(),
            fresh.hash().unwrap(),
            "salted each time"
        );
    }
}
