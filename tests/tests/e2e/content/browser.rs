//! A browser on an allowed origin uploads a file straight to the bucket through the presigned
//! URL and downloads it again (headless Chromium, as in cors_browser.rs; the bucket's CORS rule
//! set as DEPLOYMENT.md describes). The page's script is API.md's fetch example.

use serde_json::json;

use super::support::start;
use crate::cors_browser::{chromium_or_skip, origin, run_page, serve_page};

/// Creates the document (hashing the file in the page), PUTs it, completes, fetches the
/// download URL and reads the file back; writes what happened into `#result`.
fn page(api: &str, token: &str) -> String {
    let (api, token) = (json!(api), json!(token));
    format!(
        r#"<!doctype html><html><body><pre id="result">pending</pre><script>
(async () => {{
  const out = document.getElementById("result");
  const result = {{}};
  try {{
    const auth = {{ Authorization: "Bearer " + {token} }};
    const file = new File(["Discharge letter, ward 4 \u2014 \u00e9t\u00e9"], "letter.txt",
                          {{ type: "text/plain" }});
    // The document, with the file's size, type and SHA-256 (base64).
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    const sha256 = btoa(String.fromCharCode(...new Uint8Array(digest)));
    const created = await fetch({api} + "/api/v1/documents", {{
      method: "POST", headers: {{ ...auth, "Content-Type": "application/json" }},
      body: JSON.stringify({{ title: "Discharge letter", filename: file.name,
        content_type: file.type, size_bytes: file.size, sha256 }}) }});
    const doc = await created.json();
    result.created = created.status;
    // The bytes go straight to the bucket with exactly the signed headers (the browser sets
    // content-length itself).
    const {{ "content-length": _, ...headers }} = doc.upload.headers;
    const put = await fetch(doc.upload.url, {{ method: doc.upload.method, headers, body: file }});
    result.put = put.status;
    const done = await fetch({api} + "/api/v1/documents/" + doc.id + "/complete",
      {{ method: "POST", headers: auth }});
    result.completed = (await done.json()).status;
    // A cross-origin redirect cannot carry the token: ask for the URL as JSON instead.
    const link = await (await fetch({api} + "/api/v1/documents/" + doc.id +
      "/content?redirect=false", {{ headers: auth }})).json();
    const got = await fetch(link.url);
    result.download = got.status;
    result.same = (await got.text()) === (await file.text());
  }} catch (e) {{
    result.error = String(e);
  }}
  out.textContent = JSON.stringify(result);
}})();
</script></body></html>"#
    )
}

#[tokio::test]
async fn a_page_on_an_allowed_origin_uploads_to_the_bucket_and_downloads_the_file_again() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let (listener, page_origin) = origin().await;
    let s = start(&["org-1"], &[("ALLOWED_ORIGINS", &page_origin)]).await;
    s.store.allow_origin(&page_origin).await;
    let token = s.w.token("org-1", "browser-user", &["editor"]).await;
    let server = serve_page(listener, page(&s.w.app.address, &token));
    let result = run_page(chromium, format!("{page_origin}/")).await;
    server.abort();
    assert_eq!(result["created"], 201, "{result}");
    assert_eq!(result["put"], 200, "{result}");
    assert_eq!(result["completed"], "ready", "{result}");
    assert_eq!(result["download"], 200, "{result}");
    assert_eq!(result["same"], true, "{result}");
    let downloads = s
        .w
        .count("select count(*) from audit_events where action = 'document.download' and outcome = 'success'")
        .await;
    assert_eq!(downloads, 1);
}
