//! The client address an audit event records: `X-Forwarded-For` only from a trusted proxy.

use reqwest::Method;

use super::support::{World, new_doc};

const FORWARDED_CLIENT: &str = "198.51.100.7";

/// Reads one document with `X-Forwarded-For: 198.51.100.7` over loopback and returns the
/// client IP its audit event recorded.
async fn audited_ip_of_a_forwarded_read(world: &World) -> Option<String> {
    let editor = world.token("org-1", "erin", &["editor"]).await;
    let doc = world.create(&editor, &new_doc("Referral")).await;
    let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
    let read = world
        .request(Method::GET, &path, &editor)
        .header("x-forwarded-for", FORWARDED_CLIENT);
    let read = World::send(read).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let events = world.events_of_request(&read.request_id()).await;
    assert_eq!(events.len(), 1, "one event for the read");
    assert_eq!(events[0].action, "document.read");
    events[0].client_ip.clone()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_audit_event_records_the_forwarded_client_ip() {
    let w = World::start_with(&["org-1"], &[("TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    assert_eq!(
        audited_ip_of_a_forwarded_read(&w).await.as_deref(),
        Some(FORWARDED_CLIENT)
    );
}

#[tokio::test]
async fn without_trusted_proxies_the_audit_event_ignores_x_forwarded_for_and_records_the_peer() {
    let w = World::start(&["org-1"]).await;
    assert_eq!(
        audited_ip_of_a_forwarded_read(&w).await.as_deref(),
        Some("127.0.0.1")
    );
}
