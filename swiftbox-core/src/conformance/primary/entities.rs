//! CRUD, uniqueness and login checks for users, categories, products and reviews.

use super::support::*;
use crate::prelude::*;
use crate::{
    Currency, EntityKind, Money, NewCategory, NewReview, NewUser, PageRequest, ProductPatch,
    ProductQuery, Profile, ReviewPatch, UserPatch,
};

/// Users: create normalises, get, update bumps the version, list by id, delete makes the user
/// not found everywhere.
pub async fn users_crud(store: &dyn PrimaryBackend) {
    let created = ok(
        store
            .create_user(NewUser::new(" ann ", "Ann@Example.COM").admin(true))
            .await,
        "create user",
    );
    assert_eq!(created.username, "ann");
    assert_eq!(
        created.email, "ann@example.com",
        "e-mail is stored lower-case"
    );
    assert!(created.is_admin && !created.has_password);
    assert_eq!(created.version, 1);
    assert_eq!(ok(store.get_user(&created.id).await, "get user"), created);

    let patch = UserPatch {
        email: Some("ann.b@example.com".into()),
        profile: Some(Profile {
            display_name: Some("Ann B".into()),
            phone: Some("+1 555".into()),
            address: None,
        }),
        is_admin: Some(false),
        password: None,
    };
    let updated = ok(store.update_user(&created.id, patch).await, "update user");
    assert_eq!(updated.version, 2);
    assert_eq!(updated.email, "ann.b@example.com");
    assert_eq!(updated.profile.display_name.as_deref(), Some("Ann B"));
    assert!(!updated.is_admin);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(ok(store.get_user(&created.id).await, "get user"), updated);

    let bob = user(store, "bob").await;
    let listed = all_pages(|p| store.list_users(p)).await;
    let mut ids = vec![created.id, bob.id];
    ids.sort();
    assert_eq!(listed.iter().map(|u| u.id).collect::<Vec<_>>(), ids);

    ok(store.delete_user(&created.id).await, "delete user");
    assert_not_found(
        store.get_user(&created.id).await,
        EntityKind::User,
        "get deleted",
    );
    assert_not_found(
        store.update_user(&created.id, UserPatch::default()).await,
        EntityKind::User,
        "update deleted",
    );
    assert_not_found(
        store.delete_user(&created.id).await,
        EntityKind::User,
        "delete twice",
    );
    assert_not_found(
        store
            .list_user_orders(&created.id, PageRequest::default())
            .await,
        EntityKind::User,
        "orders of deleted user",
    );
    let listed = all_pages(|p| store.list_users(p)).await;
    assert_eq!(listed, vec![bob]);
}

/// Username and e-mail are unique (e-mail ignoring case), conflicts name the field and change
/// nothing, and a delete frees both.
pub async fn user_uniqueness(store: &dyn PrimaryBackend) {
    let ann = user(store, "ann").await;
    let bob = user(store, "bob").await;
    let before = snapshot(store).await;
    assert_conflict(
        store
            .create_user(NewUser::new("ann", "other@example.com"))
            .await,
        EntityKind::User,
        "username",
        "same username",
    );
    assert_conflict(
        store
            .create_user(NewUser::new("ann2", "ANN@example.com"))
            .await,
        EntityKind::User,
        "email",
        "same e-mail in another case",
    );
    assert_conflict(
        store
            .update_user(
                &bob.id,
                UserPatch {
                    email: Some("Ann@Example.com".into()),
                    ..UserPatch::default()
                },
            )
            .await,
        EntityKind::User,
        "email",
        "update to a taken e-mail",
    );
    assert_unchanged(store, &before, "user conflicts").await;

    // Keeping one's own e-mail is not a conflict.
    let same = ok(
        store
            .update_user(
                &ann.id,
                UserPatch {
                    email: Some("ANN@example.com".into()),
                    ..UserPatch::default()
                },
            )
            .await,
        "update to own e-mail",
    );
    assert_eq!(same.email, "ann@example.com");

    // Changing e-mail frees the old one.
    ok(
        store
            .update_user(
                &bob.id,
                UserPatch {
                    email: Some("robert@example.com".into()),
                    ..UserPatch::default()
                },
            )
            .await,
        "change e-mail",
    );
    ok(
        store
            .create_user(NewUser::new("bobby", "bob@example.com"))
            .await,
        "reuse a released e-mail",
    );

    ok(store.delete_user(&ann.id).await, "delete");
    let again = ok(
        store
            .create_user(NewUser::new("ann", "ann@example.com"))
            .await,
        "recreate after delete frees username and e-mail",
    );
    assert_ne!(again.id, ann.id);
}

/// Login: by username or e-mail (any case), right password only; unknown logins, wrong
/// passwords and accounts without a password all give `None`; a password change takes effect.
pub async fn authenticate(store: &dyn PrimaryBackend) {
    let ann = ok(
        store
            .create_user(NewUser::new("ann", "ann@example.com").with_password("correct horse"))
            .await,
        "create user with password",
    );
    assert!(ann.has_password);
    let nopw = user(store, "nopw").await;

    let by_name = ok(store.authenticate("ann", "correct horse").await, "auth");
    assert_eq!(by_name.map(|u| u.id), Some(ann.id));
    let by_email = ok(
        store.authenticate("ANN@Example.com", "correct horse").await,
        "auth by e-mail",
    );
    assert_eq!(by_email.map(|u| u.id), Some(ann.id));
    assert!(ok(store.authenticate("ann", "wrong horse").await, "wrong").is_none());
    assert!(ok(
        store.authenticate("Ann", "correct horse").await,
        "username case"
    )
    .is_none());
    assert!(ok(
        store.authenticate("nobody", "correct horse").await,
        "unknown"
    )
    .is_none());
    assert!(ok(store.authenticate("nopw", "").await, "no password").is_none());
    assert!(ok(
        store.authenticate("nopw", "anything at all").await,
        "no password"
    )
    .is_none());

    let creds = ok(store.credentials("ann").await, "credentials");
    let creds = creds.unwrap_or_else(|| panic!("credentials of ann missing"));
    assert_eq!(creds.user, ann);
    assert!(creds.hash.is_some_and(|h| h.verify("correct horse")));
    let creds = ok(store.credentials(&nopw.email).await, "credentials");
    assert!(creds.is_some_and(|c| c.hash.is_none()));

    ok(
        store
            .update_user(
                &ann.id,
                UserPatch {
                    password: Some("battery staple".into()),
                    ..UserPatch::default()
                },
            )
            .await,
        "change password",
    );
    assert!(ok(store.authenticate("ann", "correct horse").await, "old").is_none());
    assert!(ok(store.authenticate("ann", "battery staple").await, "new").is_some());

    let with_pw = ok(
        store
            .update_user(
                &nopw.id,
                UserPatch {
                    password: Some("now i have one".into()),
                    ..UserPatch::default()
                },
            )
            .await,
        "set a first password",
    );
    assert!(with_pw.has_password);
    assert!(ok(store.authenticate("nopw", "now i have one").await, "first").is_some());
}

/// Strings that look like query operators are data: stored and matched literally, and a
/// lookup by one finds nothing unless that exact string was stored.
pub async fn query_operators_are_literal(store: &dyn PrimaryBackend) {
    let ann = ok(
        store
            .create_user(NewUser::new("ann", "ann@example.com").with_password("correct horse"))
            .await,
        "create user",
    );
    for login in [
        r#"{"$gt": ""}"#,
        "$where",
        r#"{"$ne": null}"#,
        ".*",
        "ann@example.com'",
    ] {
        assert!(
            ok(store.credentials(login).await, "credentials").is_none(),
            "credentials({login}) found a user"
        );
        assert!(
            ok(store.authenticate(login, "correct horse").await, "auth").is_none(),
            "authenticate({login}) let someone in"
        );
        assert!(
            ok(store.category_by_name(login).await, "category by name").is_none(),
            "category_by_name({login}) found one"
        );
    }

    let weird = r#"{"$gt": ""}"#;
    let cat = category(store, "$where").await;
    assert_eq!(cat.name, "$where");
    let found = ok(store.category_by_name("$where").await, "by name");
    assert_eq!(found.map(|c| c.id), Some(cat.id));
    let p = product(store, &cat, weird, 100, 1).await;
    assert_eq!(ok(store.get_product(&p.id).await, "get").name, weird);
    let profile = Profile {
        display_name: Some(weird.into()),
        phone: Some("$where: function() { return true }".into()),
        address: Some(r#"{"$set": {"is_admin": true}}"#.into()),
    };
    let updated = ok(
        store
            .update_user(
                &ann.id,
                UserPatch {
                    profile: Some(profile.clone()),
                    ..UserPatch::default()
                },
            )
            .await,
        "profile with operators",
    );
    assert_eq!(updated.profile, profile);
    assert!(!updated.is_admin);
    assert_eq!(ok(store.get_user(&ann.id).await, "get").profile, profile);
    let r = ok(
        store
            .create_review(NewReview {
                user: ann.id,
                product: p.id,
                rating: 4,
                comment: weird.into(),
            })
            .await,
        "review with operators",
    );
    assert_eq!(ok(store.get_review(&r.id).await, "get").comment, weird);
}

/// Categories: create (with an existing parent), get, by exact name, list, unique names,
/// delete; a category with products cannot be deleted.
pub async fn categories_crud(store: &dyn PrimaryBackend) {
    let books = category(store, "Books").await;
    assert_eq!(books.version, 1);
    assert_eq!(books.parent, None);
    let scifi = ok(
        store
            .create_category(NewCategory {
                name: "Sci-Fi".into(),
                parent: Some(books.id),
            })
            .await,
        "child category",
    );
    assert_eq!(scifi.parent, Some(books.id));
    assert_eq!(ok(store.get_category(&books.id).await, "get"), books);
    assert_eq!(
        ok(store.category_by_name("Sci-Fi").await, "by name"),
        Some(scifi.clone())
    );
    assert_eq!(ok(store.category_by_name("sci-fi").await, "by name"), None);
    let mut ids = vec![books.id, scifi.id];
    ids.sort();
    let listed = all_pages(|p| store.list_categories(p)).await;
    assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), ids);

    let before = snapshot(store).await;
    assert_conflict(
        store.create_category(NewCategory::new("Books")).await,
        EntityKind::Category,
        "name",
        "same name",
    );
    let missing_parent = NewCategory {
        name: "Orphan".into(),
        parent: Some(crate::CategoryId::generate()),
    };
    assert_not_found(
        store.create_category(missing_parent).await,
        EntityKind::Category,
        "missing parent",
    );
    let p = product(store, &scifi, "Dune", 999, 3).await;
    let before_delete = snapshot(store).await;
    assert_conflict(
        store.delete_category(&scifi.id).await,
        EntityKind::Category,
        "products",
        "delete a category with products",
    );
    assert_unchanged(store, &before_delete, "refused category delete").await;
    ok(store.delete_product(&p.id).await, "delete product");
    ok(
        store.delete_category(&scifi.id).await,
        "delete emptied category",
    );
    assert_not_found(
        store.get_category(&scifi.id).await,
        EntityKind::Category,
        "get deleted",
    );
    assert_not_found(
        store.delete_category(&scifi.id).await,
        EntityKind::Category,
        "delete twice",
    );
    assert_eq!(ok(store.category_by_name("Sci-Fi").await, "by name"), None);
    let again = category(store, "Sci-Fi").await;
    assert_ne!(again.id, scifi.id, "a delete frees the name");
    drop(before);
}

/// Products: create, get, update (bumps version, moves category and its name), filter by
/// category, delete; a missing category is not found and changes nothing.
pub async fn products_crud(store: &dyn PrimaryBackend) {
    let books = category(store, "Books").await;
    let games = category(store, "Games").await;
    let p = product(store, &books, "Dune", 1999, 5).await;
    assert_eq!(p.version, 1);
    assert_eq!(p.category, books.id);
    assert_eq!(p.category_name, "Books");
    assert_eq!(p.price, Money::new(1999, Currency::USD));
    assert_eq!(p.stock, 5);
    assert_eq!(p.images, vec!["https://cdn.example/p.png".to_string()]);
    assert_eq!(ok(store.get_product(&p.id).await, "get"), p);

    let q = product(store, &games, "Chess", 2500, 1).await;
    let updated = ok(
        store
            .update_product(
                &p.id,
                ProductPatch {
                    name: Some("Dune (paperback)".into()),
                    price: Some(Money::new(1499, Currency::USD)),
                    category: Some(games.id),
                    stock: Some(7),
                    images: Some(vec![]),
                    description: Some(String::new()),
                },
            )
            .await,
        "update product",
    );
    assert_eq!(updated.version, 2);
    assert_eq!(updated.name, "Dune (paperback)");
    assert_eq!(updated.price.minor, 1499);
    assert_eq!(
        (updated.category, updated.category_name.as_str()),
        (games.id, "Games")
    );
    assert_eq!(updated.stock, 7);
    assert!(updated.images.is_empty() && updated.description.is_empty());
    assert_eq!(updated.created_at, p.created_at);
    assert_eq!(ok(store.get_product(&p.id).await, "get"), updated);

    let in_books = ok(
        store
            .list_products(ProductQuery {
                category: Some(books.id),
                page: PageRequest::default(),
            })
            .await,
        "filter books",
    );
    assert!(in_books.items.is_empty() && in_books.next.is_none());
    let in_games = ok(
        store
            .list_products(ProductQuery {
                category: Some(games.id),
                page: PageRequest::default(),
            })
            .await,
        "filter games",
    );
    let mut ids = vec![p.id, q.id];
    ids.sort();
    assert_eq!(in_games.items.iter().map(|p| p.id).collect::<Vec<_>>(), ids);
    let unknown = ok(
        store
            .list_products(ProductQuery {
                category: Some(crate::CategoryId::generate()),
                page: PageRequest::default(),
            })
            .await,
        "filter by unknown category",
    );
    assert!(
        unknown.items.is_empty(),
        "an unknown category lists nothing"
    );

    let before = snapshot(store).await;
    let missing = crate::CategoryId::generate();
    let mut np = new_product(&books, "Ghost", 100, 1);
    np.category = missing;
    assert_not_found(
        store.create_product(np).await,
        EntityKind::Category,
        "create",
    );
    assert_not_found(
        store
            .update_product(
                &p.id,
                ProductPatch {
                    category: Some(missing),
                    name: Some("renamed".into()),
                    ..ProductPatch::default()
                },
            )
            .await,
        EntityKind::Category,
        "move to a missing category",
    );
    assert_unchanged(store, &before, "missing category").await;

    ok(store.delete_product(&p.id).await, "delete");
    assert_not_found(
        store.get_product(&p.id).await,
        EntityKind::Product,
        "get deleted",
    );
    assert_not_found(
        store.update_product(&p.id, ProductPatch::default()).await,
        EntityKind::Product,
        "update deleted",
    );
    assert_not_found(
        store.delete_product(&p.id).await,
        EntityKind::Product,
        "delete twice",
    );
    let all = all_pages(|page| {
        store.list_products(ProductQuery {
            category: None,
            page,
        })
    })
    .await;
    assert_eq!(all, vec![q]);
}

/// Reviews: one per user and product (a second is a conflict on `product`), update bumps the
/// version, listed per product, delete frees the pair; unknown user or product is not found.
pub async fn reviews_crud(store: &dyn PrimaryBackend) {
    let cat = category(store, "Books").await;
    let p = product(store, &cat, "Dune", 1999, 5).await;
    let ann = user(store, "ann").await;
    let bob = user(store, "bob").await;
    let r = review(store, &ann, &p, 5).await;
    assert_eq!(
        (r.rating, r.version, r.user, r.product),
        (5, 1, ann.id, p.id)
    );
    assert_eq!(ok(store.get_review(&r.id).await, "get"), r);
    let r2 = review(store, &bob, &p, 2).await;

    let before = snapshot(store).await;
    assert_conflict(
        store
            .create_review(NewReview {
                user: ann.id,
                product: p.id,
                rating: 1,
                comment: String::new(),
            })
            .await,
        EntityKind::Review,
        "product",
        "second review by the same user",
    );
    assert_not_found(
        store
            .create_review(NewReview {
                user: crate::UserId::generate(),
                product: p.id,
                rating: 3,
                comment: String::new(),
            })
            .await,
        EntityKind::User,
        "unknown user",
    );
    assert_not_found(
        store
            .create_review(NewReview {
                user: ann.id,
                product: crate::ProductId::generate(),
                rating: 3,
                comment: String::new(),
            })
            .await,
        EntityKind::Product,
        "unknown product",
    );
    assert_unchanged(store, &before, "refused reviews").await;

    let updated = ok(
        store
            .update_review(
                &r.id,
                ReviewPatch {
                    rating: Some(3),
                    comment: Some("on second thought".into()),
                },
            )
            .await,
        "update review",
    );
    assert_eq!((updated.rating, updated.version), (3, 2));
    assert_eq!(updated.comment, "on second thought");

    let listed = all_pages(|page| store.list_product_reviews(&p.id, page)).await;
    let mut expected = vec![updated.clone(), r2];
    expected.sort_by_key(|r| r.id);
    assert_eq!(listed, expected);
    assert_not_found(
        store
            .list_product_reviews(&crate::ProductId::generate(), PageRequest::default())
            .await,
        EntityKind::Product,
        "reviews of an unknown product",
    );

    ok(store.delete_review(&r.id).await, "delete");
    assert_not_found(
        store.get_review(&r.id).await,
        EntityKind::Review,
        "get deleted",
    );
    assert_not_found(
        store.update_review(&r.id, ReviewPatch::default()).await,
        EntityKind::Review,
        "update deleted",
    );
    assert_not_found(
        store.delete_review(&r.id).await,
        EntityKind::Review,
        "delete twice",
    );
    let again = review(store, &ann, &p, 4).await;
    assert_ne!(again.id, r.id, "a delete frees the user-product pair");
}
