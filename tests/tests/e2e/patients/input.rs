//! Strict patient input: every malformed field is a 422 naming it and stores nothing; and a
//! change whose audit event fails leaves neither (for patients and for the migrated reads).

use reqwest::Method;
use serde_json::{Value, json};

use haven_tests::world::{Reply, World, new_doc, new_patient};

fn with(field: &str, value: Value) -> Value {
    let mut body = new_patient("MRN-1", "Lovelace");
    body[field] = value;
    body
}

fn assert_invalid(reply: &Reply, field: &str, case: &str) {
    assert_eq!(
        (reply.status, reply.code()),
        (422, Some("VAL_001")),
        "{case}: {:?}",
        reply.body
    );
    let details = reply.body["error"]["details"].as_array().expect("details");
    assert!(
        details.iter().any(|d| d["field"] == field),
        "{case}: no {field} in {details:?}"
    );
}

#[tokio::test]
async fn bad_patient_bodies_are_422_with_a_detail_per_field_and_store_nothing() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let mut missing = new_patient("MRN-1", "Lovelace");
    missing.as_object_mut().unwrap().remove("birth_date");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("unknown field", with("ssn", json!("123")), "ssn"),
        ("wrong type", with("mrn", json!(5)), "mrn"),
        ("missing field", missing, "birth_date"),
        ("blank mrn", with("mrn", json!("  ")), "mrn"),
        ("long mrn", with("mrn", json!("m".repeat(65))), "mrn"),
        (
            "long name",
            with("family_name", json!("n".repeat(201))),
            "family_name",
        ),
        (
            "control character",
            with("given_name", json!("A\u{7}da")),
            "given_name",
        ),
        (
            "not a date",
            with("birth_date", json!("yesterday")),
            "birth_date",
        ),
        (
            "no such day",
            with("birth_date", json!("1984-02-30")),
            "birth_date",
        ),
        (
            "with a time",
            with("birth_date", json!("1984-03-01T00:00:00Z")),
            "birth_date",
        ),
        (
            "in the future",
            with("birth_date", json!("2999-01-01")),
            "birth_date",
        ),
        (
            "too early",
            with("birth_date", json!("1700-01-01")),
            "birth_date",
        ),
        ("unknown sex", with("sex", json!("x")), "sex"),
        (
            "contact not an object",
            with("contact", json!([1])),
            "contact",
        ),
        (
            "contact too large",
            with("contact", json!({"notes": "x".repeat(9000)})),
            "contact",
        ),
        (
            "NUL in contact",
            with("contact", json!({"a": "\u{0}"})),
            "contact",
        ),
    ];
    for (case, body, field) in cases {
        let reply = w
            .call(Method::POST, "/api/v1/patients", &editor, Some(&body))
            .await;
        assert_invalid(&reply, field, case);
    }
    let patient = w
        .create_patient(&editor, &new_patient("MRN-1", "Lovelace"))
        .await;
    let path = format!("/api/v1/patients/{}", patient["id"].as_str().unwrap());
    for (case, body, field) in [
        ("empty patch", json!({}), "body"),
        ("null field", json!({"mrn": null}), "mrn"),
        (
            "bad date",
            json!({"birth_date": "1984-13-01"}),
            "birth_date",
        ),
        ("unknown field", json!({"colour": "red"}), "colour"),
    ] {
        let reply = w.call(Method::PATCH, &path, &editor, Some(&body)).await;
        assert_invalid(&reply, field, case);
    }
    assert_eq!(w.count("select count(*) from patients").await, 1);
    assert_eq!(w.read(200, &path, &editor).await, patient, "unchanged");
}

#[tokio::test]
async fn a_patient_write_or_an_audited_read_whose_event_fails_leaves_neither_change_nor_event() {
    const REFUSED_AGENT: &str = "e2e-refuse-audit";
    let w = World::start(&["org-1"]).await;
    let admin = w.token("org-1", "ann", &["admin"]).await;
    let patient = w
        .create_patient(&admin, &new_patient("MRN-1", "Lovelace"))
        .await;
    let path = format!("/api/v1/patients/{}", patient["id"].as_str().unwrap());
    let doc = w.create(&admin, &new_doc("Before")).await;
    let doc_path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "alter table audit_events add constraint e2e_refuse_marked \
         check (user_agent is distinct from '{REFUSED_AGENT}') not valid"
    )))
    .execute(&w.pool)
    .await
    .expect("add the constraint");
    let events_before = w.count("select count(*) from audit_events").await;
    let marked = |method: Method, target: &str| w.request_as(method, target, &admin, REFUSED_AGENT);
    let replies = [
        (
            "create",
            World::send(marked(Method::POST, "/api/v1/patients").json(&new_patient("MRN-2", "X")))
                .await,
        ),
        (
            "update",
            World::send(marked(Method::PATCH, &path).json(&json!({"family_name": "After"}))).await,
        ),
        ("delete", World::send(marked(Method::DELETE, &path)).await),
        (
            "patient read",
            World::send(marked(Method::GET, &path)).await,
        ),
        (
            "patient list",
            World::send(marked(Method::GET, "/api/v1/patients")).await,
        ),
        (
            "document read",
            World::send(marked(Method::GET, &doc_path)).await,
        ),
        (
            "user list",
            World::send(marked(Method::GET, "/api/v1/users")).await,
        ),
        (
            "audit list",
            World::send(marked(Method::GET, "/api/v1/audit-events")).await,
        ),
        (
            "tenant",
            World::send(marked(Method::GET, "/api/v1/tenant")).await,
        ),
    ];
    for (name, reply) in &replies {
        assert_eq!(
            (reply.status, reply.code()),
            (500, Some("SYS_003")),
            "{name}: {:?}",
            reply.body
        );
        assert!(
            !reply.body.to_string().contains("e2e_refuse_marked"),
            "{name}: detail leaked"
        );
        assert!(
            w.events_of_request(&reply.request_id()).await.is_empty(),
            "{name}"
        );
    }
    assert_eq!(
        w.count("select count(*) from patients").await,
        1,
        "no new patient"
    );
    assert_eq!(
        w.count("select count(*) from audit_events").await,
        events_before
    );
    let after = w.read(200, &path, &admin).await;
    assert_eq!(after, patient, "the update and the delete were rolled back");
}
