use chrono::{DateTime, Utc};

use super::validate;
use crate::error::Error;
use crate::id::UserId;
use crate::password::{Password, PasswordHash};

/// Optional personal details of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// Name to show instead of the username.
    pub display_name: Option<String>,
    /// Phone number, free text.
    pub phone: Option<String>,
    /// Default shipping address, free text.
    pub address: Option<String>,
}

impl Profile {
    fn validate(&self) -> Result<Profile, Error> {
        let f = |field: &str, v: &Option<String>, max| -> Result<Option<String>, Error> {
            v.as_deref()
                .map(|s| validate::optional_text(field, s, max))
                .transpose()
        };
        Ok(Profile {
            display_name: f("profile.display_name", &self.display_name, 150)?,
            phone: f("profile.phone", &self.phone, 40)?,
            address: f("profile.address", &self.address, 500)?,
        })
    }
}

/// A stored user. The password hash is not part of it: it never leaves the primary store
/// except through [`crate::UserStore::credentials`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Unique username.
    pub username: String,
    /// Unique e-mail address, lower case.
    pub email: String,
    /// Personal details.
    pub profile: Profile,
    /// Whether the user may manage products and see every order.
    pub is_admin: bool,
    /// Whether the user has a password (and so can log in).
    pub has_password: bool,
    /// Bumped by every write.
    pub version: u64,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

/// Input for [`crate::UserStore::create_user`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewUser {
    /// Username: 1..=150 letters, digits or `@.+-_`; unique.
    pub username: String,
    /// E-mail address; unique (case-insensitively).
    pub email: String,
    /// Password, at least 8 characters; `None` makes an account that cannot log in.
    #[serde(default)]
    pub password: Option<Password>,
    /// Personal details.
    #[serde(default)]
    pub profile: Profile,
    /// Admin flag.
    #[serde(default)]
    pub is_admin: bool,
}

impl NewUser {
    /// A user with a username and e-mail, no password, not admin.
    pub fn new(username: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            email: email.into(),
            password: None,
            profile: Profile::default(),
            is_admin: false,
        }
    }

    /// Sets the password.
    pub fn with_password(mut self, password: impl Into<Password>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Sets the admin flag.
    pub fn admin(mut self, is_admin: bool) -> Self {
        self.is_admin = is_admin;
        self
    }

    /// Validates and normalises every field and hashes the password, giving the user a store
    /// writes (with `id`, version 1 and `created_at` now) and its hash.
    pub fn prepare(self) -> Result<(User, Option<PasswordHash>), Error> {
        let username = validate::username(&self.username)?;
        let email = validate::email(&self.email)?;
        let profile = self.profile.validate()?;
        let hash = match &self.password {
            Some(p) => {
                p.validate()?;
                Some(p.hash()?)
            }
            None => None,
        };
        let user = User {
            id: UserId::generate(),
            username,
            email,
            profile,
            is_admin: self.is_admin,
            has_password: hash.is_some(),
            version: 1,
            created_at: crate::time::now(),
        };
        Ok((user, hash))
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct UserPatch {
    /// New e-mail address (unique).
    pub email: Option<String>,
    /// New password.
    pub password: Option<Password>,
    /// New profile (replaces the whole profile).
    pub profile: Option<Profile>,
    /// New admin flag.
    pub is_admin: Option<bool>,
}

impl UserPatch {
    /// Validates the patch and applies it to `user` (bumping its version), returning the new
    /// user and, when the password changes, the new hash.
    pub fn apply_to(&self, user: &User) -> Result<(User, Option<PasswordHash>), Error> {
        let mut next = user.clone();
        if let Some(email) = &self.email {
            next.email = validate::email(email)?;
        }
        if let Some(profile) = &self.profile {
            next.profile = profile.validate()?;
        }
        if let Some(a) = self.is_admin {
            next.is_admin = a;
        }
        let hash = match &self.password {
            Some(p) => {
                p.validate()?;
                next.has_password = true;
                Some(p.hash()?)
            }
            None => None,
        };
        next.version += 1;
        Ok((next, hash))
    }
}

/// A user with the hash of their password, for logging in.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// Their password hash (`None` when the account has no password).
    pub hash: Option<PasswordHash>,
}

impl Credentials {
    /// The user if `password` is theirs; `None` for no account (`found` is `None`), a wrong
    /// password or an account without one, the three after the same argon2 work, so the time
    /// does not tell which users exist. CPU-bound: an async service runs it on a blocking
    /// thread. [`crate::UserStore::authenticate`] is `credentials` and then this.
    pub fn check(found: Option<Credentials>, password: &str) -> Option<User> {
        match found {
            Some(Credentials {
                user,
                hash: Some(hash),
            }) => hash.verify(password).then_some(user),
            _ => {
                PasswordHash::verify_dummy(password);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_normalises_and_refuses_bad_input() {
        let (u, h) = NewUser::new(" ann ", "Ann@Example.com")
            .with_password("long enough")
            .prepare()
            .unwrap();
        assert_eq!(
            (u.username.as_str(), u.email.as_str()),
            ("ann", "ann@example.com")
        );
        assert!(u.has_password && h.unwrap().verify("long enough"));
        let e = NewUser::new("ann", "nope").prepare().unwrap_err();
        assert!(
            matches!(&e, Error::Invalid { field, .. } if field == "email"),
            "{e}"
        );
        let e = NewUser::new("ann", "a@b.c")
            .with_password("short")
            .prepare()
            .unwrap_err();
        assert!(
            matches!(&e, Error::Invalid { field, .. } if field == "password"),
            "{e}"
        );
    }
}
