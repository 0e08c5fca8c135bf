//! The cross-tenant fuzz: 10 tenants, 3 users each, 3000 random creates, reads, lists, updates,
//! deletes and cross-tenant probes, 32 in flight over HTTP (fixed seed). Throughout, no response
//! carries another tenant's data and every cross-tenant id is 404; afterwards each tenant's list
//! is exactly what it created and did not delete. The probes cover every id route of a document,
//! the content ones (upload URL, completion, download; storage is on) included. 600 more
//! operations work on patients: creates,
//! reads, lists, cross-tenant probes, and documents that reference a patient (their own: stored;
//! another tenant's: 422, nothing stored).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::documents::support::{Reply, World, new_doc};
use haven_tests::ObjectStore;

const TENANTS: usize = 10;
const OPERATIONS: u64 = 3000;
/// Patient operations, after the document operations' ids (so those keep their streams).
const PATIENT_OPERATIONS: u64 = 600;
const IN_FLIGHT: usize = 32;
const SEED: u64 = 0x4856_5a5a_2026;

/// SplitMix64: a tiny deterministic generator (each operation gets its own stream).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Default)]
struct Model {
    /// Document id → owning tenant index, for every document whose create was answered.
    owner: HashMap<String, usize>,
    live: Vec<Vec<String>>,
    /// Picked for deletion (in flight or done).
    deleting: HashSet<String>,
    /// Ids seen in lists before their create was answered: checked at the end.
    early: Vec<(String, usize)>,
    /// Patient id → owning tenant index.
    patients: HashMap<String, usize>,
}

struct Tenant {
    id: String,
    /// admin, editor, viewer.
    tokens: [String; 3],
}

struct Fuzz {
    world: World,
    /// The bucket the content routes use, kept for the whole run.
    _store: ObjectStore,
    tenants: Vec<Tenant>,
    model: Mutex<Model>,
}

impl Fuzz {
    /// A returned document must be the caller's: its tenant, its title's tenant marker, and (if
    /// already known) its owner.
    fn check_document(&self, t: usize, doc: &Value, context: &str) {
        assert_eq!(doc["tenant_id"], self.tenants[t].id, "{context}: {doc}");
        let title = doc["title"].as_str().unwrap_or_default();
        assert!(title.starts_with(&format!("t{t} ")), "{context}: {title}");
        let id = doc["id"].as_str().unwrap_or_default().to_owned();
        let mut model = self.model.lock().unwrap();
        match model.owner.get(&id) {
            Some(owner) => assert_eq!(*owner, t, "{context}: {id} belongs to t{owner}"),
            None => model.early.push((id, t)),
        }
    }

    fn pick_live(&self, t: usize, rng: &mut Rng, for_delete: bool) -> Option<String> {
        let mut model = self.model.lock().unwrap();
        let live = &mut model.live[t];
        if live.is_empty() {
            return None;
        }
        let i = rng.below(live.len());
        if for_delete {
            let id = live.swap_remove(i);
            model.deleting.insert(id.clone());
            Some(id)
        } else {
            Some(live[i].clone())
        }
    }

    /// A read or update of one's own id may race its deletion; nothing else excuses a 404.
    fn check_own(&self, t: usize, id: &str, reply: &Reply, context: &str) {
        match reply.status {
            200 => self.check_document(t, &reply.body, context),
            404 => assert!(
                self.model.lock().unwrap().deleting.contains(id),
                "{context}: 404 for a live document"
            ),
            other => panic!("{context}: {other} {:?}", reply.body),
        }
    }

    /// A patient (own or another tenant's), if any exists yet.
    fn pick_patient(&self, rng: &mut Rng, owned_by: impl Fn(usize) -> bool) -> Option<String> {
        let model = self.model.lock().unwrap();
        let ids: Vec<&String> = model
            .patients
            .iter()
            .filter(|(_, o)| owned_by(**o))
            .map(|(id, _)| id)
            .collect();
        (!ids.is_empty()).then(|| ids[rng.below(ids.len())].clone())
    }

    async fn run_patient(&self, op: u64, rng: &mut Rng, t: usize, token: &str, writer: &str) {
        let w = &self.world;
        let ctx = format!("patient op {op} t{t}");
        let check = |p: &Value| {
            assert_eq!(p["tenant_id"], self.tenants[t].id, "{ctx}: {p}");
            let id = p["id"].as_str().unwrap_or_default();
            if let Some(owner) = self.model.lock().unwrap().patients.get(id) {
                assert_eq!(*owner, t, "{ctx}: {id} belongs to t{owner}");
            }
        };
        match rng.below(5) {
            0 => {
                let body = json!({"mrn": format!("t{t}-{op}"), "given_name": "Fuzz",
                    "family_name": format!("T{t}"), "birth_date": "1990-01-01", "sex": "other"});
                let reply = w
                    .call(Method::POST, "/api/v1/patients", writer, Some(&body))
                    .await;
                assert_eq!(reply.status, 201, "{ctx}: {:?}", reply.body);
                check(&reply.body);
                let id = reply.body["id"].as_str().unwrap().to_owned();
                self.model.lock().unwrap().patients.insert(id, t);
            }
            1 => {
                let reply = w
                    .get(
                        &format!("/api/v1/patients?limit=50&family_name=t{t}"),
                        token,
                    )
                    .await;
                assert_eq!(reply.status, 200, "{ctx}: {:?}", reply.body);
                reply.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .for_each(check);
            }
            2 => {
                let Some(id) = self.pick_patient(rng, |o| o == t) else {
                    return;
                };
                let reply = w.get(&format!("/api/v1/patients/{id}"), token).await;
                assert_eq!(reply.status, 200, "{ctx}: {:?}", reply.body);
                check(&reply.body);
                let listed = w
                    .get(&format!("/api/v1/documents?patient_id={id}"), token)
                    .await;
                assert_eq!(listed.status, 200, "{ctx}: {:?}", listed.body);
                for doc in listed.body["items"].as_array().unwrap() {
                    self.check_document(t, doc, &ctx);
                    assert_eq!(doc["patient_id"], json!(id), "{ctx}");
                }
            }
            3 => {
                let Some(id) = self.pick_patient(rng, |o| o != t) else {
                    return;
                };
                let reply = w.get(&format!("/api/v1/patients/{id}"), token).await;
                assert_eq!(
                    (reply.status, reply.code()),
                    (404, Some("RES_001")),
                    "{ctx}"
                );
                // A document cannot point at another tenant's patient: refused, nothing stored.
                let mut body = new_doc(&format!("t{t} foreign patient {op}"));
                body["patient_id"] = json!(id);
                let reply = w
                    .call(Method::POST, "/api/v1/documents", writer, Some(&body))
                    .await;
                assert_eq!(
                    (reply.status, reply.code()),
                    (422, Some("VAL_001")),
                    "{ctx}"
                );
            }
            _ => {
                let Some(id) = self.pick_patient(rng, |o| o == t) else {
                    return;
                };
                let mut body = new_doc(&format!("t{t} patient doc {op}"));
                body["patient_id"] = json!(id);
                let reply = w
                    .call(Method::POST, "/api/v1/documents", writer, Some(&body))
                    .await;
                assert_eq!(reply.status, 201, "{ctx}: {:?}", reply.body);
                self.check_document(t, &reply.body, &ctx);
                let doc = reply.body["id"].as_str().unwrap().to_owned();
                let mut model = self.model.lock().unwrap();
                model.owner.insert(doc.clone(), t);
                model.live[t].push(doc);
            }
        }
    }

    async fn run(&self, op: u64) {
        let mut rng = Rng(SEED ^ op.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let t = rng.below(TENANTS);
        let user = rng.below(3);
        let token = &self.tenants[t].tokens[user];
        let writer = &self.tenants[t].tokens[rng.below(2)];
        let w = &self.world;
        let ctx = format!("op {op} t{t}");
        if op >= OPERATIONS {
            return self.run_patient(op, &mut rng, t, token, writer).await;
        }
        match rng.below(100) {
            0..=29 => {
                let mut body = new_doc(&format!("t{t} doc {op}"));
                body["size_bytes"] = json!(rng.below(1 << 20));
                let reply = w
                    .call(Method::POST, "/api/v1/documents", writer, Some(&body))
                    .await;
                assert_eq!(reply.status, 201, "{ctx}: {:?}", reply.body);
                let id = reply.body["id"].as_str().unwrap().to_owned();
                {
                    let mut model = self.model.lock().unwrap();
                    assert!(
                        model.owner.insert(id.clone(), t).is_none(),
                        "{ctx}: id reused"
                    );
                    model.live[t].push(id);
                }
                self.check_document(t, &reply.body, &ctx);
            }
            30..=49 => {
                let Some(id) = self.pick_live(t, &mut rng, false) else {
                    return;
                };
                let reply = w.get(&format!("/api/v1/documents/{id}"), token).await;
                self.check_own(t, &id, &reply, &ctx);
            }
            50..=64 => {
                let limit = 1 + rng.below(100);
                let filter = if rng.below(4) == 0 {
                    "&status=ready"
                } else {
                    ""
                };
                let reply = w
                    .get(&format!("/api/v1/documents?limit={limit}{filter}"), token)
                    .await;
                assert_eq!(reply.status, 200, "{ctx}: {:?}", reply.body);
                for doc in reply.body["items"].as_array().unwrap() {
                    self.check_document(t, doc, &ctx);
                }
            }
            65..=74 => {
                let Some(id) = self.pick_live(t, &mut rng, false) else {
                    return;
                };
                let patch = json!({"title": format!("t{t} updated {op}"), "status": "ready"});
                let path = format!("/api/v1/documents/{id}");
                let reply = w.call(Method::PATCH, &path, writer, Some(&patch)).await;
                self.check_own(t, &id, &reply, &ctx);
            }
            75..=82 => {
                let Some(id) = self.pick_live(t, &mut rng, true) else {
                    return;
                };
                let path = format!("/api/v1/documents/{id}");
                let reply = w.call(Method::DELETE, &path, writer, None).await;
                assert_eq!(reply.status, 204, "{ctx}: {:?}", reply.body);
            }
            83..=97 => {
                let other = (t + 1 + rng.below(TENANTS - 1)) % TENANTS;
                let id = {
                    let model = self.model.lock().unwrap();
                    let theirs: Vec<&String> = model
                        .owner
                        .iter()
                        .filter(|(_, o)| **o == other)
                        .map(|(id, _)| id)
                        .collect();
                    if theirs.is_empty() {
                        return;
                    }
                    theirs[rng.below(theirs.len())].clone()
                };
                let path = format!("/api/v1/documents/{id}");
                let reply = match rng.below(6) {
                    0 => w.get(&path, token).await,
                    1 => {
                        let patch = json!({"title": format!("t{t} stolen {op}")});
                        w.call(Method::PATCH, &path, writer, Some(&patch)).await
                    }
                    2 => w.call(Method::DELETE, &path, writer, None).await,
                    3 => {
                        let upload = format!("{path}/upload-url");
                        w.call(Method::POST, &upload, writer, None).await
                    }
                    4 => {
                        let complete = format!("{path}/complete");
                        w.call(Method::POST, &complete, writer, None).await
                    }
                    _ => {
                        w.get(&format!("{path}/content?redirect=false"), token)
                            .await
                    }
                };
                assert_eq!(
                    (reply.status, reply.code()),
                    (404, Some("RES_001")),
                    "{ctx}: t{other}'s {id}: {:?}",
                    reply.body
                );
            }
            _ => {
                let viewer = &self.tenants[t].tokens[2];
                let body = new_doc(&format!("t{t} refused {op}"));
                let reply = w
                    .call(Method::POST, "/api/v1/documents", viewer, Some(&body))
                    .await;
                assert_eq!(
                    (reply.status, reply.code()),
                    (403, Some("AUTH_009")),
                    "{ctx}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_random_traffic_of_ten_tenants_never_crosses_a_tenant_boundary() {
    let names: Vec<String> = (0..TENANTS).map(|i| format!("fuzz-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let stored = crate::content::support::start(&refs, &[("DB_MAX_CONNECTIONS", "24")]).await;
    let (world, store) = (stored.w, stored.store);
    let mut tenants = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let id = world.tenant_id(name).await.to_string();
        let tokens = [
            world.token(name, &format!("admin-{i}"), &["admin"]).await,
            world.token(name, &format!("editor-{i}"), &["editor"]).await,
            world.token(name, &format!("viewer-{i}"), &["viewer"]).await,
        ];
        tenants.push(Tenant { id, tokens });
    }
    let fuzz = Arc::new(Fuzz {
        world,
        _store: store,
        tenants,
        model: Mutex::new(Model {
            live: vec![Vec::new(); TENANTS],
            ..Model::default()
        }),
    });
    let started = std::time::Instant::now();
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = JoinSet::new();
    for op in 0..OPERATIONS + PATIENT_OPERATIONS {
        let fuzz = fuzz.clone();
        let permit = permits.clone().acquire_owned().await.unwrap();
        tasks.spawn(async move {
            fuzz.run(op).await;
            drop(permit);
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("an operation's checks failed");
    }
    let elapsed = started.elapsed();

    let (expected, created) = {
        let model = fuzz.model.lock().unwrap();
        for (id, t) in &model.early {
            assert_eq!(model.owner.get(id), Some(t), "{id} was listed to t{t}");
        }
        let expected: Vec<HashSet<String>> = model
            .live
            .iter()
            .map(|ids| ids.iter().cloned().collect())
            .collect();
        (expected, model.owner.len())
    };
    for (t, tenant) in fuzz.tenants.iter().enumerate() {
        let listed = fuzz.world.list_all(&tenant.tokens[0], "").await;
        for doc in &listed {
            fuzz.check_document(t, doc, "final list");
        }
        let ids: HashSet<String> = listed
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), listed.len(), "t{t}: no document twice");
        assert_eq!(ids, expected[t], "t{t}: created minus deleted");
    }
    assert!(created > 500, "the fuzz created {created} documents");
    eprintln!("fuzz: {OPERATIONS} operations in {elapsed:?}, {created} documents");
}
