//! Crypto-shredding through the binary: refused unless confirmed and suspended; then no key is
//! left, listening replicas evict, other tenants are unaffected and the audit trail verifies.

use std::collections::HashMap;
use std::time::Duration;

use haven_db::invalidation::{CHANNEL, Invalidation};
use haven_db::tenant::TenantTx;
use haven_phi::PhiError;
use haven_tests::HavenProcess;
use sqlx::postgres::PgListener;

use super::support::{Fixture, Kms, Note, fixture, read_note, write_note};
use crate::rls::fixtures::tenant;

struct Run {
    code: Option<i32>,
    out: String,
}

fn haven(args: &[&str], database_url: &str, kms: &Kms) -> Run {
    let mut env: HashMap<String, String> = kms
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    env.insert("DATABASE_URL".into(), database_url.to_owned());
    env.insert("ENVIRONMENT".into(), "development".into());
    let mut process = HavenProcess::spawn(args, &env);
    let status = process
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("haven {args:?} did not exit"));
    Run {
        code: status.code(),
        out: format!(
            "{}\n{}",
            process.stdout_lines().join("\n"),
            process.stderr_lines().join("\n")
        ),
    }
}

#[tokio::test]
async fn shredding_a_suspended_tenant_destroys_its_keys_everywhere_and_leaves_the_audit_trail_verifiable()
 {
    let Fixture {
        m,
        kms,
        phi: replica,
    } = fixture(Duration::from_secs(900)).await;
    let a = tenant(&m.pool, "org-a").await;
    let b = tenant(&m.pool, "org-b").await;
    let note = Note {
        title: "Referral",
        family_name: "Hopper",
    };
    let a1 = write_note(&replica, &m.pool, a, &note).await.unwrap();
    let b1 = write_note(&replica, &m.pool, b, &note).await.unwrap();
    read_note(&replica, &m.pool, a, a1).await.unwrap(); // A's keys are now cached
    let mut listener = PgListener::connect(&m.db.url).await.unwrap();
    listener.listen(CHANNEL).await.unwrap();
    let url = m.db.url.as_str();

    let unconfirmed = haven(
        &["tenants", "shred", "org-a", "--confirm", "org-b"],
        url,
        &kms,
    );
    assert_eq!(unconfirmed.code, Some(2), "{}", unconfirmed.out);
    let active = haven(
        &["tenants", "shred", "org-a", "--confirm", "org-a"],
        url,
        &kms,
    );
    assert_eq!(active.code, Some(1), "{}", active.out);
    assert!(active.out.contains("suspend"), "{}", active.out);
    assert_eq!(
        read_note(&replica, &m.pool, a, a1).await.unwrap().1,
        "Hopper"
    );

    assert_eq!(
        haven(&["tenants", "suspend", "org-a"], url, &kms).code,
        Some(0)
    );
    let shred = haven(
        &["tenants", "shred", "org-a", "--confirm", "org-a"],
        url,
        &kms,
    );
    assert_eq!(shred.code, Some(0), "{}", shred.out);
    assert!(
        shred.out.contains("2 key version(s) destroyed"),
        "{}",
        shred.out
    );

    // The replica hears of it and drops the cached keys: nothing in the system can decrypt.
    // (The suspension was announced on the same channel first.)
    let shredded = Invalidation::KeyShredded { tenant_id: a };
    loop {
        let notification = tokio::time::timeout(Duration::from_secs(30), listener.recv())
            .await
            .expect("a notification")
            .unwrap();
        let invalidation = Invalidation::parse(notification.payload()).expect("our payload");
        if invalidation == shredded {
            break;
        }
    }
    replica.invalidate(&shredded);
    assert!(matches!(
        read_note(&replica, &m.pool, a, a1).await,
        Err(PhiError::TenantShredded(t)) if t == a
    ));
    let left: i64 = sqlx::query_scalar(
        "select count(*) from tenant_keys where tenant_id = $1 and (wrapped_key is not null or state <> 'shredded')",
    )
    .bind(a)
    .fetch_one(&m.pool)
    .await
    .unwrap();
    assert_eq!(left, 0, "no wrapped key is left for the tenant");
    // No new key can be made for it either, by a request or by an operator.
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    assert!(matches!(
        replica.tenant_keys(&mut tx).await,
        Err(PhiError::TenantShredded(_))
    ));
    drop(tx);
    let rotate = haven(&["tenants", "rotate-key", "org-a"], url, &kms);
    assert_eq!(rotate.code, Some(1), "{}", rotate.out);
    let activate = haven(&["tenants", "activate", "org-a"], url, &kms);
    assert_eq!(activate.code, Some(1), "{}", activate.out);
    assert!(activate.out.contains("shredded"), "{}", activate.out);

    // Other tenants are unaffected, and keep their operations.
    assert_eq!(
        read_note(&replica, &m.pool, b, b1).await.unwrap().1,
        "Hopper"
    );
    let rotate_b = haven(&["tenants", "rotate-key", "org-b"], url, &kms);
    assert_eq!(rotate_b.code, Some(0), "{}", rotate_b.out);
    assert!(rotate_b.out.contains("key version 2"), "{}", rotate_b.out);
    let reencrypt = haven(&["phi", "reencrypt"], url, &kms);
    assert_eq!(reencrypt.code, Some(0), "{}", reencrypt.out);
    assert!(
        reencrypt.out.contains("tenant org-a: shredded, skipped"),
        "{}",
        reencrypt.out
    );

    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_events where tenant_id = $1 order by occurred_at, action",
    )
    .bind(a)
    .fetch_all(&m.pool)
    .await
    .unwrap();
    assert!(
        actions.contains(&"tenant.keys_shredded".to_owned()),
        "{actions:?}"
    );
    let verify = haven(&["audit", "verify", "--tenant", "org-a"], url, &kms);
    assert_eq!(verify.code, Some(0), "{}", verify.out);
    assert!(verify.out.contains("audit chain intact"), "{}", verify.out);
}
