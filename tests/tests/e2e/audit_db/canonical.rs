//! What the chain's canonical form covers: `client_request_id` (V14), `returned_ids` (V19) and
//! `error_code` (V20) join it as trailing fields when present, so changing, adding or removing
//! any of them is found at that event.

use haven_db::audit::NewAuditEvent;
use haven_db::audit_chain::{self, LinkProblem};
use haven_db::tenant::TenantTx;
use sqlx::Connection;

use super::tamper;
use crate::rls::fixtures::{event, migrated, tenant};

#[tokio::test]
async fn changing_adding_or_removing_a_client_request_id_breaks_the_chain_at_that_event() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let mut ids = Vec::new();
    for client_request_id in [Some("client-1"), None, Some("client-1")] {
        let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
        let event = NewAuditEvent {
            client_request_id,
            ..event(a, "document.read")
        };
        ids.push(tx.record(&event).await.unwrap());
        tx.commit().await.unwrap();
    }
    assert_eq!(audit_chain::seal_pending(&m.pool, 100).await.unwrap(), 3);
    assert!(
        audit_chain::verify(&m.pool, Some(a))
            .await
            .unwrap()
            .is_intact()
    );

    let mut conn = m.db.connect().await;
    // From the last event back, so that each change is the first broken link.
    for (at, value) in [(2, "'client-2'"), (1, "'client-1'"), (0, "null")] {
        tamper(
            &mut conn,
            &format!(
                "update audit_events set client_request_id = {value} where id = '{}'",
                ids[at]
            ),
        )
        .await;
        let broken = audit_chain::verify(&m.pool, Some(a))
            .await
            .unwrap()
            .first_broken
            .expect("the change is found");
        assert_eq!(
            (broken.seq, broken.event_id, broken.problem),
            (at as i64 + 1, Some(ids[at]), LinkProblem::HashMismatch),
            "client_request_id of event {at} set to {value}"
        );
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn changing_adding_or_removing_returned_ids_breaks_the_chain_at_that_event() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let shown = [uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2)];
    let mut ids = Vec::new();
    for returned_ids in [Some(&shown[..]), None, Some(&[][..]), Some(&shown[..])] {
        let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
        let event = NewAuditEvent {
            returned_ids,
            ..event(a, "document.list")
        };
        ids.push(tx.record(&event).await.unwrap());
        tx.commit().await.unwrap();
    }
    assert_eq!(audit_chain::seal_pending(&m.pool, 100).await.unwrap(), 4);
    assert!(
        audit_chain::verify(&m.pool, Some(a))
            .await
            .unwrap()
            .is_intact()
    );

    let mut conn = m.db.connect().await;
    let one = "'{00000000-0000-0000-0000-000000000001}'";
    // From the last event back, so that each change is the first broken link: an id removed,
    // an empty page made to show a row, ids added to a non-list event, a page's ids dropped.
    for (at, value) in [(3, one), (2, one), (1, one), (0, "null")] {
        tamper(
            &mut conn,
            &format!(
                "update audit_events set returned_ids = {value} where id = '{}'",
                ids[at]
            ),
        )
        .await;
        let broken = audit_chain::verify(&m.pool, Some(a))
            .await
            .unwrap()
            .first_broken
            .expect("the change is found");
        assert_eq!(
            (broken.seq, broken.event_id, broken.problem),
            (at as i64 + 1, Some(ids[at]), LinkProblem::HashMismatch),
            "returned_ids of event {at} set to {value}"
        );
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn changing_adding_or_removing_an_error_code_breaks_the_chain_at_that_event() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let mut ids = Vec::new();
    for error_code in [Some("RES_001"), None, Some("VAL_001")] {
        let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
        let event = NewAuditEvent {
            error_code,
            ..event(a, "document.update")
        };
        ids.push(tx.record(&event).await.unwrap());
        tx.commit().await.unwrap();
    }
    assert_eq!(audit_chain::seal_pending(&m.pool, 100).await.unwrap(), 3);
    assert!(
        audit_chain::verify(&m.pool, Some(a))
            .await
            .unwrap()
            .is_intact()
    );

    let mut conn = m.db.connect().await;
    // From the last event back: a code changed, one added to a success, one removed.
    for (at, value) in [(2, "'IDEM_001'"), (1, "'RES_001'"), (0, "null")] {
        tamper(
            &mut conn,
            &format!(
                "update audit_events set error_code = {value} where id = '{}'",
                ids[at]
            ),
        )
        .await;
        let broken = audit_chain::verify(&m.pool, Some(a))
            .await
            .unwrap()
            .first_broken
            .expect("the change is found");
        assert_eq!(
            (broken.seq, broken.event_id, broken.problem),
            (at as i64 + 1, Some(ids[at]), LinkProblem::HashMismatch),
            "error_code of event {at} set to {value}"
        );
    }
    conn.close().await.unwrap();
}
