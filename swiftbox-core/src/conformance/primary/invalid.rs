//! Every bad input is refused with the right error kind and changes nothing, sync bookkeeping
//! included. Validation comes before any lookup, so bad input against a missing entity is
//! still `Invalid`, not `NotFound`.

use super::support::*;
use crate::prelude::*;
use crate::{
    Currency, EntityKind, Error, Money, NewCategory, NewOrderItem, NewReview, NewUser,
    ProductPatch, Profile, ReviewPatch, UserPatch,
};

/// Bad usernames, e-mails, passwords and profile fields.
pub async fn user_bad_input(store: &dyn PrimaryBackend) {
    let ann = user(store, "ann").await;
    let before = snapshot(store).await;
    let cases: Vec<(NewUser, &str)> = vec![
        (NewUser::new("", "a@example.com"), "username"),
        (NewUser::new("   ", "a@example.com"), "username"),
        (NewUser::new("a".repeat(151), "a@example.com"), "username"),
        (NewUser::new(r#"{"$gt": ""}"#, "a@example.com"), "username"),
        // A username that looks like an e-mail could be mistaken for another account's e-mail
        // at log-in (credentials match the username, then the e-mail): refused.
        (NewUser::new("bob@example.com", "a@example.com"), "username"),
        (NewUser::new("carl", "not-an-email"), "email"),
        (NewUser::new("carl", "carl@"), "email"),
        (NewUser::new("carl", "@example.com"), "email"),
        (NewUser::new("carl", "carl@example"), "email"),
        (NewUser::new("carl", "carl@@example.com"), "email"),
        (NewUser::new("carl", "ca rl@example.com"), "email"),
        (NewUser::new("carl", ""), "email"),
        (
            NewUser::new("carl", "carl@example.com").with_password("short"),
            "password",
        ),
        (
            NewUser {
                profile: Profile {
                    display_name: Some("x".repeat(151)),
                    ..Profile::default()
                },
                ..NewUser::new("carl", "carl@example.com")
            },
            "profile.display_name",
        ),
    ];
    for (new, field) in cases {
        let what = format!("create user {:?}", new.username);
        assert_invalid(store.create_user(new).await, field, &what);
    }
    for id in [ann.id, crate::UserId::generate()] {
        let bad = UserPatch {
            email: Some("nope".into()),
            ..UserPatch::default()
        };
        assert_invalid(store.update_user(&id, bad).await, "email", "patch e-mail");
        let bad = UserPatch {
            password: Some("short".into()),
            ..UserPatch::default()
        };
        assert_invalid(
            store.update_user(&id, bad).await,
            "password",
            "patch password",
        );
        let bad = UserPatch {
            profile: Some(Profile {
                phone: Some("1".repeat(41)),
                ..Profile::default()
            }),
            ..UserPatch::default()
        };
        assert_invalid(
            store.update_user(&id, bad).await,
            "profile.phone",
            "patch phone",
        );
    }
    assert_unchanged(store, &before, "bad user input").await;
}

/// Empty and over-long category names.
pub async fn category_bad_input(store: &dyn PrimaryBackend) {
    category(store, "Books").await;
    let before = snapshot(store).await;
    for name in [
        String::new(),
        "  ".into(),
        "c".repeat(101),
        "tab\u{7}bell".into(),
    ] {
        assert_invalid(
            store.create_category(NewCategory::new(name.clone())).await,
            "name",
            &format!("category {name:?}"),
        );
    }
    assert_unchanged(store, &before, "bad category input").await;
}

/// Empty and over-long names, negative or huge prices, negative stock, bad image URLs, on
/// create and update.
pub async fn product_bad_input(store: &dyn PrimaryBackend) {
    let cat = category(store, "Books").await;
    let p = product(store, &cat, "Dune", 1999, 5).await;
    let before = snapshot(store).await;
    let base = || new_product(&cat, "Ok", 100, 1);
    let mut cases = vec![];
    let mut n = base();
    n.name = String::new();
    cases.push((n, "name"));
    let mut n = base();
    n.name = "n".repeat(201);
    cases.push((n, "name"));
    let mut n = base();
    n.description = "d".repeat(5001);
    cases.push((n, "description"));
    let mut n = base();
    n.price = Money::new(-1, Currency::USD);
    cases.push((n, "price"));
    let mut n = base();
    n.price = Money::new(Money::MAX_MINOR + 1, Currency::USD);
    cases.push((n, "price"));
    let mut n = base();
    n.stock = -1;
    cases.push((n, "stock"));
    let mut n = base();
    n.images = vec!["javascript:alert(1)".into()];
    cases.push((n, "images[0]"));
    // Bad input with a missing category is still invalid: validation comes first.
    let mut n = base();
    n.name = String::new();
    n.category = crate::CategoryId::generate();
    cases.push((n, "name"));
    for (new, field) in cases {
        assert_invalid(
            store.create_product(new).await,
            field,
            &format!("create ({field})"),
        );
    }
    let patches = [
        (
            ProductPatch {
                name: Some(" ".into()),
                ..ProductPatch::default()
            },
            "name",
        ),
        (
            ProductPatch {
                price: Some(Money::new(-5, Currency::USD)),
                ..ProductPatch::default()
            },
            "price",
        ),
        (
            ProductPatch {
                stock: Some(-3),
                ..ProductPatch::default()
            },
            "stock",
        ),
    ];
    for id in [p.id, crate::ProductId::generate()] {
        for (patch, field) in &patches {
            assert_invalid(
                store.update_product(&id, patch.clone()).await,
                field,
                &format!("update ({field})"),
            );
        }
    }
    assert_unchanged(store, &before, "bad product input").await;
}

/// Empty orders, zero or negative or huge quantities, a product twice, a bad address, unknown
/// user or product, insufficient stock (no stock taken from the lines that fitted) and mixed
/// currencies.
pub async fn order_bad_input(store: &dyn PrimaryBackend) {
    let cat = category(store, "Books").await;
    let a = product(store, &cat, "Dune", 1999, 5).await;
    let b = product(store, &cat, "Emma", 550, 2).await;
    let mut eur = new_product(&cat, "Faust", 900, 5);
    eur.price = Money::new(900, Currency::EUR);
    let e = ok(store.create_product(eur).await, "euro product");
    let ann = user(store, "ann").await;
    let before = snapshot(store).await;

    assert_invalid(
        store.place_order(new_order(&ann, &[])).await,
        "items",
        "no items",
    );
    for (q, what) in [(0, "zero"), (-1, "negative"), (10_001, "too many")] {
        assert_invalid(
            store
                .place_order(new_order(&ann, &[(&a, 1), (&b, q)]))
                .await,
            "items[1].quantity",
            &format!("{what} quantity"),
        );
    }
    assert_invalid(
        store
            .place_order(new_order(&ann, &[(&a, 1), (&a, 1)]))
            .await,
        "items[1].product",
        "product twice",
    );
    let mut too_many = new_order(&ann, &[(&a, 1)]);
    too_many.items = (0..101)
        .map(|i| NewOrderItem {
            product: crate::ProductId::from_u128(i),
            quantity: 1,
        })
        .collect();
    assert_invalid(store.place_order(too_many).await, "items", "101 lines");
    let mut no_name = new_order(&ann, &[(&a, 1)]);
    no_name.shipping.name = " ".into();
    assert_invalid(
        store.place_order(no_name).await,
        "shipping.name",
        "empty name",
    );
    // Invalid before lookups: an unknown user with bad lines is invalid.
    let mut ghost = new_order(&ann, &[(&a, 0)]);
    ghost.user = crate::UserId::generate();
    assert_invalid(
        store.place_order(ghost).await,
        "items[0].quantity",
        "validation first",
    );

    let mut ghost = new_order(&ann, &[(&a, 1)]);
    ghost.user = crate::UserId::generate();
    assert_not_found(
        store.place_order(ghost).await,
        EntityKind::User,
        "unknown user",
    );
    let mut unknown = new_order(&ann, &[(&a, 1)]);
    unknown.items.push(NewOrderItem {
        product: crate::ProductId::generate(),
        quantity: 1,
    });
    assert_not_found(
        store.place_order(unknown).await,
        EntityKind::Product,
        "unknown product",
    );

    let e_short = err(
        store
            .place_order(new_order(&ann, &[(&a, 5), (&b, 3)]))
            .await,
        "insufficient stock",
    );
    match &e_short {
        Error::InsufficientStock {
            product,
            requested,
            available,
        } => {
            assert_eq!(
                (product.as_str(), *requested, *available),
                (b.id.to_string().as_str(), 3, 2)
            );
        }
        other => panic!("expected insufficient stock, got: {other}"),
    }
    assert_invalid(
        store
            .place_order(new_order(&ann, &[(&a, 1), (&e, 1)]))
            .await,
        "items[1]",
        "mixed currencies",
    );
    assert_unchanged(store, &before, "bad orders").await;

    // The exact remaining stock can still be bought.
    let o = order(store, &ann, &[(&a, 5), (&b, 2)]).await;
    assert_eq!(o.total.minor, 5 * 1999 + 2 * 550);
}

/// Ratings outside 1..=5 and over-long comments, on create and update.
pub async fn review_bad_input(store: &dyn PrimaryBackend) {
    let cat = category(store, "Books").await;
    let p = product(store, &cat, "Dune", 1999, 5).await;
    let ann = user(store, "ann").await;
    let r = review(store, &ann, &p, 4).await;
    let bob = user(store, "bob").await;
    let before = snapshot(store).await;
    for rating in [0, 6, -1, 256, i64::MAX] {
        assert_invalid(
            store
                .create_review(NewReview {
                    user: bob.id,
                    product: p.id,
                    rating,
                    comment: String::new(),
                })
                .await,
            "rating",
            &format!("rating {rating}"),
        );
        for id in [r.id, crate::ReviewId::generate()] {
            assert_invalid(
                store
                    .update_review(
                        &id,
                        ReviewPatch {
                            rating: Some(rating),
                            comment: None,
                        },
                    )
                    .await,
                "rating",
                &format!("patch rating {rating}"),
            );
        }
    }
    assert_invalid(
        store
            .create_review(NewReview {
                user: crate::UserId::generate(),
                product: p.id,
                rating: 9,
                comment: String::new(),
            })
            .await,
        "rating",
        "validation before lookups",
    );
    assert_invalid(
        store
            .create_review(NewReview {
                user: bob.id,
                product: p.id,
                rating: 3,
                comment: "c".repeat(5001),
            })
            .await,
        "comment",
        "long comment",
    );
    assert_unchanged(store, &before, "bad reviews").await;
}
