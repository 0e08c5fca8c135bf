//! The insert-only chain: seals as rows, racing sealers, a sealer killed mid-batch, and
//! verification from the last verified seal.

use std::collections::HashSet;
use std::time::Duration;

use haven_db::PgPool;
use haven_db::audit_chain::{self, LinkProblem, VerifyOptions};
use haven_db::ids::{AuditEventId, TenantId};
use haven_db::tenant::TenantTx;
use sqlx::Connection;

use super::tamper;
use crate::rls::fixtures::{Migrated, migrated, record, sqlstate, tenant};

/// Per seal of `tenant`, in order: (first_seq, last_seq, event ids).
async fn seals(pool: &PgPool, tenant: TenantId) -> Vec<(i64, i64, Vec<uuid::Uuid>)> {
    sqlx::query_as(
        "select first_seq, last_seq, event_ids from audit_seals \
         where tenant_id = $1 and event_ids is not null order by last_seq",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The seals of `tenant` cover positions 1..=n without a gap or overlap, and list `events`
/// (every event of the tenant), each exactly once.
async fn assert_sealed_once(pool: &PgPool, tenant: TenantId, events: &[AuditEventId]) {
    let seals = seals(pool, tenant).await;
    let mut next = 1;
    let mut listed = Vec::new();
    for (first, last, ids) in &seals {
        assert_eq!(*first, next, "seals continue each other: {seals:?}");
        assert_eq!(ids.len() as i64, last - first + 1);
        next = last + 1;
        listed.extend(ids.iter().copied());
    }
    let unique: HashSet<_> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "an event sealed twice");
    let expected: HashSet<_> = events.iter().map(|id| id.as_uuid()).collect();
    assert_eq!(unique, expected.iter().collect(), "every event sealed");
}

#[tokio::test]
async fn sealing_never_updates_an_event_and_writes_one_seal_row_per_batch() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(record(&m.pool, a, "document.read").await);
    }
    let before: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("select id, xmin::text from audit_events order by id")
            .fetch_all(&m.pool)
            .await
            .unwrap();
    assert_eq!(audit_chain::seal_pending(&m.pool, 3).await.unwrap(), 7);
    let after: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("select id, xmin::text from audit_events order by id")
            .fetch_all(&m.pool)
            .await
            .unwrap();
    assert_eq!(before, after, "no event row was rewritten");
    let seals = seals(&m.pool, a).await;
    assert_eq!(
        seals.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        [(1, 3), (4, 6), (7, 7)]
    );
    assert_sealed_once(&m.pool, a, &ids).await;
}

/// Short transactions in another database of the cluster (other services, other tests) end
/// all the time while a round runs; none of them can hold an event of this database, so a round
/// seals everything committed before it. (The round fixes its picture of the server's sessions
/// before the horizon's snapshot, see `take_activity_picture`: with the picture taken inside
/// the horizon's statement, a transaction that ended in between counted as blocking and this
/// test sealed short in each of four runs.)
#[tokio::test]
async fn transactions_ending_in_another_database_never_hold_a_round_back() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let elsewhere = haven_tests::db::TestDatabase::create().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut noise = Vec::new();
    for client in 0..8u32 {
        let (url, stop) = (elsewhere.url.clone(), stop.clone());
        noise.push(tokio::spawn(async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut round = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Each holds a transaction id for 0 to 21 ms, so some are running at every
                // round's snapshot and end while the round reads.
                let pause = f64::from((client * 7 + round * 3) % 22) / 1000.0;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "begin; select txid_current(); select pg_sleep({pause}); commit;"
                )))
                .execute(&mut conn)
                .await
                .unwrap();
                round += 1;
            }
        }));
    }
    let mut ids = Vec::new();
    for _ in 0..25 {
        for _ in 0..3 {
            ids.push(record(&m.pool, a, "document.read").await);
        }
        assert_eq!(
            audit_chain::seal_pending(&m.pool, 100).await.unwrap(),
            3,
            "every event committed before the round"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in noise {
        task.await.unwrap();
    }
    assert_sealed_once(&m.pool, a, &ids).await;
}

#[tokio::test]
async fn the_backlog_counts_the_events_above_each_tenants_last_seal() {
    let m = migrated().await;
    let (a, b) = (
        tenant(&m.pool, "org-a").await,
        tenant(&m.pool, "org-b").await,
    );
    assert_eq!(audit_chain::backlog(&m.pool).await.unwrap().events, 0);
    for _ in 0..3 {
        record(&m.pool, a, "document.read").await;
    }
    record(&m.pool, b, "document.read").await;
    let waiting = audit_chain::backlog(&m.pool).await.unwrap();
    assert_eq!(waiting.events, 4);
    assert!(waiting.lag_seconds >= 0.0);
    audit_chain::seal_pending(&m.pool, 2).await.unwrap();
    record(&m.pool, b, "document.read").await;
    assert_eq!(audit_chain::backlog(&m.pool).await.unwrap().events, 1);
    audit_chain::seal_pending(&m.pool, 2).await.unwrap();
    assert_eq!(
        audit_chain::backlog(&m.pool).await.unwrap(),
        audit_chain::Backlog::default()
    );
}

#[tokio::test]
async fn the_seals_table_refuses_a_fork_a_gap_and_any_change() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    record(&m.pool, a, "document.read").await;
    audit_chain::seal_pending(&m.pool, 10).await.unwrap();
    let mut conn = m.db.connect().await;
    let copy = |first: i64, prev: &str| {
        format!(
            "insert into audit_seals (tenant_id, first_seq, last_seq, prev_seq, prev_hash, \
             last_hash, last_txid, last_event_id, event_ids, event_hashes) \
             select tenant_id, {first}, {first}, {prev}, last_hash, last_hash, last_txid + 1, \
                    last_event_id, event_ids, event_hashes from audit_seals"
        )
    };
    // A second seal of position 1 (two sealers that both read an empty chain).
    let fork = sqlx::raw_sql(sqlx::AssertSqlSafe(
        "insert into audit_seals (tenant_id, first_seq, last_seq, prev_seq, prev_hash, last_hash, \
         last_txid, last_event_id, event_ids, event_hashes) \
         select tenant_id, 1, 1, null, prev_hash, last_hash, last_txid, last_event_id, event_ids, \
                event_hashes from audit_seals",
    ))
    .execute(&mut conn)
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&fork).as_deref(), Some("23505"));
    // A seal that does not start where one ends.
    let gap = sqlx::raw_sql(sqlx::AssertSqlSafe(copy(3, "2")))
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&gap).as_deref(), Some("23503"));
    conn.close().await.unwrap();
}

#[tokio::test]
async fn two_sealers_racing_on_one_tenant_seal_each_event_once_without_gaps() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let pool = crate::rls::fixtures::pool(&m.db.url, 8);
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..100 {
                    ids.push(record(&pool, a, "document.read").await);
                }
                ids
            })
        })
        .collect();
    let sealers: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut sealed = 0;
                for _ in 0..200 {
                    sealed += audit_chain::seal_pending(&pool, 5).await.unwrap();
                    tokio::task::yield_now().await;
                }
                sealed
            })
        })
        .collect();
    let mut ids = Vec::new();
    for writer in writers {
        ids.extend(writer.await.unwrap());
    }
    let mut sealed = 0;
    for sealer in sealers {
        sealed += sealer.await.unwrap();
    }
    sealed += audit_chain::seal_pending(&m.pool, 5).await.unwrap();
    assert_eq!(sealed, 400, "each event sealed exactly once");
    assert_sealed_once(&m.pool, a, &ids).await;
    let report = audit_chain::verify(&m.pool, Some(a)).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, 400);
}

/// Waits until a backend of `application_name` waits for a lock inside `insert into audit_seals`.
async fn sealer_blocked_in_its_insert(m: &Migrated) -> bool {
    haven_tests::eventually(Duration::from_secs(30), || async {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where application_name = 'haven-cli' \
             and wait_event_type = 'Lock' and query like 'insert into audit_seals%'",
        )
        .fetch_one(&m.pool)
        .await
        .unwrap();
        waiting == 1
    })
    .await
}

#[tokio::test]
async fn a_sealer_killed_in_the_middle_of_a_batch_leaves_no_gap_and_no_duplicate() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(record(&m.pool, a, "document.read").await);
    }
    audit_chain::seal_pending(&m.pool, 10).await.unwrap();
    for _ in 0..40 {
        ids.push(record(&m.pool, a, "document.update").await);
    }
    // Hold the seals table so the sealer stops inside its transaction: tenant locked, events
    // read and hashed, its insert sent and waiting.
    let mut blocker = m.db.connect().await;
    sqlx::raw_sql("begin; lock table audit_seals in share mode")
        .execute(&mut blocker)
        .await
        .unwrap();
    let mut env = std::collections::HashMap::new();
    env.insert("DATABASE_URL".to_owned(), m.db.url.clone());
    env.insert("ENVIRONMENT".to_owned(), "development".to_owned());
    let mut sealer = haven_tests::HavenProcess::spawn(&["audit", "seal"], &env);
    assert!(
        sealer_blocked_in_its_insert(&m).await,
        "{:?}",
        sealer.stderr_lines()
    );
    sealer.signal("KILL");
    assert!(sealer.wait_exit(Duration::from_secs(10)).is_some());
    sqlx::raw_sql("commit").execute(&mut blocker).await.unwrap();
    blocker.close().await.unwrap();

    // The killed sealer's session ends with its transaction rolled back; until then it holds
    // the tenant and the next rounds skip it.
    let drained = haven_tests::eventually(Duration::from_secs(30), || async {
        audit_chain::seal_pending(&m.pool, 10).await.unwrap();
        audit_chain::verify(&m.pool, Some(a))
            .await
            .unwrap()
            .events_unsealed
            == 0
    })
    .await;
    assert!(
        drained,
        "the next run seals what the killed one had started"
    );
    assert_sealed_once(&m.pool, a, &ids).await;
    let report = audit_chain::verify(&m.pool, Some(a)).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, 45);
}

fn incremental() -> VerifyOptions {
    VerifyOptions::default()
}

fn full() -> VerifyOptions {
    VerifyOptions {
        full: true,
        ..VerifyOptions::default()
    }
}

#[tokio::test]
async fn incremental_verify_checks_what_is_new_and_a_full_check_rereads_the_verified_range() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(record(&m.pool, a, "document.read").await);
    }
    audit_chain::seal_pending(&m.pool, 100).await.unwrap();
    let first = audit_chain::verify_with(&m.pool, Some(a), incremental())
        .await
        .unwrap();
    assert!(first.is_intact(), "{first:?}");
    assert_eq!(first.events_checked, 5);
    for _ in 0..3 {
        ids.push(record(&m.pool, a, "document.read").await);
    }
    audit_chain::seal_pending(&m.pool, 100).await.unwrap();
    let second = audit_chain::verify_with(&m.pool, Some(a), incremental())
        .await
        .unwrap();
    assert!(second.is_intact(), "{second:?}");
    assert_eq!(second.events_checked, 3, "only what was sealed since");

    // A change in the verified range: a full check finds it at exactly that event.
    let mut conn = m.db.connect().await;
    let change =
        |id: AuditEventId| format!("update audit_events set outcome = 'error' where id = '{id}'");
    tamper(&mut conn, &change(ids[1])).await;
    let broken = audit_chain::verify_with(&m.pool, Some(a), full())
        .await
        .unwrap()
        .first_broken
        .expect("a full check reads the verified range again");
    assert_eq!(
        (broken.seq, broken.event_id, broken.problem),
        (2, Some(ids[1]), LinkProblem::HashMismatch)
    );

    // A change in the new range is found by the incremental check.
    for _ in 0..2 {
        ids.push(record(&m.pool, a, "document.read").await);
    }
    audit_chain::seal_pending(&m.pool, 100).await.unwrap();
    tamper(&mut conn, &change(ids[9])).await;
    let report = audit_chain::verify_with(&m.pool, Some(a), incremental())
        .await
        .unwrap();
    let broken = report
        .first_broken
        .expect("the new range is always checked");
    assert_eq!(
        (broken.seq, broken.event_id, broken.problem),
        (10, Some(ids[9]), LinkProblem::HashMismatch)
    );
    assert_eq!(report.events_checked, 2);

    // The seal a verification stopped at is itself checked on every verification.
    tamper(
        &mut conn,
        "update audit_seals set last_hash = decode(repeat('22', 32), 'hex') where last_seq = 8",
    )
    .await;
    let broken = audit_chain::verify_with(&m.pool, Some(a), incremental())
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!(
        (broken.seq, broken.problem),
        (8, LinkProblem::CheckpointMismatch)
    );
    conn.close().await.unwrap();
}

#[tokio::test]
async fn one_verification_per_tenant_runs_at_a_time() {
    let m = migrated().await;
    let (a, b) = (
        tenant(&m.pool, "org-a").await,
        tenant(&m.pool, "org-b").await,
    );
    record(&m.pool, a, "document.read").await;
    audit_chain::seal_pending(&m.pool, 100).await.unwrap();
    let options = VerifyOptions::default();
    let mut running = TenantTx::begin(&m.pool, a).await.unwrap();
    let held = audit_chain::check_tenant(&mut running, options)
        .await
        .unwrap();
    assert!(held.is_some_and(|r| r.broken.is_none()));
    let mut second = TenantTx::begin(&m.pool, a).await.unwrap();
    assert_eq!(
        audit_chain::check_tenant(&mut second, options)
            .await
            .unwrap(),
        None,
        "a second verification of the tenant is refused while the first runs"
    );
    second.commit().await.unwrap();
    let mut other = TenantTx::begin(&m.pool, b).await.unwrap();
    assert!(
        audit_chain::check_tenant(&mut other, options)
            .await
            .unwrap()
            .is_some(),
        "another tenant is not held up"
    );
    other.commit().await.unwrap();
    running.commit().await.unwrap();
    let mut after = TenantTx::begin(&m.pool, a).await.unwrap();
    assert!(
        audit_chain::check_tenant(&mut after, options)
            .await
            .unwrap()
            .is_some()
    );
    after.commit().await.unwrap();
}
