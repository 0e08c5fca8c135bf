//! Cursor pagination and filters of the document list.

use std::collections::HashSet;
use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

use super::support::{World, new_doc};

async fn create_many(w: &World, token: &str, n: usize, prefix: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let doc = w.create(token, &new_doc(&format!("{prefix} {i}"))).await;
        ids.push(doc["id"].as_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test]
async fn walking_all_pages_returns_every_row_exactly_once_while_others_are_inserted() {
    let w = Arc::new(World::start(&["org-1"]).await);
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let originals = create_many(&w, &editor, 90, "original").await;

    let inserter = {
        let w = w.clone();
        let editor = editor.clone();
        tokio::spawn(async move { create_many(&w, &editor, 40, "concurrent").await })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/api/v1/documents?limit=7".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = w.get(&path, &editor).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let items = reply.body["items"].as_array().unwrap();
        assert!(items.len() <= 7);
        seen.extend(items.iter().map(|d| d["id"].as_str().unwrap().to_owned()));
        pages += 1;
        // Slow the walk down so the inserter really runs in between.
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let inserted = inserter.await.unwrap();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    for id in &originals {
        assert!(unique.contains(id), "original {id} missing");
    }
    assert!(pages >= 13, "90 rows at 7 a page: {pages} pages");
    assert_eq!(inserted.len(), 40);
    let everything = w.list_all(&editor, "").await;
    assert_eq!(everything.len(), 130, "afterwards the list has every row");
}

#[tokio::test]
async fn the_list_is_newest_first_and_filters_by_status_and_creation_time() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let mut created = Vec::new();
    for (i, status) in ["pending", "ready", "ready", "archived", "ready"]
        .iter()
        .enumerate()
    {
        let mut body = new_doc(&format!("doc {i}"));
        body["status"] = json!(status);
        created.push(w.create(&editor, &body).await);
    }
    let all = w.list_all(&editor, "").await;
    let titles: Vec<&str> = all.iter().map(|d| d["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["doc 4", "doc 3", "doc 2", "doc 1", "doc 0"]);

    let ready = w.list_all(&editor, "&status=ready").await;
    let titles: Vec<&str> = ready.iter().map(|d| d["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["doc 4", "doc 2", "doc 1"]);

    // created_from is inclusive, created_to exclusive.
    let from = created[1]["created_at"]
        .as_str()
        .unwrap()
        .replace('+', "%2B");
    let to = created[3]["created_at"]
        .as_str()
        .unwrap()
        .replace('+', "%2B");
    let window = w
        .list_all(&editor, &format!("&created_from={from}&created_to={to}"))
        .await;
    let titles: Vec<&str> = window
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["doc 2", "doc 1"]);

    let reply = w
        .call(
            Method::GET,
            "/api/v1/documents?limit=2&status=ready",
            &editor,
            None,
        )
        .await;
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 2);
    assert!(reply.body["next_cursor"].is_string());
}
