//! Every refusal inside a tenant is on the record: a bad body on any id (checked before the
//! lookup), a bad list query, an `Idempotency-Key` reused with another body, and a sign-in or
//! refresh refused once the caller's tenant is known. Each leaves one `denied` event in the
//! caller's tenant naming what was attempted and the error code the caller was answered with,
//! and nothing else is written.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};

use haven_tests::world::{AuditRow, Reply, World, new_doc, new_patient};

/// The one event of `reply`'s request: denied, in `tenant`, by `subject`.
async fn refusal(w: &World, reply: &Reply, tenant: uuid::Uuid, subject: &str) -> AuditRow {
    let events = w.events_of_request(&reply.request_id()).await;
    assert_eq!(events.len(), 1, "one event: {events:?}");
    let event = events.into_iter().next().unwrap();
    assert_eq!(
        (event.tenant_id, event.outcome.as_str()),
        (tenant, "denied"),
        "{event:?}"
    );
    assert_eq!(event.actor_subject.as_deref(), Some(subject));
    assert_eq!(event.changed_fields, None, "nothing changed");
    assert_eq!(
        event.error_code.as_deref(),
        reply.code(),
        "the event records the code the caller was answered with"
    );
    assert!(event.error_code.is_some());
    event
}

#[tokio::test]
async fn a_bad_body_on_another_tenants_or_a_missing_id_is_422_and_audited_with_that_id() {
    let w = World::start(&["org-a", "org-b"]).await;
    let alice = w.token("org-a", "alice", &["admin"]).await;
    let bob = w.token("org-b", "bob", &["admin"]).await;
    let tenant_b = w.tenant_id("org-b").await;
    let document = w.create(&alice, &new_doc("Alice's")).await;
    let patient = w
        .create_patient(&alice, &new_patient("MRN-1", "Lovelace"))
        .await;
    for (resource, theirs, bad) in [
        ("document", &document, json!({"title": 5})),
        ("patient", &patient, json!({"mrn": ""})),
    ] {
        let theirs = theirs["id"].as_str().unwrap().to_owned();
        for id in [theirs.clone(), uuid::Uuid::new_v4().to_string()] {
            let path = format!("/api/v1/{resource}s/{id}");
            let reply = w.expect(422, Method::PATCH, &path, &bob, Some(&bad)).await;
            assert_eq!(reply.code(), Some("VAL_001"));
            let event = refusal(&w, &reply, tenant_b, "bob").await;
            assert_eq!(event.action, format!("{resource}.update"));
            assert_eq!(
                (event.resource_type.as_str(), event.resource_id.as_deref()),
                (resource, Some(id.as_str())),
                "the probed id is on the record"
            );
        }
        // The owner's row is untouched.
        let path = format!("/api/v1/{resource}s/{theirs}");
        let now = w.read(200, &path, &alice).await;
        assert_eq!(now["updated_at"], now["created_at"], "{resource}");
    }
    assert_eq!(
        w.count("select count(*) from audit_events where outcome = 'denied'")
            .await,
        4
    );
}

#[tokio::test]
async fn a_bad_create_body_or_list_query_is_audited_as_a_denied_create_or_list() {
    let w = World::start(&["org-a"]).await;
    let erin = w.token("org-a", "erin", &["editor"]).await;
    let tenant = w.tenant_id("org-a").await;
    let cases = [
        (
            Method::POST,
            "/api/v1/documents",
            Some(json!({"title": ""})),
            "document.create",
        ),
        (
            Method::POST,
            "/api/v1/patients",
            Some(json!({"mrn": 1})),
            "patient.create",
        ),
        (
            Method::GET,
            "/api/v1/documents?limit=0",
            None,
            "document.list",
        ),
        (
            Method::GET,
            "/api/v1/patients?birth_date=1984-13-01",
            None,
            "patient.list",
        ),
    ];
    for (method, path, body, action) in cases {
        let reply = w.expect(422, method, path, &erin, body.as_ref()).await;
        let event = refusal(&w, &reply, tenant, "erin").await;
        assert_eq!((event.action.as_str(), event.resource_id), (action, None));
    }
    // A malformed Idempotency-Key is the same refusal.
    let request = w
        .request(Method::POST, "/api/v1/documents", &erin)
        .header("idempotency-key", "tab\tinside")
        .json(&new_doc("Keyed"));
    let reply = World::send(request).await;
    assert_eq!(reply.status, 422);
    let event = refusal(&w, &reply, tenant, "erin").await;
    assert_eq!(event.action, "document.create");
    assert_eq!(w.count("select count(*) from documents").await, 0);
    assert_eq!(w.count("select count(*) from patients").await, 0);
}

#[tokio::test]
async fn a_reused_idempotency_key_with_another_body_is_audited_and_creates_nothing() {
    let w = World::start(&["org-a"]).await;
    let erin = w.token("org-a", "erin", &["editor"]).await;
    let tenant = w.tenant_id("org-a").await;
    for (path, first, other, action) in [
        (
            "/api/v1/documents",
            new_doc("One"),
            new_doc("Two"),
            "document.create",
        ),
        (
            "/api/v1/patients",
            new_patient("MRN-1", "One"),
            new_patient("MRN-2", "Two"),
            "patient.create",
        ),
    ] {
        let post = |body: &Value| {
            World::send(
                w.request(Method::POST, path, &erin)
                    .header("idempotency-key", format!("key-{action}"))
                    .json(body),
            )
        };
        assert_eq!(post(&first).await.status, 201);
        let reply = post(&other).await;
        assert_eq!((reply.status, reply.code()), (422, Some("IDEM_001")));
        let event = refusal(&w, &reply, tenant, "erin").await;
        assert_eq!((event.action.as_str(), event.resource_id), (action, None));
    }
    assert_eq!(w.count("select count(*) from documents").await, 1);
    assert_eq!(w.count("select count(*) from patients").await, 1);
}

#[tokio::test]
async fn not_found_and_forbidden_are_audited_with_their_codes_and_the_api_shows_them() {
    let w = World::start(&["org-a", "org-b"]).await;
    let alice = w.token("org-a", "alice", &["admin", "auditor"]).await;
    let bob = w.token("org-b", "bob", &["admin"]).await;
    let reader = w.token("org-b", "rita", &["viewer"]).await;
    let tenant_b = w.tenant_id("org-b").await;
    let document = w.create(&alice, &new_doc("Alice's")).await;
    let patient = w
        .create_patient(&alice, &new_patient("MRN-1", "Lovelace"))
        .await;
    let (doc_id, patient_id) = (
        document["id"].as_str().unwrap(),
        patient["id"].as_str().unwrap(),
    );
    let missing = uuid::Uuid::new_v4().to_string();
    // Another tenant's id and a missing one look alike, on every path that finds no row: the
    // read (its event is written in the read's own statement), the update, the delete, the
    // user switch; and text that is not an id at all.
    let title = json!({"title": "Bob's now"});
    let family = json!({"family_name": "Byron"});
    let cases = [
        (Method::GET, format!("/api/v1/documents/{doc_id}"), None),
        (Method::GET, format!("/api/v1/patients/{patient_id}"), None),
        (Method::GET, format!("/api/v1/documents/{missing}"), None),
        (
            Method::PATCH,
            format!("/api/v1/documents/{doc_id}"),
            Some(&title),
        ),
        (
            Method::PATCH,
            format!("/api/v1/patients/{patient_id}"),
            Some(&family),
        ),
        (Method::DELETE, format!("/api/v1/documents/{doc_id}"), None),
        (Method::DELETE, format!("/api/v1/patients/{missing}"), None),
        (
            Method::POST,
            format!("/api/v1/users/{missing}/disable"),
            None,
        ),
        (Method::GET, "/api/v1/documents/not-an-id".to_owned(), None),
    ];
    let mut bob_id = None;
    for (method, path, body) in cases {
        let reply = w.expect(404, method.clone(), &path, &bob, body).await;
        assert_eq!(reply.code(), Some("RES_001"), "{method} {path}");
        bob_id = refusal(&w, &reply, tenant_b, "bob").await.actor_user_id;
    }
    // A role the caller lacks.
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/documents".to_owned(),
            Some(new_doc("No")),
        ),
        (Method::GET, "/api/v1/audit-events".to_owned(), None),
        (Method::DELETE, format!("/api/v1/documents/{missing}"), None),
    ] {
        let reply = w.expect(403, method, &path, &reader, body.as_ref()).await;
        assert_eq!(reply.code(), Some("AUTH_009"), "{path}");
        refusal(&w, &reply, tenant_b, "rita").await;
    }

    // A success records no code; the audit API shows each event's.
    let read = w.get(&format!("/api/v1/documents/{doc_id}"), &alice).await;
    assert_eq!(read.status, 200);
    let events = w.events_of_request(&read.request_id()).await;
    assert_eq!(events[0].error_code, None);
    let bobs = w
        .get(
            &format!("/api/v1/audit-events?actor={}", bob_id.unwrap()),
            &bob,
        )
        .await;
    assert_eq!(bobs.status, 200, "{:?}", bobs.body);
    let items = bobs.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 9);
    assert!(
        items
            .iter()
            .all(|e| e["outcome"] == "denied" && e["error_code"] == "RES_001"),
        "{items:?}"
    );
    let listed = w.events_of_request(&bobs.request_id()).await;
    assert_eq!(listed[0].error_code, None);
}

const FRONTEND: &str = "http://localhost:3000";

/// The login flow up to the callback for a user whose access token carries `claims`.
async fn callback(w: &World, claims: Value) -> Reply {
    let redirect = format!("{FRONTEND}/auth/callback");
    let login = World::send(
        w.app.client.get(
            w.app
                .url(&format!("/api/v1/auth/login?redirect_uri={redirect}")),
        ),
    )
    .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    w.idp.next_claims(claims).await;
    let url = login.body["authorization_url"].as_str().unwrap();
    let authorize = w.idp.http().get(url).send().await.unwrap();
    assert_eq!(authorize.status(), 302);
    let location = url::Url::parse(authorize.headers()["location"].to_str().unwrap()).unwrap();
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    let body = json!({"code": query["code"], "state": query["state"]});
    World::send(
        w.app
            .client
            .post(w.app.url("/api/v1/auth/callback"))
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn a_sign_in_or_refresh_refused_inside_a_known_tenant_is_audited_there() {
    let w = World::start_with(
        &["org-a", "org-off"],
        &[
            (
                "OIDC_CLIENT_SECRET",
                "test-client-secret-at-least-32-bytes-long",
            ),
            ("ALLOWED_ORIGINS", FRONTEND),
        ],
    )
    .await;
    haven_db::tenants::admin_suspend(&w.pool, "org-off")
        .await
        .unwrap();
    let (org_a, org_off) = (w.tenant_id("org-a").await, w.tenant_id("org-off").await);
    let dora: uuid::Uuid = sqlx::query_scalar(
        "insert into users (tenant_id, subject, disabled_at) values ($1, 'dora', now()) \
         returning id",
    )
    .bind(org_a)
    .fetch_one(&w.pool)
    .await
    .unwrap();

    // A disabled user signing in: refused, recorded in their tenant under their user id.
    let reply = callback(&w, json!({"tenant_id": "org-a", "sub": "dora"})).await;
    assert_eq!((reply.status, reply.code()), (403, Some("USER_001")));
    let event = refusal(&w, &reply, org_a, "dora").await;
    assert_eq!(
        (event.action.as_str(), event.resource_type.as_str()),
        ("auth.login", "session")
    );
    assert_eq!(event.actor_user_id, Some(dora));

    // The same user refreshing.
    w.idp
        .next_claims(json!({"tenant_id": "org-a", "sub": "dora"}))
        .await;
    let body = json!({"refresh_token": "a-refresh-token"});
    let reply = World::send(
        w.app
            .client
            .post(w.app.url("/api/v1/auth/refresh"))
            .json(&body),
    )
    .await;
    assert_eq!((reply.status, reply.code()), (403, Some("USER_001")));
    let event = refusal(&w, &reply, org_a, "dora").await;
    assert_eq!(event.action, "auth.refresh");
    assert_eq!(event.actor_user_id, Some(dora));

    // A suspended tenant: recorded there; no user is resolved (or created) for it.
    let reply = callback(&w, json!({"tenant_id": "org-off", "sub": "olga"})).await;
    assert_eq!((reply.status, reply.code()), (403, Some("TENANT_002")));
    let event = refusal(&w, &reply, org_off, "olga").await;
    assert_eq!(
        (event.action.as_str(), event.actor_user_id),
        ("auth.login", None)
    );
    assert_eq!(
        w.count("select count(*) from users where subject = 'olga'")
            .await,
        0
    );

    // An unknown tenant has no trail to write to: refused, nothing recorded anywhere.
    let reply = callback(&w, json!({"tenant_id": "org-nowhere"})).await;
    assert_eq!((reply.status, reply.code()), (403, Some("TENANT_001")));
    assert!(w.events_of_request(&reply.request_id()).await.is_empty());
}
