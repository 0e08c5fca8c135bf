//! Another tenant's patient is a 404 indistinguishable from a missing id, audited as denied in
//! the caller's tenant; and a document cannot point at another tenant's patient.

use reqwest::Method;
use serde_json::{Value, json};

use haven_tests::world::{Reply, World, new_doc, new_patient};

#[tokio::test]
async fn another_tenants_patient_is_404_for_get_patch_and_delete_and_nothing_changes() {
    let w = World::start(&["org-a", "org-b"]).await;
    let alice = w.token("org-a", "alice", &["admin"]).await;
    let bob = w.token("org-b", "bob", &["admin"]).await;
    let patient = w
        .create_patient(&alice, &new_patient("MRN-1", "Lovelace"))
        .await;
    let path = format!("/api/v1/patients/{}", patient["id"].as_str().unwrap());
    let nowhere = format!("/api/v1/patients/{}", uuid::Uuid::new_v4());
    let tenant_b = w.tenant_id("org-b").await;
    let strip = |mut v: Value| {
        v["error"]["request_id"] = json!(null);
        v
    };
    let names = |r: &Reply| {
        let mut names: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    };
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"family_name": "Owned by B"}))),
        (Method::DELETE, None),
    ] {
        let theirs = w
            .expect(404, method.clone(), &path, &bob, body.as_ref())
            .await;
        let missing = w
            .expect(404, method.clone(), &nowhere, &bob, body.as_ref())
            .await;
        assert_eq!(theirs.code(), Some("RES_001"), "{method}");
        assert_eq!(
            strip(theirs.body.clone()),
            strip(missing.body.clone()),
            "{method}"
        );
        assert_eq!(names(&theirs), names(&missing), "{method}");
        let events = w.events_of_request(&theirs.request_id()).await;
        assert_eq!(events.len(), 1, "{method}: the attempt is audited");
        assert_eq!(
            (events[0].tenant_id, events[0].outcome.as_str()),
            (tenant_b, "denied"),
            "{method}: in the caller's own tenant"
        );
    }
    assert_eq!(w.read(200, &path, &alice).await, patient, "unchanged");
    let listed = w.read(200, "/api/v1/patients?mrn=MRN-1", &bob).await;
    assert!(listed["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_document_cannot_reference_another_tenants_patient_and_nothing_is_stored() {
    let w = World::start(&["org-a", "org-b"]).await;
    let alice = w.token("org-a", "alice", &["admin"]).await;
    let bob = w.token("org-b", "bob", &["admin"]).await;
    let theirs = w
        .create_patient(&alice, &new_patient("MRN-1", "Lovelace"))
        .await;
    let mine = w
        .create_patient(&bob, &new_patient("MRN-1", "Hopper"))
        .await;
    let mut body = new_doc("Lab result");
    body["patient_id"] = theirs["id"].clone();
    let refused = w
        .expect(422, Method::POST, "/api/v1/documents", &bob, Some(&body))
        .await;
    assert_eq!(refused.code(), Some("VAL_001"));
    assert_eq!(refused.body["error"]["details"][0]["field"], "patient_id");
    let events = w.events_of_request(&refused.request_id()).await;
    assert_eq!(
        (events[0].action.as_str(), events[0].outcome.as_str()),
        ("document.create", "denied")
    );
    assert_eq!(
        w.count("select count(*) from documents").await,
        0,
        "nothing stored"
    );

    body["patient_id"] = mine["id"].clone();
    let doc = w.create(&bob, &body).await;
    assert_eq!(doc["patient_id"], mine["id"]);
    let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
    let moved = w
        .expect(
            422,
            Method::PATCH,
            &path,
            &bob,
            Some(&json!({"patient_id": theirs["id"]})),
        )
        .await;
    assert_eq!(moved.body["error"]["details"][0]["field"], "patient_id");
    assert_eq!(
        w.read(200, &path, &bob).await["patient_id"],
        mine["id"],
        "unchanged"
    );

    let query = format!(
        "/api/v1/documents?patient_id={}",
        mine["id"].as_str().unwrap()
    );
    let listed = w.read(200, &query, &bob).await;
    assert_eq!(listed["items"][0]["id"], doc["id"]);
    let query = format!(
        "/api/v1/documents?patient_id={}",
        theirs["id"].as_str().unwrap()
    );
    assert!(
        w.read(200, &query, &bob).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let detached = w
        .patch(200, &path, &bob, &json!({"patient_id": null}))
        .await;
    assert_eq!(detached["patient_id"], Value::Null);
}
