//! The audit trail in the database: recording, sealing by concurrent sealers, verifying, and
//! the documents layer whose changes it records (in `documents`).

mod canonical;
mod documents;
mod legacy;
mod ranges;
mod seals;

use std::collections::HashMap;
use std::time::Duration;

use haven_db::audit::{self, AuditFilter};
use haven_db::audit_chain::{self, LinkProblem};
use haven_db::ids::TenantId;
use haven_db::page::PageLimit;
use haven_db::tenant::TenantTx;
use sqlx::PgConnection;

use crate::rls::fixtures::{SEALED_EVENTS, event, migrated, record, tenant};

/// Runs `sql` as the superuser with the audit triggers (of events and seals) disabled: what an
/// attacker with the database's keys could do, and what the hash chain must expose.
pub(crate) async fn tamper(conn: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "alter table audit_events disable trigger user; \
         alter table audit_seals disable trigger user; {sql}; \
         alter table audit_events enable trigger user; \
         alter table audit_seals enable trigger user"
    )))
    .execute(conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn recorded_events_are_sealed_in_order_and_verify_finds_the_chain_intact() {
    let m = migrated().await;
    let (a, b) = (
        tenant(&m.pool, "org-a").await,
        tenant(&m.pool, "org-b").await,
    );
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(record(&m.pool, a, &format!("document.read.{i}")).await);
    }
    record(&m.pool, b, "user.list").await;
    assert_eq!(audit_chain::seal_pending(&m.pool, 2).await.unwrap(), 6);
    assert_eq!(audit_chain::seal_pending(&m.pool, 2).await.unwrap(), 0);

    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    let page = audit::list(&mut tx, &AuditFilter::default(), None, PageLimit::MAX)
        .await
        .unwrap();
    let mut by_seq: Vec<_> = page.items.iter().map(|e| (e.seq.unwrap(), e.id)).collect();
    by_seq.sort();
    assert_eq!(
        by_seq.iter().map(|s| s.0).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        by_seq.iter().map(|s| s.1).collect::<Vec<_>>(),
        ids,
        "sealed in insertion order"
    );
    let first = &page.items[4];
    assert_eq!(
        (
            first.actor_subject.as_deref(),
            first.client_ip.as_deref(),
            first.outcome
        ),
        (
            Some("tester"),
            Some("192.0.2.7"),
            audit::AuditOutcome::Success
        )
    );
    let own = audit_chain::verify_tenant(&mut tx).await.unwrap();
    assert_eq!(
        (own.events_checked, own.events_unsealed, own.broken),
        (5, 0, None)
    );
    tx.commit().await.unwrap();

    let report = audit_chain::verify(&m.pool, None).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.tenants_checked, report.events_checked), (2, 6));
}

#[tokio::test]
async fn changing_one_stored_event_is_reported_at_exactly_that_event() {
    let m = migrated().await;
    let (a, b) = (
        tenant(&m.pool, "org-a").await,
        tenant(&m.pool, "org-b").await,
    );
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(record(&m.pool, a, "document.read").await);
        record(&m.pool, b, "document.read").await;
    }
    audit_chain::seal_pending(&m.pool, 100).await.unwrap();
    let mut conn = m.db.connect().await;
    tamper(
        &mut conn,
        &format!(
            "update audit_events set outcome = 'denied' where id = '{}'",
            ids[6]
        ),
    )
    .await;

    let report = audit_chain::verify(&m.pool, None).await.unwrap();
    let broken = report.first_broken.clone().expect("the change is found");
    assert_eq!(
        (broken.tenant_id, broken.seq, broken.event_id),
        (a, 7, Some(ids[6]))
    );
    assert_eq!(broken.problem, LinkProblem::HashMismatch);
    assert_eq!(report.broken.len(), 1, "tenant b is intact: {report:?}");
    assert!(
        audit_chain::verify(&m.pool, Some(b))
            .await
            .unwrap()
            .is_intact()
    );

    // Rewriting the hash to match the change moves the break to the next link, never away.
    // (Since V15 the event's hash is kept in its seal, at its place in the batch.)
    tamper(
        &mut conn,
        &format!(
            "update audit_seals set event_hashes = overlay(event_hashes \
               placing decode(repeat('11', 32), 'hex') \
               from 32 * (array_position(event_ids, '{}') - 1) + 1 for 32) \
             where '{}' = any(event_ids)",
            ids[6], ids[6]
        ),
    )
    .await;
    let broken = audit_chain::verify(&m.pool, Some(a))
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!((broken.seq, broken.event_id), (7, Some(ids[6])));
}

#[tokio::test]
async fn deleting_an_event_or_cutting_the_end_of_the_chain_is_reported() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(record(&m.pool, a, "document.read").await);
    }
    audit_chain::seal_pending(&m.pool, 100).await.unwrap();
    let mut conn = m.db.connect().await;
    tamper(
        &mut conn,
        &format!("delete from audit_events where id = '{}'", ids[5]),
    )
    .await;
    let broken = audit_chain::verify(&m.pool, Some(a))
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!(
        (broken.problem, broken.seq, broken.event_id),
        (LinkProblem::HeadMismatch, 6, Some(ids[4]))
    );

    tamper(
        &mut conn,
        &format!("delete from audit_events where id = '{}'", ids[2]),
    )
    .await;
    let broken = audit_chain::verify(&m.pool, Some(a))
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!(
        (broken.problem, broken.seq, broken.event_id),
        (LinkProblem::SeqGap, 4, Some(ids[3]))
    );
}

/// Per tenant: (number of events, sorted seqs).
async fn chains(conn: &mut PgConnection) -> HashMap<TenantId, Vec<i64>> {
    let rows: Vec<(TenantId, Option<i64>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select e.tenant_id, s.seq from {SEALED_EVENTS} order by e.tenant_id, s.seq"
    )))
    .fetch_all(conn)
    .await
    .unwrap();
    let mut chains: HashMap<TenantId, Vec<i64>> = HashMap::new();
    for (tenant, seq) in rows {
        chains
            .entry(tenant)
            .or_default()
            .push(seq.expect("every event sealed"));
    }
    chains
}

#[tokio::test]
async fn three_sealers_racing_inserts_seal_every_event_once_with_gapless_sequences() {
    let m = migrated().await;
    let tenants = [
        tenant(&m.pool, "org-a").await,
        tenant(&m.pool, "org-b").await,
        tenant(&m.pool, "org-c").await,
    ];
    // Room for the 3 sealers and 8 writers at once.
    let pool = crate::rls::fixtures::pool(&m.db.url, 12);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let sealers: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            let stopped = stopped.clone();
            tokio::spawn(async move {
                let mut sealed = 0;
                while !*stopped.borrow() {
                    sealed += audit_chain::seal_pending(&pool, 7).await.unwrap();
                    tokio::task::yield_now().await;
                }
                sealed
            })
        })
        .collect();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for i in 0..(500 / 8 + usize::from(w < 500 % 8)) {
                    let tenant = tenants[(w + i) % 3];
                    let mut tx = TenantTx::begin(&pool, tenant).await.unwrap();
                    tx.record(&event(tenant, "document.read")).await.unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let drained = haven_tests::eventually(Duration::from_secs(20), || async {
        let pending: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select count(*) from {SEALED_EVENTS} where s.sealed_at is null"
        )))
        .fetch_one(&m.pool)
        .await
        .unwrap();
        pending == 0
    })
    .await;
    stop.send(true).unwrap();
    let mut sealed = 0;
    for sealer in sealers {
        sealed += sealer.await.unwrap();
    }
    assert!(drained, "the sealers did not keep up");
    assert_eq!(sealed, 500, "each event sealed exactly once");
    let chains = chains(&mut m.db.connect().await).await;
    assert_eq!(chains.values().map(Vec::len).sum::<usize>(), 500);
    for (tenant, seqs) in &chains {
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, &expected, "tenant {tenant}");
    }
    let report = audit_chain::verify(&m.pool, None).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, 500);
}

#[tokio::test]
async fn the_background_sealer_seals_within_a_second_and_stops_on_shutdown() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let sealer =
        audit_chain::spawn_sealer(m.pool.clone(), Duration::from_millis(100), stopped, |_| {});
    let id = record(&m.pool, a, "document.read").await;
    let sealed = haven_tests::eventually(Duration::from_secs(2), || async {
        let seq: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select s.seq from {SEALED_EVENTS} where e.id = $1"
        )))
        .bind(id)
        .fetch_one(&m.pool)
        .await
        .unwrap();
        seq == Some(1)
    })
    .await;
    assert!(sealed);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), sealer)
        .await
        .expect("stops")
        .unwrap();
}

#[tokio::test]
async fn walking_all_audit_pages_returns_every_event_once_under_concurrent_inserts() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let mut before = Vec::new();
    for _ in 0..120 {
        before.push(record(&m.pool, a, "document.read").await);
    }
    let pool = m.pool.clone();
    let inserting = tokio::spawn(async move {
        for _ in 0..60 {
            record(&pool, a, "document.read").await;
        }
    });
    let filter = AuditFilter {
        action: Some("document.read".into()),
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
        let page = audit::list(
            &mut tx,
            &filter,
            cursor.as_ref(),
            PageLimit::new(7).unwrap(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        seen.extend(page.items.iter().map(|e| e.id));
        // Through its text form, as a client would send it back.
        cursor = match page.next_cursor {
            Some(next) => Some(next.to_string().parse().unwrap()),
            None => break,
        };
    }
    inserting.await.unwrap();
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an event was returned twice");
    assert!(
        before.iter().all(|id| unique.contains(id)),
        "an event was skipped"
    );
}
