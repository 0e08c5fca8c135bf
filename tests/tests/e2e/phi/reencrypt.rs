//! Rotation and the batch engine: every row readable throughout, concurrent writes kept, an
//! interrupted run resumed, legacy plaintext converted, and the old version retired.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use haven_phi::reencrypt::{self, Pass};
use haven_phi::{RotateOutcome, key_version_of};
use uuid::Uuid;

use super::support::{
    Fixture, NOTES, Note, contains, find_by_family_name, fixture, raw_table, read_note,
    update_family_name, write_note,
};
use crate::rls::fixtures::tenant;

const TTL: Duration = Duration::from_secs(900);

/// The key version of each row's family_name, as stored.
async fn versions(pool: &haven_db::PgPool) -> Vec<Option<u32>> {
    let rows: Vec<Vec<u8>> = sqlx::query_scalar("select family_name from phi_test_notes")
        .fetch_all(pool)
        .await
        .unwrap();
    rows.iter().map(|r| key_version_of(r)).collect()
}

#[tokio::test]
async fn rotation_then_reencryption_survives_an_interruption_and_concurrent_writes_then_retires_the_old_key()
 {
    let Fixture { m, kms, phi } = fixture(TTL).await;
    let phi = Arc::new(phi);
    let a = tenant(&m.pool, "org-a").await;
    let mut expected: HashMap<Uuid, String> = HashMap::new();
    for i in 0..40 {
        let family = format!("Family{i}");
        let id = write_note(
            &phi,
            &m.pool,
            a,
            &Note {
                title: "note",
                family_name: &family,
            },
        )
        .await
        .unwrap();
        expected.insert(id, family);
    }

    let rotated = phi.rotate(&m.pool, a).await.unwrap();
    assert_eq!(rotated, RotateOutcome::Rotated { version: 2 });
    let fresh = write_note(
        &phi,
        &m.pool,
        a,
        &Note {
            title: "new",
            family_name: "Fresh",
        },
    )
    .await
    .unwrap();
    expected.insert(fresh, "Fresh".to_owned());
    assert!(
        versions(&m.pool).await.contains(&Some(2)),
        "new writes use version 2"
    );

    // A run stopped after its first batch (the task is dropped mid-flight, as by a crash).
    let (first_batch, mut batch_done) = tokio::sync::mpsc::unbounded_channel();
    let interrupted = {
        let (phi, pool) = (phi.clone(), m.pool.clone());
        tokio::spawn(async move {
            reencrypt::run(&phi, &pool, &[NOTES], Pass::Reencrypt, &[a], 5, |_| {
                let _ = first_batch.send(());
            })
            .await
        })
    };
    batch_done.recv().await.expect("a first batch");
    interrupted.abort();
    let _ = interrupted.await;
    let after_crash = versions(&m.pool).await;
    assert!(
        after_crash.contains(&Some(1)) && after_crash.contains(&Some(2)),
        "{after_crash:?}"
    );
    for (id, family) in &expected {
        assert_eq!(&read_note(&phi, &m.pool, a, *id).await.unwrap().1, family);
    }

    // The rerun, with a request updating rows while it goes.
    let writer = {
        let (phi, pool) = (phi.clone(), m.pool.clone());
        let ids: Vec<Uuid> = expected.keys().copied().take(15).collect();
        tokio::spawn(async move {
            let mut written = Vec::new();
            for id in ids {
                let value = format!("Updated-{id}");
                update_family_name(&phi, &pool, a, id, &value)
                    .await
                    .unwrap();
                written.push((id, value));
            }
            written
        })
    };
    let reports = reencrypt::run(&phi, &m.pool, &[NOTES], Pass::Reencrypt, &[a], 5, |_| {})
        .await
        .unwrap();
    for (id, value) in writer.await.unwrap() {
        expected.insert(id, value);
    }
    assert!(versions(&m.pool).await.iter().all(|v| *v == Some(2)));
    for (id, family) in &expected {
        assert_eq!(&read_note(&phi, &m.pool, a, *id).await.unwrap().1, family);
    }
    // Nothing uses version 1, but it was demoted less than a cache TTL ago: kept for now.
    assert_eq!(reports[0].in_grace, vec![1]);
    assert!(reports[0].retired.is_empty());

    // Once the TTL has passed (a process whose TTL is zero sees that at once), it is retired.
    let later = kms.phi(&kms.endpoint, Duration::ZERO).await;
    let reports = reencrypt::run(&later, &m.pool, &[NOTES], Pass::Reencrypt, &[a], 5, |_| {})
        .await
        .unwrap();
    assert_eq!(reports[0].retired, vec![1]);
    let (state, wrapped): (String, Option<Vec<u8>>) = sqlx::query_as(
        "select state, wrapped_key from tenant_keys where tenant_id = $1 and purpose = 'encryption' and version = 1",
    )
    .bind(a)
    .fetch_one(&m.pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), wrapped), ("retired", None));
    for (id, family) in &expected {
        assert_eq!(&read_note(&later, &m.pool, a, *id).await.unwrap().1, family);
    }
    // Blind indexes do not change with the rotation: each row is found by its (case-folded)
    // value, the new and the updated ones included.
    for (id, family) in &expected {
        let found = find_by_family_name(&later, &m.pool, a, &family.to_uppercase()).await;
        assert_eq!(found, vec![*id], "{family}");
    }
}

#[tokio::test]
async fn encrypt_existing_converts_legacy_plaintext_rows_and_fills_their_blind_indexes() {
    let Fixture { m, kms: _, phi } = fixture(TTL).await;
    let a = tenant(&m.pool, "org-a").await;
    let b = tenant(&m.pool, "org-b").await;
    // Rows written before encryption: format byte 0x00 and the text, no blind index.
    let mut legacy = Vec::new();
    for (tenant, family) in [(a, "Curie"), (a, "Curie"), (a, "Meitner"), (b, "Curie")] {
        let id: Uuid = sqlx::query_scalar(
            "insert into phi_test_notes (tenant_id, title, family_name) \
             values ($1, '\\x00'::bytea || convert_to('Old title', 'UTF8'), '\\x00'::bytea || convert_to($2, 'UTF8')) returning id",
        )
        .bind(tenant)
        .bind(family)
        .fetch_one(&m.pool)
        .await
        .unwrap();
        legacy.push((tenant, id, family));
    }
    // Both forms are read until the conversion has run.
    assert_eq!(
        read_note(&phi, &m.pool, a, legacy[0].1).await.unwrap().1,
        "Curie"
    );

    let mut seen = Vec::new();
    let reports = reencrypt::run(
        &phi,
        &m.pool,
        &[NOTES],
        Pass::EncryptExisting,
        &[a, b],
        2,
        |p| {
            seen.push((p.tenant, p.done, p.total));
        },
    )
    .await
    .unwrap();
    assert_eq!(reports.iter().map(|r| r.rows_rewritten).sum::<u64>(), 4);
    assert_eq!(
        seen.last(),
        Some(&(b, 1, 1)),
        "progress per tenant: {seen:?}"
    );
    assert!(seen.contains(&(a, 3, 3)), "{seen:?}");
    let raw = raw_table(&m.pool).await;
    for value in ["Curie", "Meitner", "Old title"] {
        assert!(!contains(&raw, value), "{value} is still stored in clear");
    }
    for (tenant, id, family) in &legacy {
        assert_eq!(
            &read_note(&phi, &m.pool, *tenant, *id).await.unwrap().1,
            family
        );
    }
    let mut curies = vec![legacy[0].1, legacy[1].1];
    curies.sort();
    assert_eq!(find_by_family_name(&phi, &m.pool, a, "CURIE").await, curies);
    assert_eq!(
        find_by_family_name(&phi, &m.pool, b, "curie").await,
        vec![legacy[3].1]
    );
    // Idempotent: a second run finds nothing to do.
    let again = reencrypt::run(
        &phi,
        &m.pool,
        &[NOTES],
        Pass::EncryptExisting,
        &[a, b],
        2,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(again.iter().map(|r| r.rows_rewritten).sum::<u64>(), 0);
}
