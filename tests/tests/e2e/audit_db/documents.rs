//! Documents and users in the database: idempotent creation under races, keyset pagination
//! under inserts, partial updates, and atomicity with the audit event.

use std::collections::HashSet;
use std::time::Duration;

use haven_db::audit;
use haven_db::audit_event::{Access, Actor};
use haven_db::documents::{
    self, CreateOutcome, DocumentFilter, DocumentPatch, DocumentStatus, UpdateOutcome,
};
use haven_db::idempotency::Key;
use haven_db::ids::{TenantId, UserId};
use haven_db::page::PageLimit;
use haven_db::tenant::TenantTx;
use haven_db::{PgPool, users};

use crate::rls::fixtures::{
    create_document, event, migrated, new_document, sqlstate, tenant, user,
};

async fn create_with_key(
    pool: &PgPool,
    t: TenantId,
    u: UserId,
    key: &str,
    hash: &[u8],
) -> CreateOutcome<documents::Document> {
    let mut tx = TenantTx::begin(pool, t).await.unwrap();
    let outcome = documents::create(
        &mut tx,
        &haven_phi::TenantFields::Plaintext,
        u,
        &new_document("same"),
        Some(Key {
            user: u,
            key,
            request_hash: hash,
        }),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    outcome
}

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn the_same_idempotency_key_sent_concurrently_creates_one_document() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let alice = user(&m.pool, a, "alice").await;
    // Deterministic overlap: the second request arrives while the first is uncommitted.
    let mut first = TenantTx::begin(&m.pool, a).await.unwrap();
    let created = documents::create(
        &mut first,
        &haven_phi::TenantFields::Plaintext,
        alice,
        &new_document("same"),
        Some(Key {
            user: alice,
            key: "k1",
            request_hash: &[1; 32],
        }),
    )
    .await
    .unwrap();
    let CreateOutcome::Created(doc) = created else {
        panic!("{created:?}")
    };
    let pool = m.pool.clone();
    let second =
        tokio::spawn(async move { create_with_key(&pool, a, alice, "k1", &[1; 32]).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !second.is_finished(),
        "the second request waits for the first"
    );
    first.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), CreateOutcome::Replayed(doc));

    // And a free-for-all of eight.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let pool = m.pool.clone();
            tokio::spawn(async move { create_with_key(&pool, a, alice, "k2", &[2; 32]).await })
        })
        .collect();
    let mut created = 0;
    let mut ids = HashSet::new();
    for racer in racers {
        match racer.await.unwrap() {
            CreateOutcome::Created(d) => {
                created += 1;
                ids.insert(d.id);
            }
            CreateOutcome::Replayed(d) => {
                ids.insert(d.id);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((created, ids.len()), (1, 1));
    assert_eq!(count(&m.pool, "select count(*) from documents").await, 2);
}

#[tokio::test]
async fn a_key_reused_with_a_different_body_is_refused_and_a_rolled_back_claim_frees_the_key() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let (alice, bob) = (
        user(&m.pool, a, "alice").await,
        user(&m.pool, a, "bob").await,
    );
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    documents::create(
        &mut tx,
        &haven_phi::TenantFields::Plaintext,
        alice,
        &new_document("x"),
        Some(Key {
            user: alice,
            key: "k",
            request_hash: &[1; 32],
        }),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert!(matches!(
        create_with_key(&m.pool, a, alice, "k", &[1; 32]).await,
        CreateOutcome::Created(_)
    ));
    assert_eq!(
        create_with_key(&m.pool, a, alice, "k", &[9; 32]).await,
        CreateOutcome::KeyReusedWithDifferentBody
    );
    // Keys belong to a user: another user's identical key is a new request.
    assert!(matches!(
        create_with_key(&m.pool, a, bob, "k", &[9; 32]).await,
        CreateOutcome::Created(_)
    ));
    assert_eq!(count(&m.pool, "select count(*) from documents").await, 2);
}

#[tokio::test]
async fn a_transaction_that_fails_after_its_write_leaves_neither_the_document_nor_its_event() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let alice = user(&m.pool, a, "alice").await;
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    let doc = create_document(&mut tx, alice, &new_document("x"))
        .await
        .unwrap();
    let id = doc.id.to_string();
    tx.record(&audit::NewAuditEvent {
        resource_id: Some(&id),
        ..event(a, "document.create")
    })
    .await
    .unwrap();
    // The request then fails on a constraint: the handler returns the error, dropping `tx`.
    let bad = documents::NewDocument {
        size_bytes: -1,
        ..new_document("y")
    };
    let error = create_document(&mut tx, alice, &bad).await.unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("23514"));
    drop(tx);
    assert_eq!(count(&m.pool, "select count(*) from documents").await, 0);
    assert_eq!(count(&m.pool, "select count(*) from audit_events").await, 0);
}

#[tokio::test]
async fn walking_all_document_pages_returns_every_document_once_under_concurrent_inserts() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let alice = user(&m.pool, a, "alice").await;
    let mut before = HashSet::new();
    for i in 0..150 {
        // Several rows per transaction share created_at: the id breaks the tie.
        let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
        for j in 0..3 {
            before.insert(
                create_document(&mut tx, alice, &new_document(&format!("d{i}-{j}")))
                    .await
                    .unwrap()
                    .id,
            );
        }
        tx.commit().await.unwrap();
    }
    let pool = m.pool.clone();
    let inserting = tokio::spawn(async move {
        for i in 0..100 {
            let mut tx = TenantTx::begin(&pool, a).await.unwrap();
            create_document(&mut tx, alice, &new_document(&format!("new{i}")))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    });
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
        let filter = DocumentFilter::default();
        let page = documents::list(
            &mut tx,
            &haven_phi::TenantFields::Plaintext,
            &filter,
            cursor.as_ref(),
            PageLimit::new(8).unwrap(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert!(page.items.len() <= 8);
        seen.extend(page.items.iter().map(|d| d.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    inserting.await.unwrap();
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a document was returned twice");
    assert!(before.is_subset(&unique), "a document was skipped");
}

#[tokio::test]
async fn lists_filter_by_status_and_time_and_skip_deleted_documents() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let alice = user(&m.pool, a, "alice").await;
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    let mut docs = Vec::new();
    for status in DocumentStatus::ALL {
        docs.push(
            create_document(
                &mut tx,
                alice,
                &documents::NewDocument {
                    status,
                    ..new_document(status.as_str())
                },
            )
            .await
            .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    assert!(documents::soft_delete(&mut tx, docs[0].id).await.unwrap());
    assert!(!documents::soft_delete(&mut tx, docs[0].id).await.unwrap());
    assert_eq!(
        documents::get(&mut tx, &haven_phi::TenantFields::Plaintext, docs[0].id)
            .await
            .unwrap(),
        None
    );
    let ready = DocumentFilter {
        status: Some(DocumentStatus::Ready),
        ..Default::default()
    };
    let page = documents::list(
        &mut tx,
        &haven_phi::TenantFields::Plaintext,
        &ready,
        None,
        PageLimit::DEFAULT,
    )
    .await
    .unwrap();
    assert_eq!(
        page.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        [docs[2].id]
    );
    let all = documents::list(
        &mut tx,
        &haven_phi::TenantFields::Plaintext,
        &DocumentFilter::default(),
        None,
        PageLimit::DEFAULT,
    )
    .await
    .unwrap();
    assert_eq!(all.items.len(), 4, "the deleted one is not listed");
    let created = docs[1].created_at;
    let window = DocumentFilter {
        created_from: Some(created),
        created_to: Some(created + Duration::from_micros(1)),
        ..Default::default()
    };
    assert_eq!(
        documents::list(
            &mut tx,
            &haven_phi::TenantFields::Plaintext,
            &window,
            None,
            PageLimit::DEFAULT
        )
        .await
        .unwrap()
        .items
        .len(),
        4
    );
    let after = DocumentFilter {
        created_from: Some(created + Duration::from_micros(1)),
        ..Default::default()
    };
    assert!(
        documents::list(
            &mut tx,
            &haven_phi::TenantFields::Plaintext,
            &after,
            None,
            PageLimit::DEFAULT
        )
        .await
        .unwrap()
        .items
        .is_empty()
    );
}

#[tokio::test]
async fn an_update_reports_the_names_of_the_fields_it_changed_and_writes_nothing_otherwise() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let alice = user(&m.pool, a, "alice").await;
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    let doc = create_document(&mut tx, alice, &new_document("x"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    let patch = DocumentPatch {
        title: Some("x".into()),
        status: Some(DocumentStatus::Ready),
        metadata: Some(serde_json::json!({"pages": 3})),
        ..Default::default()
    };
    let UpdateOutcome::Updated(updated) =
        documents::update(&mut tx, &haven_phi::TenantFields::Plaintext, doc.id, patch)
            .await
            .unwrap()
    else {
        panic!("the document is live");
    };
    assert_eq!(updated.changed_fields, ["status", "metadata"]);
    assert!(updated.row.updated_at >= doc.updated_at);
    let same = DocumentPatch {
        status: Some(DocumentStatus::Ready),
        ..Default::default()
    };
    let UpdateOutcome::Updated(unchanged) =
        documents::update(&mut tx, &haven_phi::TenantFields::Plaintext, doc.id, same)
            .await
            .unwrap()
    else {
        panic!("the document is live");
    };
    assert!(unchanged.changed_fields.is_empty());
    assert_eq!(unchanged.row, updated.row);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_user_is_created_on_first_sight_once_even_when_seen_concurrently() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let pool = m.pool.clone();
            tokio::spawn(async move { user(&pool, a, "carol").await })
        })
        .collect();
    let mut ids = HashSet::new();
    for racer in racers {
        ids.insert(racer.await.unwrap());
    }
    assert_eq!(ids.len(), 1);
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    let first = users::upsert_seen(&mut tx, "carol").await.unwrap();
    let again = users::upsert_seen(&mut tx, "carol").await.unwrap();
    assert_eq!(
        first.last_seen_at, again.last_seen_at,
        "touched at most once a minute"
    );
    tx.commit().await.unwrap();
    sqlx::query("update users set last_seen_at = now() - interval '2 minutes'")
        .execute(&m.pool)
        .await
        .unwrap();
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    let later = users::upsert_seen(&mut tx, "carol").await.unwrap();
    assert!(later.last_seen_at > first.last_seen_at);
    let listed = users::list(&mut tx, None, PageLimit::DEFAULT)
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        [later.id]
    );
}

#[tokio::test]
async fn a_read_and_its_audit_event_go_in_one_statement_with_the_outcome_the_caller_saw() {
    let m = migrated().await;
    let (a, b) = (
        tenant(&m.pool, "org-a").await,
        tenant(&m.pool, "org-b").await,
    );
    let (alice, bob) = (
        user(&m.pool, a, "alice").await,
        user(&m.pool, b, "bob").await,
    );
    let mut tx = TenantTx::begin(&m.pool, b).await.unwrap();
    let theirs = create_document(&mut tx, bob, &new_document("b"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    let mine = create_document(&mut tx, alice, &new_document("a"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let actor = Actor {
        user_id: Some(alice),
        ..Actor::default()
    };
    let mut tx = TenantTx::begin_as(&m.pool, a, actor).await.unwrap();
    for (id, found) in [(mine.id, true), (theirs.id, false)] {
        tx.audit(Access::new("document.read", "document").on(id.to_string()));
        let doc = documents::get(&mut tx, &haven_phi::TenantFields::Plaintext, id)
            .await
            .unwrap();
        assert_eq!(doc.is_some(), found);
    }
    let page = audit::list(
        &mut tx,
        &audit::AuditFilter::default(),
        None,
        PageLimit::DEFAULT,
    )
    .await
    .unwrap();
    let outcomes: Vec<_> = page
        .items
        .iter()
        .map(|e| (e.resource_id.clone().unwrap(), e.outcome))
        .collect();
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.contains(&(mine.id.to_string(), audit::AuditOutcome::Success)));
    assert!(outcomes.contains(&(theirs.id.to_string(), audit::AuditOutcome::Denied)));
    tx.rollback().await.unwrap();
    assert_eq!(count(&m.pool, "select count(*) from audit_events").await, 0);
}
