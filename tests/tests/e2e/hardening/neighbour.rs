//! No noisy neighbour (issue 16): one tenant with 100,000 sealed audit events floods the chain
//! verification (`?full=true`, the whole chain re-hashed) and the NDJSON export from many
//! clients at once, while another tenant reads its documents. The other tenant is never refused
//! (no 429, 503 or other 5xx) and its reads stay fast; the flooding tenant waits on itself: its
//! extra verifications are 429 `RATE_001` and its extra exports 429 `RATE_002`.
//!
//! The latency bound is deliberately generous (nine times the reader's idle p99 measured in the
//! same test, with a floor of 750 ms): this is a shared, loaded machine and a debug build, and
//! tests assert no tight timings. The real figures (throughput and p50/p99 alone and under the
//! flood, and their ratio) are measured by `scripts/bench --only neighbour` and recorded in
//! docs/PERFORMANCE.md.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use tokio::task::JoinSet;

use haven_tests::world::{World, new_doc};

/// Events in the flooding tenant's trail (the size the issue measured with).
const EVENTS: i64 = 100_000;
/// Flooding clients: half verify, half export, each sending its next request as soon as the
/// last one is answered (a little later after a refusal).
const FLOOD_CLIENTS: usize = 12;
/// The quiet tenant's concurrent readers and reads per reader, per measurement.
const READERS: usize = 4;
const READS: usize = 50;

/// What one flooding request got: its status and error code ("" on success).
type Outcome = (u16, String);

// Several runtime workers, as the service has in production: the app runs in this process, and
// on a single-threaded runtime one CPU-bound verification would stall every other request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_flooding_verify_and_export_on_a_large_trail_does_not_slow_or_refuse_another() {
    let w = Arc::new(World::start(&["org-a", "org-b"]).await);
    let auditor = w.token("org-a", "aud", &["auditor"]).await;
    let reader = w.token("org-b", "rita", &["editor"]).await;

    seed_sealed_events(&w, "org-a", EVENTS).await;
    let mut paths = Vec::new();
    for i in 0..10 {
        let doc = w.create(&reader, &new_doc(&format!("Quiet {i}"))).await;
        paths.push(format!("/api/v1/documents/{}", doc["id"].as_str().unwrap()));
    }
    let paths = Arc::new(paths);

    // The quiet tenant alone.
    let idle = read_concurrently(&w, &reader, &paths).await;

    // The flood: every client loops until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = JoinSet::new();
    for client in 0..FLOOD_CLIENTS {
        let (w, auditor, stop) = (w.clone(), auditor.clone(), stop.clone());
        flood.spawn(async move {
            let mut outcomes: Vec<Outcome> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let outcome = if client % 2 == 0 {
                    verify(&w, &auditor).await
                } else {
                    export(&w, &auditor).await
                };
                let refused = outcome.0 == 429;
                outcomes.push(outcome);
                if refused {
                    // A refusal is answered at once: pause a little (less than its Retry-After),
                    // so the flood is one of expensive work rather than of refusals.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            outcomes
        });
    }
    // The flood is on once a verification and an export run (the others are refused meanwhile).
    let running = haven_tests::eventually(Duration::from_secs(60), || async {
        w.count(
            "select count(distinct e.action) from audit_events e \
             join tenants t on t.id = e.tenant_id \
             where t.external_id = 'org-a' and e.outcome = 'denied' \
               and e.action in ('audit.verify', 'audit.export')",
        )
        .await
            == 2
    })
    .await;
    assert!(
        running,
        "the flooding tenant's verifications and exports overlap"
    );

    // The quiet tenant under the flood.
    let busy = read_concurrently(&w, &reader, &paths).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    while let Some(done) = flood.join_next().await {
        outcomes.extend(done.expect("a flooding client"));
    }

    // Never refused, never failed: every read answered 200.
    for (label, reads) in [("idle", &idle), ("under the flood", &busy)] {
        let bad: Vec<_> = reads.iter().filter(|(status, _)| *status != 200).collect();
        assert!(bad.is_empty(), "the quiet tenant's reads {label}: {bad:?}");
    }
    let idle_p99 = p99(&idle);
    let busy_p99 = p99(&busy);
    eprintln!("quiet tenant p99: {idle_p99:?} alone, {busy_p99:?} under the flood");
    let bound = (idle_p99 * 9).max(Duration::from_millis(750));
    assert!(
        busy_p99 <= bound,
        "the quiet tenant's p99 went from {idle_p99:?} alone to {busy_p99:?} under the flood \
         (bound {bound:?})"
    );

    // The flooding tenant waited on itself: its extra requests were refused, nothing failed.
    let mut tally: BTreeMap<(u16, &str), usize> = BTreeMap::new();
    for (status, code) in &outcomes {
        *tally.entry((*status, code.as_str())).or_default() += 1;
    }
    eprintln!("the flood's answers (status, code): {tally:?}");
    let count = |status: u16, code: &str| tally.get(&(status, code)).copied().unwrap_or(0);
    assert!(
        count(200, "") > 0,
        "some of the flood was served: {tally:?}"
    );
    assert!(count(429, "RATE_001") > 0, "extra verifications: {tally:?}");
    assert!(count(429, "RATE_002") > 0, "extra exports: {tally:?}");
    let expected = count(200, "") + count(429, "RATE_001") + count(429, "RATE_002");
    assert_eq!(
        expected,
        outcomes.len(),
        "the flood got only whole 200s (an intact chain, a complete export) and 429s: {tally:?}"
    );
}

/// Inserts `events` audit events for the tenant straight in SQL (as scripts/bench.d/
/// seed_audit.sql does), then seals them with the service's own sealer, so a full
/// verification re-hashes all of them.
async fn seed_sealed_events(w: &World, tenant: &str, events: i64) {
    let tenant_id = w.tenant_id(tenant).await;
    sqlx::query(
        "insert into audit_events (tenant_id, occurred_at, actor_subject, action, resource_type, \
                                   resource_id, outcome, request_id, client_ip, user_agent) \
         select $1, now() - make_interval(secs => n * 31.5), 'seeded', \
                (array['document.read', 'document.list', 'document.update'])[1 + n % 3], \
                'document', md5(n::text)::uuid::text, \
                case when n % 50 = 0 then 'denied' else 'success' end, \
                md5('request-' || n)::uuid::text, ('10.0.' || (n % 250) || '.1')::inet, \
                'seeder/1.0' \
         from generate_series(1, $2) as n",
    )
    .bind(tenant_id)
    .bind(events)
    .execute(&w.pool)
    .await
    .expect("seed the audit events");
    // The app's own sealer runs too (every second); whichever takes a tenant's batch seals it.
    let unsealed = format!(
        "select count(*) from audit_events where tenant_id = '{tenant_id}' and seq is null \
           and (txid, id) > coalesce((select (last_txid, last_event_id) from audit_seals \
                                      where tenant_id = '{tenant_id}' \
                                      order by last_seq desc limit 1), \
                                     (0::bigint, '00000000-0000-0000-0000-000000000000'::uuid))"
    );
    let sealed = haven_tests::eventually(Duration::from_secs(300), || async {
        haven_db::audit_chain::seal_pending(&w.pool, 10_000)
            .await
            .expect("seal");
        w.count(&unsealed).await == 0
    })
    .await;
    assert!(sealed, "the seeded events were sealed");
}

/// A full verification of the chain: (status, code).
async fn verify(w: &World, token: &str) -> Outcome {
    let sent = w
        .request(Method::GET, "/api/v1/audit-events/verify?full=true", token)
        .send()
        .await;
    let Ok(response) = sent else {
        return (0, format!("{sent:?}"));
    };
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status == 200 {
        let intact = if body["ok"] == true { "" } else { "broken" };
        return (status, intact.to_owned());
    }
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

/// The NDJSON export of the whole trail (read to its end): (status, code).
async fn export(w: &World, token: &str) -> Outcome {
    let sent = w
        .request(Method::GET, "/api/v1/audit-events", token)
        .header("accept", "application/x-ndjson")
        .send()
        .await;
    // A transport failure is reported as status 0 (and fails the test below).
    let Ok(response) = sent else {
        return (0, format!("{sent:?}"));
    };
    let status = response.status().as_u16();
    let Ok(text) = response.text().await else {
        return (0, "the body broke off".to_owned());
    };
    if status == 200 {
        let whole = if text.ends_with('\n') {
            ""
        } else {
            "cut short"
        };
        return (status, whole.to_owned());
    }
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

/// `READERS` clients each reading the documents `READS` times: (status, latency) of each read.
async fn read_concurrently(
    w: &Arc<World>,
    token: &str,
    paths: &Arc<Vec<String>>,
) -> Vec<(u16, Duration)> {
    let mut readers = JoinSet::new();
    for r in 0..READERS {
        let (w, token, paths) = (w.clone(), token.to_owned(), paths.clone());
        readers.spawn(async move {
            let mut reads = Vec::with_capacity(READS);
            for i in 0..READS {
                let path = &paths[(r + i) % paths.len()];
                let started = Instant::now();
                let reply = w.get(path, &token).await;
                reads.push((reply.status, started.elapsed()));
            }
            reads
        });
    }
    let mut all = Vec::new();
    while let Some(done) = readers.join_next().await {
        all.extend(done.expect("a reader"));
    }
    all
}

/// The 99th percentile of the reads' latencies (nearest rank).
fn p99(reads: &[(u16, Duration)]) -> Duration {
    let mut latencies: Vec<Duration> = reads.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    let rank = (latencies.len() * 99).div_ceil(100).max(1);
    latencies[rank - 1]
}
