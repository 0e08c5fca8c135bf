//! Keys are made on first use and stored only wrapped; ciphertexts are bound to their place.

use std::time::Duration;

use haven_db::tenant::TenantTx;
use haven_phi::PhiError;

use super::support::{Fixture, Note, contains, fixture, raw_table, read_note, write_note};
use crate::rls::fixtures::tenant;

const TTL: Duration = Duration::from_secs(900);

#[tokio::test]
async fn a_tenants_first_write_creates_its_keys_and_the_table_holds_no_plaintext() {
    let Fixture { m, kms, phi } = fixture(TTL).await;
    let a = tenant(&m.pool, "org-a").await;

    let note = Note {
        title: "Discharge summary",
        family_name: "Nightingale",
    };
    let id = write_note(&phi, &m.pool, a, &note).await.unwrap();
    assert_eq!(
        read_note(&phi, &m.pool, a, id).await.unwrap(),
        ("Discharge summary".to_owned(), "Nightingale".to_owned())
    );

    let raw = raw_table(&m.pool).await;
    for value in ["Discharge summary", "Nightingale", "nightingale"] {
        assert!(!contains(&raw, value), "{value} is stored in clear");
    }
    let rows = haven_db::tenant_keys::admin_list(&m.pool, a).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!((row.version, row.state.as_str()), (1, "active"), "{row:?}");
        assert_eq!(row.wrapped_by, format!("kms:{}", kms.key_id));
        let wrapped = row.wrapped_key.as_ref().expect("a wrapped key");
        assert!(wrapped.len() > 32, "a KMS ciphertext blob, not a raw key");
    }
    assert_eq!(rows[0].purpose, "blind_index");
    assert_eq!(rows[1].purpose, "encryption");
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_column_or_tenant_is_an_integrity_error() {
    let Fixture { m, kms: _, phi } = fixture(TTL).await;
    let a = tenant(&m.pool, "org-a").await;
    let b = tenant(&m.pool, "org-b").await;
    let first = Note {
        title: "A1",
        family_name: "Lovelace",
    };
    let second = Note {
        title: "A2",
        family_name: "Babbage",
    };
    let a1 = write_note(&phi, &m.pool, a, &first).await.unwrap();
    let a2 = write_note(&phi, &m.pool, a, &second).await.unwrap();
    let b1 = write_note(&phi, &m.pool, b, &first).await.unwrap();

    let moves = [
        // Another row of the same tenant.
        "update phi_test_notes set family_name = (select family_name from phi_test_notes where id = $1) where id = $2",
        // Another column of the same row.
        "update phi_test_notes set title = family_name where id = $2 and $1 = $1",
    ];
    for (statement, victim) in moves.iter().zip([a2, a1]) {
        sqlx::query(*statement)
            .bind(a1)
            .bind(victim)
            .execute(&m.pool)
            .await
            .unwrap();
        let error = read_note(&phi, &m.pool, a, victim).await.unwrap_err();
        assert!(
            matches!(error, PhiError::Integrity { row_id, .. } if row_id == victim),
            "{error:?}"
        );
    }
    // Another tenant's row (same table and column, the superuser copies the bytes).
    sqlx::query("update phi_test_notes set family_name = (select family_name from phi_test_notes where id = $1) where id = $2")
        .bind(b1)
        .bind(a2)
        .execute(&m.pool)
        .await
        .unwrap();
    sqlx::query("update phi_test_notes set title = (select title from phi_test_notes where id = $1) where id = $2")
        .bind(a2)
        .bind(b1)
        .execute(&m.pool)
        .await
        .unwrap();
    assert!(matches!(
        read_note(&phi, &m.pool, b, b1).await,
        Err(PhiError::Integrity { .. })
    ));
}

#[tokio::test]
async fn another_tenants_wrapped_key_does_not_unwrap_under_this_tenants_encryption_context() {
    let Fixture { m, kms, phi } = fixture(TTL).await;
    let a = tenant(&m.pool, "org-a").await;
    let c = tenant(&m.pool, "org-c").await;
    write_note(
        &phi,
        &m.pool,
        a,
        &Note {
            title: "t",
            family_name: "f",
        },
    )
    .await
    .unwrap();
    // The superuser plants tenant A's wrapped keys as tenant C's.
    sqlx::query(
        "insert into tenant_keys (tenant_id, purpose, version, state, wrapped_key, wrapped_by) \
         select $2, purpose, version, state, wrapped_key, wrapped_by from tenant_keys where tenant_id = $1",
    )
    .bind(a)
    .bind(c)
    .execute(&m.pool)
    .await
    .unwrap();
    let fresh = kms.phi(&kms.endpoint, TTL).await;
    let mut tx = TenantTx::begin(&m.pool, c).await.unwrap();
    let error = fresh.tenant_keys(&mut tx).await.unwrap_err();
    assert!(
        matches!(&error, PhiError::Integrity { table, column, .. } if table == "tenant_keys" && column == "wrapped_key"),
        "{error:?}"
    );
}
