//! Fair sharing of the pool: a tenant holding all of its connection shares waits on itself and
//! is then refused (429 RATE_002, audited), and another tenant's requests are served meanwhile
//! instead of waiting for connections the first one took; a burst within the tenant's share plus
//! its waiting room is served in full.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use haven_tests::world::{World, new_doc};

#[tokio::test]
async fn a_tenant_holding_its_share_of_the_pool_is_refused_and_other_tenants_are_served() {
    // A pool of 4: each tenant may hold 2 transactions at once; a request over that waits 1 s
    // for one of its tenant's shares.
    let w = Arc::new(
        World::start_with(
            &["org-a", "org-b"],
            &[
                ("DB_MAX_CONNECTIONS", "4"),
                ("TENANT_MAX_CONNECTIONS", "2"),
                ("DB_ACQUIRE_TIMEOUT_SECONDS", "1"),
            ],
        )
        .await,
    );
    let alice = w.token("org-a", "alice", &["editor"]).await;
    let bob = w.token("org-b", "bob", &["editor"]).await;
    let document = w.create(&alice, &new_doc("Busy")).await;
    w.create(&bob, &new_doc("Quiet")).await;
    let path = format!("/api/v1/documents/{}", document["id"].as_str().unwrap());

    // Hold the document's row lock: alice's updates then wait inside their transactions, each
    // holding a pooled connection (the shape of any slow tenant operation).
    let mut lock = w.pool.begin().await.unwrap();
    sqlx::query("select 1 from documents where id = $1::uuid for update")
        .bind(document["id"].as_str().unwrap())
        .execute(&mut *lock)
        .await
        .unwrap();
    let held: Vec<_> = (0..2)
        .map(|i| {
            let (w, alice, path) = (w.clone(), alice.clone(), path.clone());
            tokio::spawn(async move {
                let body = json!({"title": format!("Update {i}")});
                w.call(Method::PATCH, &path, &alice, Some(&body)).await
            })
        })
        .collect();
    let waiting = haven_tests::eventually(Duration::from_secs(15), || async {
        w.count(
            "select count(*) from pg_stat_activity \
             where datname = current_database() and wait_event_type = 'Lock'",
        )
        .await
            == 2
    })
    .await;
    assert!(
        waiting,
        "both updates wait on the lock, holding their shares"
    );

    // Alice's tenant is at its share: every further request of hers waits for one of her own
    // shares and is refused when none comes back (all while the lock is still held), recorded as
    // denied in her tenant.
    let tenant_a = w.tenant_id("org-a").await;
    for _ in 0..3 {
        let body = json!({"title": "One more"});
        let reply = w
            .expect(429, Method::PATCH, &path, &alice, Some(&body))
            .await;
        assert_eq!(reply.code(), Some("RATE_002"));
        assert_eq!(reply.headers["retry-after"], "1");
        let events = w.events_of_request(&reply.request_id()).await;
        assert_eq!(events.len(), 1);
        assert_eq!(
            (
                events[0].tenant_id,
                events[0].action.as_str(),
                events[0].outcome.as_str()
            ),
            (tenant_a, "document.update", "denied")
        );
    }
    let listed = w.get("/api/v1/documents", &alice).await;
    assert_eq!((listed.status, listed.code()), (429, Some("RATE_002")));

    // Bob's tenant is served in full meanwhile: the connections alice could not take are his.
    let page = w.read(200, "/api/v1/documents", &bob).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    w.create(&bob, &new_doc("Written meanwhile")).await;
    assert!(
        held.iter().all(|task| !task.is_finished()),
        "bob was served while alice's updates still held their connections"
    );

    // Released: alice's updates go through and her shares come back.
    lock.rollback().await.unwrap();
    for task in held {
        assert_eq!(task.await.unwrap().status, 200);
    }
    w.read(200, "/api/v1/documents", &alice).await;
}
