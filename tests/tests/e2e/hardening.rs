//! Hardening over real HTTP: security headers, the body cap, the header read and request
//! timeouts, the concurrency cap, the database acquire timeout, the rate limits and fair sharing
//! between tenants (a flooding tenant does not slow or refuse another).

mod headers;
mod limits;
mod neighbour;
mod rate_limits;
mod tenant_share;

use serde_json::Value;

/// A non-2xx answer, checked to be in the envelope: (status, code, headers).
pub async fn envelope(response: reqwest::Response) -> (u16, String, reqwest::header::HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body: Value = response.json().await.expect("an envelope body");
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("X-Request-ID");
    assert_eq!(body["error"]["request_id"], request_id, "{body}");
    let code = body["error"]["code"].as_str().expect("a code").to_owned();
    (status, code, headers)
}

/// A header as text ("" when absent).
pub fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Tokens are checked only once OIDC discovery has finished, in the background after start:
/// wait for that with a throwaway subject's token (its tenant must exist), sent as a client
/// address of its own, so no budget a test counts is spent.
pub async fn wait_for_token_checks(client: &reqwest::Client, base: &str, token: &str) {
    let url = format!("{base}/api/v1/auth/validate");
    let ready = haven_tests::eventually(std::time::Duration::from_secs(15), || {
        let request = client
            .get(&url)
            .bearer_auth(token)
            .header("x-forwarded-for", "192.0.2.250")
            .send();
        async move { matches!(request.await, Ok(r) if r.status() != 503) }
    })
    .await;
    assert!(ready, "OIDC discovery did not finish");
}
