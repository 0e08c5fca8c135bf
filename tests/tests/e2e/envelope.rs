//! Every non-2xx response carries the one envelope, with the request id of its header.

use haven_tests::spawn_app;
use serde_json::Value;

async fn envelope_of(
    response: reqwest::Response,
) -> (u16, String, Value, reqwest::header::HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let request_id = headers
        .get("x-request-id")
        .expect("X-Request-ID header")
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(
        body["error"]["request_id"],
        request_id.as_str(),
        "request_id equals the header"
    );
    assert!(body["error"]["message"].is_string());
    assert!(body["error"]["details"].is_array());
    (
        status,
        body["error"]["code"].as_str().unwrap().to_owned(),
        body,
        headers,
    )
}

#[tokio::test]
async fn an_unknown_route_is_a_404_in_the_envelope() {
    let app = spawn_app().await;
    let (status, code, _, _) = envelope_of(app.get("/api/v1/no-such-thing?x=1").await).await;
    assert_eq!((status, code.as_str()), (404, "RES_001"));
    let (status, _, _, _) = envelope_of(app.get("/").await).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_with_allow_in_the_envelope() {
    let app = spawn_app().await;
    let response = app
        .client
        .delete(app.url("/api/v1/health/live"))
        .send()
        .await
        .unwrap();
    let (status, code, _, headers) = envelope_of(response).await;
    assert_eq!((status, code.as_str()), (405, "REQ_001"));
    let allow = headers
        .get("allow")
        .expect("Allow header")
        .to_str()
        .unwrap();
    assert!(allow.contains("GET"), "{allow}");
    app.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_in_the_envelope_without_internal_text() {
    let app = spawn_app().await;
    let (status, code, body, _) = envelope_of(app.get("/api/v1/_test/panic").await).await;
    assert_eq!((status, code.as_str()), (500, "SYS_003"));
    assert!(
        !body.to_string().contains("deliberate"),
        "the panic message stays in the log: {body}"
    );
    // The server is still serving afterwards.
    assert_eq!(app.get("/api/v1/health/live").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn the_request_id_is_always_the_servers_own_and_never_the_clients() {
    let app = spawn_app().await;
    for sent in ["client-abc.123", "evil\"id with spaces"] {
        let response = app
            .client
            .get(app.url("/api/v1/nope"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let header = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let (_, _, body, _) = envelope_of(response).await;
        let id = body["error"]["request_id"].as_str().unwrap();
        assert_ne!(id, sent, "two clients sending one id never share it");
        assert_eq!(id.len(), 36, "a fresh uuid");
        assert_eq!(id, header);
    }
    app.stop().await;
}
