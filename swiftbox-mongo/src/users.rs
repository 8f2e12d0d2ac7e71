//! Users: unique `username_key` and `email_key`, password hash kept in the document and only
//! ever returned by `credentials`.

use async_trait::async_trait;
use mongodb::bson::{doc, Document};
use swiftbox_core::prelude::*;
use swiftbox_core::{
    Credentials, EntityKind, Error, NewUser, Page, PageRequest, Result, User, UserId, UserPatch,
};

use crate::error::{self, is_duplicate, STORE};
use crate::model::{from_document, to_document, tombstone_key, ProfileDoc, UserDoc};
use crate::sync::new_entity_fields;
use crate::MongoStore;

const KIND: EntityKind = EntityKind::User;

/// A user to check patches against before looking anything up.
fn placeholder_user() -> User {
    User {
        id: UserId::from_u128(0),
        username: "placeholder".to_owned(),
        email: "placeholder@example.invalid".to_owned(),
        profile: swiftbox_core::Profile::default(),
        is_admin: false,
        has_password: false,
        version: 0,
        created_at: chrono::DateTime::UNIX_EPOCH,
    }
}

fn to_user(d: Document) -> Result<User> {
    Ok(from_document::<UserDoc>(KIND, d)?.into_user()?.0)
}

/// Runs password hashing (argon2, deliberately slow) off the async runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::backend(STORE, e))?
}

impl MongoStore {
    /// The conflict for a duplicate key on a user write: the field from the server's message,
    /// or (FerretDB names no index) whichever of `username` / `email` another user holds.
    async fn user_conflict(&self, e: &mongodb::error::Error, id: &str, username: &str) -> Error {
        let field = match error::conflict_field(e) {
            Some(f) => f,
            None => {
                let coll = self.coll(KIND);
                let filter = doc! { "username_key": username, "_id": { "$ne": id } };
                match self.run(KIND, coll.find_one(filter)).await {
                    Ok(Some(_)) => "username",
                    Ok(None) => "email",
                    Err(lookup) => return lookup,
                }
            }
        };
        Error::conflict(KIND, field, "already taken by another user")
    }
}

#[async_trait]
impl UserStore for MongoStore {
    #[tracing::instrument(level = "debug", skip_all, fields(username = %new.username), err(Display))]
    async fn create_user(&self, new: NewUser) -> Result<User> {
        let (user, hash) = blocking(move || new.prepare()).await?;
        let id = user.id.to_canonical();
        let mut d = to_document(KIND, &UserDoc::from_user(&user, hash.as_ref()))?;
        d.extend(new_entity_fields(&id, user.created_at));
        match self.run_raw(self.coll(KIND).insert_one(d)).await {
            Ok(_) => Ok(user),
            Err(e) if is_duplicate(&e) => Err(self.user_conflict(&e, &id, &user.username).await),
            Err(e) => Err(error::map(KIND, e)),
        }
    }

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    async fn get_user(&self, id: &UserId) -> Result<User> {
        to_user(self.get_live(KIND, &id.to_canonical()).await?)
    }

    #[tracing::instrument(level = "debug", skip(self, patch), fields(id = %id), err(Display))]
    async fn update_user(&self, id: &UserId, patch: UserPatch) -> Result<User> {
        // Validate (and hash, which is slow) before any lookup, so bad input is refused the
        // same way whatever exists.
        let check = patch.clone();
        let (_, hash) = if patch.password.is_some() {
            blocking(move || check.apply_to(&placeholder_user())).await?
        } else {
            check.apply_to(&placeholder_user())?
        };
        let current = self.get_user(id).await?;
        let (next, _) = UserPatch {
            password: None,
            ..patch.clone()
        }
        .apply_to(&current)?;
        let mut set = doc! {};
        if patch.email.is_some() {
            set.insert("email", next.email.as_str());
            set.insert("email_key", next.email.as_str());
        }
        if patch.profile.is_some() {
            let profile = to_document(KIND, &ProfileDoc::from_profile(&next.profile))?;
            set.insert("profile", profile);
        }
        if let Some(a) = patch.is_admin {
            set.insert("is_admin", a);
        }
        if let Some(h) = &hash {
            set.insert("password_hash", h.as_phc());
        }
        match self.write_live(KIND, &id.to_canonical(), set).await {
            Ok(d) => to_user(d),
            // The e-mail is the only unique value an update can change.
            Err(Error::Conflict { .. }) => Err(Error::conflict(
                KIND,
                "email",
                "already taken by another user",
            )),
            Err(e) => Err(e),
        }
    }

    #[tracing::instrument(level = "debug", skip(self), fields(id = %id), err(Display))]
    async fn delete_user(&self, id: &UserId) -> Result<()> {
        let key = id.to_canonical();
        let tomb = tombstone_key(&key);
        self.tombstone(
            KIND,
            &key,
            doc! { "username_key": &tomb, "email_key": &tomb },
            Some(doc! { "password_hash": "" }),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip(self), err(Display))]
    async fn list_users(&self, page: PageRequest) -> Result<Page<User>> {
        self.page(KIND, doc! {}, &page, to_user, |u| u.id.to_canonical())
            .await
    }

    /// Username first (exact), then e-mail (ignoring case); both as literal values.
    #[tracing::instrument(level = "debug", skip_all, err(Display))]
    async fn credentials(&self, login: &str) -> Result<Option<Credentials>> {
        let coll = self.coll(KIND);
        let mut found = self
            .run(
                KIND,
                coll.find_one(doc! { "username_key": login, "deleted": false }),
            )
            .await?;
        if found.is_none() {
            let email = login.to_lowercase();
            found = self
                .run(
                    KIND,
                    coll.find_one(doc! { "email_key": email, "deleted": false }),
                )
                .await?;
        }
        found
            .map(|d| {
                let (user, hash) = from_document::<UserDoc>(KIND, d)?.into_user()?;
                Ok(Credentials { user, hash })
            })
            .transpose()
    }
}
