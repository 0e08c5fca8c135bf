//! The patients API over HTTP with tokens from the test IdP: CRUD, tenant isolation, roles,
//! mrn uniqueness, exact-match filters and pagination, documents that reference patients, strict
//! input, and atomicity of a change with its audit event.

mod input;
mod isolation;
mod list;

use reqwest::Method;
use serde_json::json;

use haven_tests::world::{World, new_patient};

#[tokio::test]
async fn an_editor_creates_reads_updates_and_deletes_a_patient_and_each_step_is_audited() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let reply = w
        .expect(
            201,
            Method::POST,
            "/api/v1/patients",
            &editor,
            Some(&new_patient("MRN-1", "Lovelace")),
        )
        .await;
    let patient = reply.body.clone();
    let id = patient["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/patients/{id}");
    assert_eq!(reply.headers["location"], path.as_str());
    assert_eq!(patient["tenant_id"], json!(w.tenant_id("org-1").await));
    assert_eq!(
        (&patient["mrn"], &patient["birth_date"], &patient["sex"]),
        (&json!("MRN-1"), &json!("1984-03-01"), &json!("female"))
    );
    assert_eq!(patient["contact"], json!({"phone": "+1 555 0100"}));
    let created = w.events_of_request(&reply.request_id()).await;
    assert_eq!(
        (
            created[0].action.as_str(),
            created[0].resource_id.as_deref()
        ),
        ("patient.create", Some(id.as_str()))
    );

    assert_eq!(w.read(200, &path, &editor).await, patient);
    let update = w
        .expect(
            200,
            Method::PATCH,
            &path,
            &editor,
            Some(&json!({"family_name": "Byron", "sex": "female"})),
        )
        .await;
    assert_eq!(update.body["family_name"], "Byron");
    let events = w.events_of_request(&update.request_id()).await;
    assert_eq!(events[0].action, "patient.update");
    assert_eq!(
        events[0].changed_fields.as_deref(),
        Some(&["family_name".to_owned()][..]),
        "names of changed fields only, never values"
    );

    let listed = w.read(200, "/api/v1/patients", &editor).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let deleted = w.expect(204, Method::DELETE, &path, &editor, None).await;
    assert_eq!(
        w.events_of_request(&deleted.request_id()).await[0].action,
        "patient.delete"
    );
    let gone = w.expect(404, Method::GET, &path, &editor, None).await;
    assert_eq!(gone.code(), Some("RES_001"));
    let events = w.events_of_request(&gone.request_id()).await;
    assert_eq!(
        (events[0].action.as_str(), events[0].outcome.as_str()),
        ("patient.read", "denied")
    );
    assert!(
        w.read(200, "/api/v1/patients", &editor).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_viewer_reads_patients_but_cannot_write_and_each_refusal_is_audited() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let viewer = w.token("org-1", "vic", &["viewer"]).await;
    let patient = w
        .create_patient(&editor, &new_patient("MRN-1", "Lovelace"))
        .await;
    let path = format!("/api/v1/patients/{}", patient["id"].as_str().unwrap());
    assert_eq!(w.read(200, &path, &viewer).await, patient);
    for (method, target, body) in [
        (
            Method::POST,
            "/api/v1/patients",
            Some(new_patient("MRN-2", "Other")),
        ),
        (
            Method::PATCH,
            path.as_str(),
            Some(json!({"given_name": "Eve"})),
        ),
        (Method::DELETE, path.as_str(), None),
    ] {
        let reply = w
            .expect(403, method.clone(), target, &viewer, body.as_ref())
            .await;
        assert_eq!(reply.code(), Some("AUTH_009"), "{method}");
        let events = w.events_of_request(&reply.request_id()).await;
        assert_eq!(events.len(), 1, "{method}");
        assert_eq!(events[0].outcome, "denied", "{method}");
        let id = patient["id"].as_str().unwrap();
        let named = (method != Method::POST).then_some(id);
        assert_eq!(
            events[0].resource_id.as_deref(),
            named,
            "{method}: names its target"
        );
    }
    assert_eq!(w.count("select count(*) from patients").await, 1);
    assert_eq!(w.read(200, &path, &viewer).await, patient, "unchanged");
}

#[tokio::test]
async fn an_mrn_is_unique_per_tenant_but_two_tenants_may_use_the_same_one() {
    let w = World::start(&["org-a", "org-b"]).await;
    let alice = w.token("org-a", "alice", &["admin"]).await;
    let bob = w.token("org-b", "bob", &["admin"]).await;
    let first = w
        .create_patient(&alice, &new_patient("MRN-7", "Lovelace"))
        .await;
    let taken = w
        .expect(
            409,
            Method::POST,
            "/api/v1/patients",
            &alice,
            Some(&new_patient("MRN-7", "Other")),
        )
        .await;
    assert_eq!(taken.code(), Some("RES_002"));
    assert_eq!(
        taken.body["error"]["request_id"].as_str(),
        Some(taken.request_id().as_str())
    );
    let events = w.events_of_request(&taken.request_id()).await;
    assert_eq!(
        (events[0].action.as_str(), events[0].outcome.as_str()),
        ("patient.create", "denied")
    );
    // Renaming another patient onto a taken mrn is refused the same way.
    let second = w
        .create_patient(&alice, &new_patient("MRN-8", "Other"))
        .await;
    let path = format!("/api/v1/patients/{}", second["id"].as_str().unwrap());
    let renamed = w
        .expect(
            409,
            Method::PATCH,
            &path,
            &alice,
            Some(&json!({"mrn": "MRN-7"})),
        )
        .await;
    assert_eq!(renamed.code(), Some("RES_002"));
    // The same mrn in another tenant is another patient.
    w.create_patient(&bob, &new_patient("MRN-7", "Lovelace"))
        .await;
    // A deleted patient's mrn may be given again.
    let first_path = format!("/api/v1/patients/{}", first["id"].as_str().unwrap());
    w.delete(204, &first_path, &alice).await;
    w.create_patient(&alice, &new_patient("MRN-7", "Lovelace"))
        .await;
    assert_eq!(w.count("select count(*) from patients").await, 4);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_patient_and_refuses_another_body() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let send = |body: serde_json::Value| {
        let request = w
            .request(Method::POST, "/api/v1/patients", &editor)
            .header("idempotency-key", "patient-1")
            .json(&body);
        World::send(request)
    };
    let first = send(new_patient("MRN-1", "Lovelace")).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let again = send(new_patient("MRN-1", "Lovelace")).await;
    assert_eq!((again.status, &again.body), (201, &first.body));
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let other = send(new_patient("MRN-2", "Lovelace")).await;
    assert_eq!((other.status, other.code()), (422, Some("IDEM_001")));
    assert_eq!(w.count("select count(*) from patients").await, 1);
}
