//! `haven tenants offboard` through the real binary: refused for an active tenant; for a
//! suspended one every document is deleted, every stored file of the tenant is gone (the
//! purged ones audited once each, a stray upload swept), another tenant's files untouched, and
//! a rerun finds nothing left to do.

use std::collections::HashMap;
use std::time::Duration;

use haven_tests::HavenProcess;

use super::support::{Stored, file_doc, key, put, start};

fn env(s: &Stored) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = s.store.env().into_iter().collect();
    env.insert("DATABASE_URL".into(), s.w.app.db.url.clone());
    env
}

/// Runs `haven <args>` to its end: exit code and stdout lines.
fn run(s: &Stored, args: &[&str]) -> (Option<i32>, Vec<String>) {
    let mut process = HavenProcess::spawn(args, &env(s));
    let status = process
        .wait_exit(Duration::from_secs(60))
        .expect("the command exits");
    (status.code(), process.stdout_lines())
}

/// A completed document in `tenant` for these bytes; its id.
async fn ready(s: &Stored, token: &str, bytes: &[u8]) -> String {
    let created = s
        .create_and_put(token, &file_doc("r.txt", "text/plain", bytes), bytes)
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(s.complete(token, &id).await.status, 200);
    id
}

#[tokio::test]
async fn offboarding_a_suspended_tenant_deletes_every_one_of_its_stored_files() {
    let s = start(&["org-1", "org-2"], &[]).await;
    let erin = s.w.token("org-1", "erin", &["editor"]).await;
    let other = s.w.token("org-2", "olga", &["editor"]).await;
    let (t1, t2) = (s.w.tenant_id("org-1").await, s.w.tenant_id("org-2").await);

    let live = ready(&s, &erin, b"live report").await;
    let deleted = ready(&s, &erin, b"deleted report").await;
    s.w.delete(204, &format!("/api/v1/documents/{deleted}"), &erin)
        .await;
    // Uploaded but never completed: the object exists, the document is pending.
    let pending =
        s.w.create(&erin, &file_doc("p.txt", "text/plain", b"pending"))
            .await;
    assert_eq!(put(&pending["upload"], b"pending").await, 200);
    let pending = pending["id"].as_str().unwrap().to_owned();
    // An object under the tenant's prefix no document row points at (an upload that landed
    // after its document was purged).
    let stray = format!("tenants/{t1}/documents/{}", uuid::Uuid::new_v4());
    s.store.put(&stray, b"late", "text/plain", None).await;
    let kept = ready(&s, &other, b"another tenant's report").await;

    let (code, _) = run(&s, &["tenants", "offboard", "org-1"]);
    assert_eq!(code, Some(2), "an active tenant is refused");
    assert_eq!(s.store.keys().await.len(), 5, "nothing deleted");

    assert_eq!(run(&s, &["tenants", "suspend", "org-1"]).0, Some(0));
    let (code, out) = run(&s, &["tenants", "offboard", "org-1"]);
    assert_eq!(code, Some(0), "{out:?}");

    let prefix = format!("tenants/{t1}/");
    let left: Vec<String> = s
        .store
        .keys()
        .await
        .into_iter()
        .filter(|k| k.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "org-1 still stores {left:?}");
    assert!(
        s.store.head(&key(t2, &kept)).await.is_some(),
        "another tenant keeps its file"
    );
    for id in [&live, &deleted, &pending] {
        let events = s.events("document.purge", id).await;
        assert_eq!(events.len(), 1, "{id}: purged once");
    }
    let actors: i64 =
        s.w.count(&format!(
            "select count(*) from audit_events where tenant_id = '{t1}' \
             and action = 'document.purge' and actor_subject = 'haven-cli:tenants-offboard'"
        ))
        .await;
    assert_eq!(actors, 3);
    let unpurged = format!(
        "select count(*) from documents where tenant_id = '{t1}' \
         and (deleted_at is null or purged_at is null)"
    );
    assert_eq!(
        s.w.count(&unpurged).await,
        0,
        "every row deleted and purged"
    );
    let live_elsewhere =
        format!("select count(*) from documents where tenant_id = '{t2}' and deleted_at is null");
    assert_eq!(s.w.count(&live_elsewhere).await, 1);

    let (code, out) = run(&s, &["tenants", "offboard", "org-1"]);
    assert_eq!(code, Some(0), "a rerun succeeds");
    assert!(
        out.iter().all(|l| !l.starts_with("purged\t")),
        "and purges nothing again: {out:?}"
    );
    assert_eq!(
        s.events("document.purge", &live).await.len(),
        1,
        "still one purge event"
    );
}
