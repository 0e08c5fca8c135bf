//! What a user saw can be reconstructed from the trail: a list's audit event records the ids of
//! the rows it returned, in order, page by page, and the audit API shows them.

use serde_json::Value;

use haven_tests::world::{World, new_doc, new_patient};

fn ids(page: &Value) -> Vec<uuid::Uuid> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// The ids the one event of the last request to `path` recorded.
async fn returned(w: &World, path: &str, token: &str) -> (Value, Option<Vec<uuid::Uuid>>) {
    let reply = w.get(path, token).await;
    assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
    let events = w.events_of_request(&reply.request_id()).await;
    assert_eq!(events.len(), 1, "{path}");
    (reply.body, events[0].returned_ids.clone())
}

#[tokio::test]
async fn a_list_event_records_the_ids_it_returned_in_order_page_by_page() {
    let w = World::start(&["org-a"]).await;
    let admin = w.token("org-a", "ada", &["admin", "auditor"]).await;
    for title in ["One", "Two", "Three"] {
        w.create(&admin, &new_doc(title)).await;
    }
    for mrn in ["MRN-1", "MRN-2"] {
        w.create_patient(&admin, &new_patient(mrn, "Lovelace"))
            .await;
    }

    let (first, recorded) = returned(&w, "/api/v1/documents?limit=2", &admin).await;
    assert_eq!(recorded, Some(ids(&first)));
    assert_eq!(ids(&first).len(), 2);
    let next = format!(
        "/api/v1/documents?limit=2&cursor={}",
        first["next_cursor"].as_str().unwrap()
    );
    let (second, recorded) = returned(&w, &next, &admin).await;
    assert_eq!(recorded, Some(ids(&second)));
    assert_eq!(ids(&second).len(), 1);

    let (patients, recorded) = returned(&w, "/api/v1/patients", &admin).await;
    assert_eq!(recorded, Some(ids(&patients)));
    assert_eq!(ids(&patients).len(), 2);
    let (users, recorded) = returned(&w, "/api/v1/users", &admin).await;
    assert_eq!(recorded, Some(ids(&users)));

    // An empty page says so: nothing was disclosed (an empty list, not an unknown).
    let (none, recorded) = returned(&w, "/api/v1/patients?mrn=MRN-9", &admin).await;
    assert!(ids(&none).is_empty());
    assert_eq!(recorded, Some(Vec::new()));

    // A page of the trail records the events it showed; the audit API shows what each list
    // returned, and other events record none.
    let (reads, recorded) = returned(&w, "/api/v1/audit-events?action=document.list", &admin).await;
    assert_eq!(recorded, Some(ids(&reads)));
    let shown: Vec<Value> = reads["items"].as_array().unwrap().clone();
    assert_eq!(shown.len(), 2);
    // Newest first: the second page's event, then the first's.
    assert_eq!(shown[0]["returned_ids"], serde_json::json!(ids(&second)));
    assert_eq!(shown[1]["returned_ids"], serde_json::json!(ids(&first)));
    let (creates, _) = returned(
        &w,
        "/api/v1/audit-events?action=document.create&limit=2",
        &admin,
    )
    .await;
    let created = creates["items"].as_array().unwrap();
    assert_eq!(created.len(), 2);
    assert!(created.iter().all(|e| e["returned_ids"].is_null()));
    // The trail's pages, too, page by page.
    let next = format!(
        "/api/v1/audit-events?action=document.create&limit=2&cursor={}",
        creates["next_cursor"].as_str().unwrap()
    );
    let (rest, recorded) = returned(&w, &next, &admin).await;
    assert_eq!(recorded, Some(ids(&rest)));
    assert_eq!(ids(&rest).len(), 1);
}
