//! `GET /api/v1/users`: admins see their own tenant's users, page by page; others get 403.

use std::collections::HashSet;

use crate::documents::support::World;

#[tokio::test]
async fn admins_list_their_tenants_users_page_by_page_and_each_listing_is_audited() {
    let w = World::start(&["org-1", "org-2"]).await;
    let admin = w.token("org-1", "ada", &["admin"]).await;
    for subject in ["u1", "u2", "u3", "u4"] {
        let token = w.token("org-1", subject, &["viewer"]).await;
        assert_eq!(w.get("/api/v1/me", &token).await.status, 200);
    }
    let outsider = w.token("org-2", "zed", &["admin"]).await;
    assert_eq!(w.get("/api/v1/me", &outsider).await.status, 200);

    let mut subjects = Vec::new();
    let mut cursor: Option<String> = None;
    let mut request_ids = Vec::new();
    loop {
        let mut path = "/api/v1/users?limit=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = w.get(&path, &admin).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        request_ids.push(reply.request_id());
        for user in reply.body["items"].as_array().unwrap() {
            subjects.push(user["subject"].as_str().unwrap().to_owned());
            assert!(user["id"].is_string() && user["created_at"].is_string());
        }
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<&String> = subjects.iter().collect();
    assert_eq!(unique.len(), subjects.len(), "no user twice");
    let mut sorted = subjects.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["ada", "u1", "u2", "u3", "u4"],
        "oldest first, own tenant only"
    );
    for id in request_ids {
        let events = w.events_of_request(&id).await;
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].action.as_str(), events[0].outcome.as_str()),
            ("user.list", "success")
        );
    }
}

#[tokio::test]
async fn only_admins_may_list_users_and_a_refusal_is_audited() {
    let w = World::start(&["org-1"]).await;
    for role in ["editor", "viewer", "auditor"] {
        let token = w.token("org-1", &format!("{role}-user"), &[role]).await;
        let reply = w.get("/api/v1/users", &token).await;
        assert_eq!(
            (reply.status, reply.code()),
            (403, Some("AUTH_009")),
            "{role}"
        );
        let events = w.events_of_request(&reply.request_id()).await;
        assert_eq!(events.len(), 1, "{role}");
        assert_eq!(
            (events[0].action.as_str(), events[0].outcome.as_str()),
            ("user.list", "denied")
        );
    }
    let admin = w.token("org-1", "ada", &["admin"]).await;
    let bad = w.get("/api/v1/users?limit=101", &admin).await;
    assert_eq!((bad.status, bad.code()), (422, Some("VAL_001")));
    let bad = w.get("/api/v1/users?cursor=xyz", &admin).await;
    assert_eq!((bad.status, bad.code()), (422, Some("VAL_001")));
}
