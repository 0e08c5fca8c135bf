//! KMS unreachable: cached tenants keep working, others get "unavailable"; recovery needs no
//! restart.

use std::time::Duration;

use haven_phi::PhiError;

use super::support::{Fixture, Note, Switch, fixture, read_note, write_note};
use crate::rls::fixtures::tenant;

#[tokio::test]
async fn with_kms_unreachable_cached_tenants_are_served_others_are_unavailable_until_it_returns() {
    let Fixture { m, kms, phi: _ } = fixture(Duration::from_secs(900)).await;
    let switch = Switch::start(&kms.endpoint).await;
    let phi = kms.phi(&switch.endpoint, Duration::from_secs(900)).await;
    // Tenant B's keys are made by another process, so this one has never unwrapped them.
    let elsewhere = kms.phi(&kms.endpoint, Duration::from_secs(900)).await;
    let a = tenant(&m.pool, "org-a").await;
    let b = tenant(&m.pool, "org-b").await;
    let note = Note {
        title: "Lab result",
        family_name: "Franklin",
    };
    let a1 = write_note(&phi, &m.pool, a, &note).await.unwrap();
    read_note(&phi, &m.pool, a, a1).await.unwrap(); // now cached
    let b1 = write_note(&elsewhere, &m.pool, b, &note).await.unwrap();

    switch.set(false);
    assert_eq!(read_note(&phi, &m.pool, a, a1).await.unwrap().1, "Franklin");
    write_note(&phi, &m.pool, a, &note).await.unwrap();
    let error = read_note(&phi, &m.pool, b, b1).await.unwrap_err();
    assert!(
        matches!(error, PhiError::KeyServiceUnavailable { .. }),
        "{error:?}"
    );
    let new_tenant = tenant(&m.pool, "org-new").await;
    assert!(matches!(
        write_note(&phi, &m.pool, new_tenant, &note).await,
        Err(PhiError::KeyServiceUnavailable { .. })
    ));

    // Back: after the short fail-fast pause that follows a KMS failure, the same process
    // unwraps again; no restart.
    switch.set(true);
    let recovered = haven_tests::eventually(Duration::from_secs(30), || async {
        read_note(&phi, &m.pool, b, b1).await.is_ok()
    })
    .await;
    assert!(recovered, "tenant B is served again once KMS answers");
    assert_eq!(read_note(&phi, &m.pool, b, b1).await.unwrap().1, "Franklin");
    write_note(&phi, &m.pool, new_tenant, &note).await.unwrap();
}
