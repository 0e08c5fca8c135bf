//! Seal ranges inside one transaction: many events share a transaction id (a bulk write), so a
//! seal's key range ends inside it. Verification reads such a range only up to the seal's events
//! and one more (see `audit_chain::walk`), and must still find every event put into a range.

use haven_db::audit_chain::{self, LinkProblem};
use haven_db::ids::TenantId;
use haven_db::tenant::TenantTx;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::tamper;
use crate::rls::fixtures::{event, migrated, tenant};

/// Puts an event with chain key `(txid, id)` into the tenant's trail behind the triggers' back.
async fn intrude(conn: &mut PgConnection, tenant: TenantId, txid: i64, id: Uuid) {
    tamper(
        conn,
        &format!(
            "insert into audit_events (id, tenant_id, txid, action, resource_type, outcome) \
             values ('{id}', '{tenant}', {txid}, 'document.read', 'document', 'success')"
        ),
    )
    .await;
}

/// The first broken link of the tenant's chain, checked in full: (problem, seq, event id).
async fn first_broken(
    pool: &haven_db::PgPool,
    tenant: TenantId,
) -> Option<(LinkProblem, i64, Option<Uuid>)> {
    let report = audit_chain::verify(pool, Some(tenant)).await.unwrap();
    report
        .first_broken
        .map(|b| (b.problem, b.seq, b.event_id.map(|id| id.as_uuid())))
}

#[tokio::test]
async fn events_of_one_transaction_across_seals_verify_and_any_event_put_into_a_range_is_found() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    for _ in 0..12 {
        tx.record(&event(a, "document.read")).await.unwrap();
    }
    tx.commit().await.unwrap();
    // Seals of 5, 5 and 2 events, all of one transaction: in id order within it.
    assert_eq!(audit_chain::seal_pending(&m.pool, 5).await.unwrap(), 12);
    let chain: Vec<Uuid> = sqlx::query_scalar(
        "select unnest(event_ids) from audit_seals where tenant_id = $1 order by last_seq",
    )
    .bind(a)
    .fetch_all(&m.pool)
    .await
    .unwrap();
    let mut sorted = chain.clone();
    sorted.sort();
    assert_eq!(chain, sorted, "one transaction: its events in id order");
    let report = audit_chain::verify(&m.pool, Some(a)).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, 12);
    let txid: i64 = sqlx::query_scalar("select txid from audit_events where id = $1")
        .bind(chain[0])
        .fetch_one(&m.pool)
        .await
        .unwrap();

    // One event between the second seal's 2nd and 3rd (positions 7 and 8): the seal's range
    // holds one more than it lists, found at the place it took.
    let mut conn = m.db.connect().await;
    let one = Uuid::from_u128(chain[6].as_u128() + 1);
    assert!(one < chain[7]);
    intrude(&mut conn, a, txid, one).await;
    assert_eq!(
        first_broken(&m.pool, a).await,
        Some((LinkProblem::UnexpectedEvent, 8, Some(one)))
    );
    tamper(
        &mut conn,
        &format!("delete from audit_events where id = '{one}'"),
    )
    .await;
    assert!(
        audit_chain::verify(&m.pool, Some(a))
            .await
            .unwrap()
            .is_intact()
    );

    // Two before the second seal's last event: reading only its five events and one more would
    // not reach that last event at all; the whole range is read and both are found in place.
    let (x1, x2) = (
        Uuid::from_u128(chain[8].as_u128() + 1),
        Uuid::from_u128(chain[8].as_u128() + 2),
    );
    assert!(x2 < chain[9]);
    intrude(&mut conn, a, txid, x1).await;
    intrude(&mut conn, a, txid, x2).await;
    assert_eq!(
        first_broken(&m.pool, a).await,
        Some((LinkProblem::UnexpectedEvent, 10, Some(x1)))
    );

    // One after the last sealed event of the transaction is not in any seal's range: unsealed.
    tamper(
        &mut conn,
        &format!("delete from audit_events where id in ('{x1}', '{x2}')"),
    )
    .await;
    let after = Uuid::from_u128(chain[11].as_u128() + 1);
    intrude(&mut conn, a, txid, after).await;
    let report = audit_chain::verify(&m.pool, Some(a)).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.events_checked, report.events_unsealed), (12, 1));
    conn.close().await.unwrap();
}
