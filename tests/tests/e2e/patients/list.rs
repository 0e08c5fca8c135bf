//! The patient list: exact-match filters (family name case-insensitively), and walking the pages
//! returns every patient once while others are being created.

use std::collections::HashSet;

use serde_json::json;

use haven_tests::world::{World, new_patient};

#[tokio::test]
async fn filters_match_exactly_and_family_names_case_insensitively() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let mut ada = new_patient("MRN-1", "Lovelace");
    ada["birth_date"] = json!("1915-12-10");
    w.create_patient(&editor, &ada).await;
    w.create_patient(&editor, &new_patient("MRN-2", "LOVELACE"))
        .await;
    w.create_patient(&editor, &new_patient("MRN-10", "Hopper"))
        .await;
    let mrns = |query: &'static str| {
        let w = &w;
        let editor = &editor;
        async move {
            let mut mrns: Vec<String> = w
                .walk("/api/v1/patients", editor, query)
                .await
                .iter()
                .map(|p| p["mrn"].as_str().unwrap().to_owned())
                .collect();
            mrns.sort();
            mrns
        }
    };
    assert_eq!(mrns("mrn=MRN-1").await, ["MRN-1"], "exact, not a prefix");
    assert!(mrns("mrn=mrn-1").await.is_empty(), "mrn is case-sensitive");
    assert_eq!(mrns("family_name=lovelace").await, ["MRN-1", "MRN-2"]);
    assert!(
        mrns("family_name=Love").await.is_empty(),
        "no partial match"
    );
    assert_eq!(mrns("birth_date=1915-12-10").await, ["MRN-1"]);
    assert_eq!(
        mrns("family_name=LoveLace&birth_date=1984-03-01").await,
        ["MRN-2"]
    );
    for (query, field) in [
        ("birth_date=1984-02-30", "birth_date"),
        ("birth_date=yesterday", "birth_date"),
        ("mrn=", "mrn"),
        ("limit=0", "limit"),
        ("cursor=junk", "cursor"),
        ("given_name=Ada", "given_name"),
    ] {
        let reply = w
            .expect(
                422,
                reqwest::Method::GET,
                &format!("/api/v1/patients?{query}"),
                &editor,
                None,
            )
            .await;
        assert_eq!(reply.code(), Some("VAL_001"), "{query}");
        assert_eq!(reply.body["error"]["details"][0]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn walking_all_patient_pages_returns_every_patient_once_under_concurrent_inserts() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let mut before = HashSet::new();
    for i in 0..60 {
        let family = if i % 2 == 0 { "Even" } else { "Odd" };
        let p = w
            .create_patient(&editor, &new_patient(&format!("MRN-{i}"), family))
            .await;
        before.insert(p["id"].as_str().unwrap().to_owned());
    }
    let walk_all = w.walk("/api/v1/patients", &editor, "limit=7");
    let walk_even = w.walk("/api/v1/patients", &editor, "limit=4&family_name=even");
    let insert = async {
        for i in 0..40 {
            let family = if i % 2 == 0 { "Even" } else { "Odd" };
            w.create_patient(&editor, &new_patient(&format!("NEW-{i}"), family))
                .await;
        }
    };
    let (all, even, ()) = tokio::join!(walk_all, walk_even, insert);
    let ids = |items: &[serde_json::Value]| -> Vec<String> {
        items
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all_ids = ids(&all);
    let unique: HashSet<String> = all_ids.iter().cloned().collect();
    assert_eq!(unique.len(), all_ids.len(), "a patient was returned twice");
    assert!(before.is_subset(&unique), "a patient was skipped");
    let even_ids = ids(&even);
    let unique_even: HashSet<String> = even_ids.iter().cloned().collect();
    assert_eq!(unique_even.len(), even_ids.len());
    assert!(even.iter().all(|p| p["family_name"] == "Even"));
    assert!(
        unique_even.len() >= 30,
        "every even patient from before the walk"
    );
}
