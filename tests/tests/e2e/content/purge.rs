//! `haven documents purge` through the real binary: a dry run changes nothing; a purge killed
//! with SIGKILL mid-way and rerun leaves every eligible object deleted and every row purged
//! once; two purges at once share the work without double deletes or failures.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use haven_tests::HavenProcess;
use reqwest::Method;

use super::support::{Stored, file_doc, key, start};

const BEFORE: &str = "2100-01-01";

fn env(s: &Stored) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = s.store.env().into_iter().collect();
    env.insert("DATABASE_URL".into(), s.w.app.db.url.clone());
    env.insert("ENVIRONMENT".into(), "development".into());
    env
}

fn purge(s: &Stored, extra: &[&str]) -> HavenProcess {
    let mut args = vec!["documents", "purge", "--deleted-before", BEFORE];
    args.extend_from_slice(extra);
    HavenProcess::spawn(&args, &env(s))
}

/// Runs to the end; returns the ids it printed as purged.
fn finish(mut process: HavenProcess) -> Vec<String> {
    let status = process
        .wait_exit(Duration::from_secs(60))
        .expect("the purge exits");
    assert!(status.success(), "{:?}", process.stderr_lines());
    process
        .stdout_lines()
        .iter()
        .filter_map(|line| line.strip_prefix("purged\t"))
        .map(|rest| rest.split('\t').nth(1).expect("id").to_owned())
        .collect()
}

/// `count` uploaded, completed and then soft-deleted documents, and one that stays; their ids.
async fn documents(s: &Stored, count: usize) -> (Vec<String>, String) {
    let editor = s.w.token("org-1", "erin", &["editor"]).await;
    let mut ids = Vec::new();
    for n in 0..=count {
        let bytes = format!("report {n}").into_bytes();
        let body = file_doc("r.txt", "text/plain", &bytes);
        let created = s.create_and_put(&editor, &body, &bytes).await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(s.complete(&editor, &id).await.status, 200);
        ids.push(id);
    }
    let kept = ids.pop().unwrap();
    for id in &ids {
        let path = format!("/api/v1/documents/{id}");
        assert_eq!(
            s.w.call(Method::DELETE, &path, &editor, None).await.status,
            204
        );
    }
    (ids, kept)
}

/// Every deleted document purged exactly once (one event each), its object gone, the kept one
/// untouched.
async fn assert_all_purged(s: &Stored, deleted: &[String], kept: &str) {
    let tenant = s.w.tenant_id("org-1").await;
    for id in deleted {
        assert!(
            s.store.head(&key(tenant, id)).await.is_none(),
            "{id} still stored"
        );
        let events = s.events("document.purge", id).await;
        assert_eq!(events.len(), 1, "{id}: one purge event");
    }
    let unpurged = s
        .w
        .count("select count(*) from documents where deleted_at is not null and purged_at is null")
        .await;
    assert_eq!(unpurged, 0);
    assert!(
        s.store.head(&key(tenant, kept)).await.is_some(),
        "a live document keeps its file"
    );
}

#[tokio::test]
async fn a_dry_run_lists_and_a_purge_killed_mid_way_finishes_on_rerun() {
    let s = start(&["org-1"], &[]).await;
    let (deleted, kept) = documents(&s, 6).await;

    let dry = purge(&s, &["--dry-run"]);
    let mut dry = dry;
    assert!(
        dry.wait_exit(Duration::from_secs(60))
            .is_some_and(|st| st.success())
    );
    let listed = dry
        .stdout_lines()
        .iter()
        .filter(|l| l.starts_with("would purge"))
        .count();
    assert_eq!(listed, deleted.len());
    assert_eq!(
        s.store.keys().await.len(),
        deleted.len() + 1,
        "a dry run deletes nothing"
    );

    // Hold the audit table so the purge blocks after deleting its first object, before it can
    // mark the row; kill it there.
    let mut lock = s.w.pool.begin().await.unwrap();
    sqlx::query("lock table audit_events in share mode")
        .execute(&mut *lock)
        .await
        .unwrap();
    let first = purge(&s, &[]);
    let stuck = haven_tests::eventually(Duration::from_secs(30), || async {
        s.store.keys().await.len() == deleted.len()
    })
    .await;
    assert!(stuck, "the purge deleted one object and waits");
    first.signal("KILL");
    drop(first);
    lock.rollback().await.unwrap();
    assert_eq!(
        s.w.count("select count(*) from documents where purged_at is not null")
            .await,
        0,
        "the killed purge marked nothing"
    );

    let purged = finish(purge(&s, &[]));
    assert_eq!(purged.len(), deleted.len());
    assert_all_purged(&s, &deleted, &kept).await;
    assert!(finish(purge(&s, &[])).is_empty(), "nothing left to do");
}

#[tokio::test]
async fn two_purges_at_once_share_the_documents_without_double_work() {
    let s = start(&["org-1"], &[]).await;
    let (deleted, kept) = documents(&s, 10).await;
    let (a, b) = (purge(&s, &[]), purge(&s, &[]));
    let (a, b) = tokio::task::spawn_blocking(move || (finish(a), finish(b)))
        .await
        .unwrap();
    let union: HashSet<&String> = a.iter().chain(&b).collect();
    assert_eq!(
        a.len() + b.len(),
        deleted.len(),
        "each document once: {a:?} {b:?}"
    );
    assert_eq!(union.len(), deleted.len());
    assert_all_purged(&s, &deleted, &kept).await;
}
