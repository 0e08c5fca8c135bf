//! The audit trail over HTTP: who may read it, its filters and pages, the NDJSON export, and the
//! hash-chain check before and after a superuser tampers with one event.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::documents::support::{World, new_doc};
use crate::rls::fixtures::SEALED_EVENTS;

/// Every event of a query, walking the pages.
async fn walk(w: &World, token: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/audit-events?limit=7{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = w.get(&path, token).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        items.extend(reply.body["items"].as_array().unwrap().iter().cloned());
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

#[tokio::test]
async fn only_admins_and_auditors_read_the_trail_and_every_query_is_itself_audited() {
    let w = World::start(&["org-1"]).await;
    let admin = w.token("org-1", "ada", &["admin"]).await;
    let auditor = w.token("org-1", "aud", &["auditor"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    for (token, status) in [(&admin, 200), (&auditor, 200), (&editor, 403)] {
        for path in ["/api/v1/audit-events", "/api/v1/audit-events/verify"] {
            let reply = w.get(path, token).await;
            assert_eq!(reply.status, status, "{path}: {:?}", reply.body);
            let events = w.events_of_request(&reply.request_id()).await;
            assert_eq!(events.len(), 1, "{path}");
            let outcome = if status == 200 { "success" } else { "denied" };
            assert_eq!(events[0].outcome, outcome);
            assert_eq!(events[0].resource_type, "audit_event");
        }
    }
    let bad = w
        .get("/api/v1/audit-events?actor=bob&limit=0", &admin)
        .await;
    assert_eq!((bad.status, bad.code()), (422, Some("VAL_001")));
    let fields: Vec<&str> = bad.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["actor", "limit"]);
    let nul = w.get("/api/v1/audit-events?action=a%00b", &admin).await;
    assert_eq!((nul.status, nul.code()), (422, Some("VAL_001")));
}

#[tokio::test]
async fn the_trail_filters_by_actor_action_resource_and_time_and_pages_without_repeats() {
    let w = World::start(&["org-1", "org-2"]).await;
    let admin = w.token("org-1", "ada", &["admin"]).await;
    let erin = w.token("org-1", "erin", &["editor"]).await;
    let other = w.token("org-2", "olga", &["admin"]).await;
    let erin_id = w.get("/api/v1/me", &erin).await.body["user_id"].clone();
    let doc = w.create(&erin, &new_doc("Audited")).await;
    let id = doc["id"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        w.get(&format!("/api/v1/documents/{id}"), &erin).await;
    }
    w.create(&admin, &new_doc("By admin")).await;
    w.create(&other, &new_doc("Other tenant")).await;
    let started = time::OffsetDateTime::now_utc();
    tokio::time::sleep(Duration::from_millis(20)).await;
    w.get("/api/v1/documents", &erin).await;

    let all = walk(&w, &admin, "").await;
    let ids: HashSet<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len(), "no event twice across pages");
    let tenant = w.tenant_id("org-1").await.to_string();
    assert!(all.iter().all(|e| e["tenant_id"] == tenant.as_str()));
    assert!(
        !all.iter().any(|e| e["actor_subject"] == "olga"),
        "another tenant's events"
    );
    let times: Vec<&str> = all
        .iter()
        .map(|e| e["occurred_at"].as_str().unwrap())
        .collect();
    let parsed: Vec<time::OffsetDateTime> = times
        .iter()
        .map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
        })
        .collect();
    assert!(parsed.windows(2).all(|p| p[0] >= p[1]), "newest first");

    let by_actor = walk(&w, &admin, &format!("&actor={}", erin_id.as_str().unwrap())).await;
    assert_eq!(by_actor.len(), 7, "erin: create, 5 reads, list");
    assert!(by_actor.iter().all(|e| e["actor_user_id"] == erin_id));
    let reads = walk(&w, &admin, "&action=document.read").await;
    assert_eq!(reads.len(), 5);
    let on_doc = walk(
        &w,
        &admin,
        &format!("&resource_type=document&resource_id={id}"),
    )
    .await;
    assert_eq!(on_doc.len(), 6, "the create and five reads");
    assert!(on_doc.iter().all(|e| e["resource_id"] == id.as_str()));
    let from = started
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let recent = walk(&w, &admin, &format!("&action=document.list&from={from}")).await;
    assert_eq!(recent.len(), 1, "only the list after `from`");
    let before = walk(&w, &admin, &format!("&action=document.list&to={from}")).await;
    assert!(before.is_empty());
    let queries = walk(&w, &admin, "&action=audit.list").await;
    assert!(
        queries.len() >= 5,
        "the audit queries above are in the trail too"
    );
}

#[tokio::test]
async fn the_ndjson_export_streams_every_matching_event_one_json_object_a_line() {
    let w = World::start(&["org-1"]).await;
    let admin = w.token("org-1", "ada", &["admin"]).await;
    let doc = w.create(&admin, &new_doc("Exported")).await;
    let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
    // 250 reads: the export spans several internal pages of 100.
    for _ in 0..250 {
        assert_eq!(w.get(&path, &admin).await.status, 200);
    }
    let response = w
        .request(
            Method::GET,
            "/api/v1/audit-events?action=document.read",
            &admin,
        )
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.unwrap();
    assert!(text.ends_with('\n'));
    let events: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is one JSON object"))
        .collect();
    assert_eq!(events.len(), 250);
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 250, "each event once");
    assert!(
        events
            .iter()
            .all(|e| e["action"] == "document.read" && e["outcome"] == "success")
    );
    let walked = walk(&w, &admin, "&action=document.read").await;
    let walked: HashSet<&str> = walked.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(walked, ids, "the export and the pages agree");
    let export_events = w.events_of_request(&request_id).await;
    assert_eq!(export_events.len(), 1);
    assert_eq!(export_events[0].action, "audit.export");
}

#[tokio::test]
async fn verify_reports_an_intact_chain_and_then_the_exact_event_a_superuser_changed() {
    let w = World::start(&["org-1"]).await;
    let auditor = w.token("org-1", "aud", &["auditor"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let doc = w.create(&editor, &new_doc("Chained")).await;
    let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
    for _ in 0..10 {
        w.get(&path, &editor).await;
    }
    // The sealer runs every second; wait until everything before now is sealed.
    let sealed = haven_tests::eventually(Duration::from_secs(10), || async {
        w.count(&format!(
            "select count(*) from {SEALED_EVENTS} where s.sealed_at is null"
        ))
        .await
            == 0
    })
    .await;
    assert!(sealed, "the background sealer sealed the events");
    let ok = w.get("/api/v1/audit-events/verify", &auditor).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["ok"], true, "{:?}", ok.body);
    assert!(ok.body["events_checked"].as_u64().unwrap() >= 11);
    assert_eq!(ok.body["first_broken"], Value::Null);

    let (victim, seq): (uuid::Uuid, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select e.id, s.seq from {SEALED_EVENTS} where e.action = 'document.read' \
         order by s.seq limit 1 offset 4"
    )))
    .fetch_one(&w.pool)
    .await
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "alter table audit_events disable trigger user; \
         update audit_events set outcome = 'denied' where id = '{victim}'; \
         alter table audit_events enable trigger user"
    )))
    .execute(&w.pool)
    .await
    .unwrap();

    // The change is in the range the first check verified: only a full check reads it again.
    let broken = w
        .get("/api/v1/audit-events/verify?full=true", &auditor)
        .await;
    assert_eq!(broken.status, 200);
    assert_eq!(broken.body["ok"], false, "{:?}", broken.body);
    assert_eq!(broken.body["first_broken"]["event_id"], victim.to_string());
    assert_eq!(broken.body["first_broken"]["seq"], seq);
    assert_eq!(broken.body["first_broken"]["problem"], "hash_mismatch");

    // The operator command agrees, through the real binary.
    let mut env = std::collections::HashMap::new();
    env.insert("DATABASE_URL".to_owned(), w.app.db.url.clone());
    env.insert("ENVIRONMENT".to_owned(), "development".to_owned());
    let mut verify =
        haven_tests::HavenProcess::spawn(&["audit", "verify", "--tenant", "org-1", "--full"], &env);
    let status = verify
        .wait_exit(Duration::from_secs(30))
        .expect("verify exits");
    assert_eq!(status.code(), Some(1), "{:?}", verify.stderr_lines());
    let out = verify.stdout_lines().join("\n");
    assert!(
        out.contains(&victim.to_string()) && out.contains("hash_mismatch"),
        "{out}"
    );
}

#[tokio::test]
async fn a_second_verification_of_a_tenant_meanwhile_is_429_with_retry_after_and_audited() {
    let w = World::start(&["org-1", "org-2"]).await;
    let auditor = w.token("org-1", "aud", &["auditor"]).await;
    let other = w.token("org-2", "aud", &["auditor"]).await;
    let org1 = haven_db::ids::TenantId::from_uuid(w.tenant_id("org-1").await);
    // A verification of org-1 in progress (its transaction holds the tenant's verify lock).
    let mut running = haven_db::tenant::TenantTx::begin(&w.pool, org1)
        .await
        .unwrap();
    let options = haven_db::audit_chain::VerifyOptions::default();
    assert!(
        haven_db::audit_chain::check_tenant(&mut running, options)
            .await
            .unwrap()
            .is_some()
    );

    let busy = w.get("/api/v1/audit-events/verify", &auditor).await;
    assert_eq!(busy.status, 429, "{:?}", busy.body);
    assert_eq!(busy.body["error"]["code"], "RATE_001");
    assert_eq!(busy.headers["retry-after"], "5");
    let events = w.events_of_request(&busy.request_id()).await;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.action.as_str(), e.outcome.as_str()))
            .collect::<Vec<_>>(),
        [("audit.verify", "denied")]
    );
    let elsewhere = w.get("/api/v1/audit-events/verify", &other).await;
    assert_eq!(elsewhere.status, 200, "another tenant is not held up");
    let bad = w.get("/api/v1/audit-events/verify?full=yes", &other).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["error"]["details"][0]["field"], "full");

    running.commit().await.unwrap();
    let done = w
        .get("/api/v1/audit-events/verify?full=true", &auditor)
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["checked_from_seq"], 0);
}
