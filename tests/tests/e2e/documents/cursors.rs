//! Forged cursors: one whose timestamp PostgreSQL cannot hold is a 422 on every list, never a 500.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;

use super::support::World;

/// A well-formed cursor (version 1, microseconds, id) at year -9000.
fn out_of_range_cursor() -> String {
    let mut bytes = vec![1_u8];
    bytes.extend_from_slice(&(-346_000_000_000_000_000_i64).to_be_bytes());
    bytes.extend_from_slice(&[7_u8; 16]);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn an_out_of_range_cursor_is_422_on_documents_users_audit_events_and_the_export() {
    let w = World::start(&["org-1"]).await;
    let token = w.token("org-1", "admin-1", &["admin", "auditor"]).await;
    let cursor = out_of_range_cursor();
    for path in ["/api/v1/documents", "/api/v1/users", "/api/v1/audit-events"] {
        let reply = w.get(&format!("{path}?cursor={cursor}"), &token).await;
        assert_eq!(reply.status, 422, "{path}: {:?}", reply.body);
        assert_eq!(reply.code(), Some("VAL_001"), "{path}");
    }
    let export = World::send(
        w.request(
            Method::GET,
            &format!("/api/v1/audit-events?cursor={cursor}"),
            &token,
        )
        .header("accept", "application/x-ndjson"),
    )
    .await;
    assert_eq!(export.status, 422, "{:?}", export.body);
    assert_eq!(export.code(), Some("VAL_001"));
}
