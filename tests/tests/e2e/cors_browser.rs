//! CORS in a real browser (Debian's headless Chromium): a page from an allowed origin calls the
//! API with a bearer token and reads the body, X-Request-ID and an error envelope; a page from
//! any other origin is blocked by the browser itself.

use std::path::PathBuf;
use std::process::Command;

use haven_tests::idp::{CLIENT_ID, Idp};
use haven_tests::spawn_app_with;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Debian's chromium; scripts/test installs it. Run directly as root, the test installs it
/// itself; only if that is impossible does it skip.
fn chromium() -> Option<PathBuf> {
    if let Some(found) = on_path("chromium") {
        return Some(found);
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root && on_path("apt-get").is_some() {
        for args in [
            &["update", "-qq"][..],
            &["install", "-y", "-qq", "chromium"][..],
        ] {
            let _ = Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status();
        }
    }
    on_path("chromium")
}

/// [`chromium`], or `None` after saying the test is skipped. scripts/test installs chromium and
/// sets HAVEN_TEST_REQUIRE_CHROMIUM=1: there a missing browser is a failure, not a pass.
pub(crate) fn chromium_or_skip() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        assert!(
            std::env::var("HAVEN_TEST_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "chromium is required (HAVEN_TEST_REQUIRE_CHROMIUM=1) but is not installed"
        );
        eprintln!("SKIPPED: chromium is not installed and could not be (apt-get install chromium)");
    }
    found
}

/// A loopback port of its own: a distinct origin.
pub(crate) async fn origin() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, format!("http://127.0.0.1:{port}"))
}

/// Serves `page` for any request on `listener`.
pub(crate) fn serve_page(listener: TcpListener, page: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let page = page.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    })
}

/// The page's script calls the API and writes what it could read into `#result` as JSON.
fn page(api: &str, token: &str) -> String {
    let (api, token) = (json!(api), json!(token));
    format!(
        r#"<!doctype html><html><body><pre id="result">pending</pre><script>
(async () => {{
  const out = document.getElementById("result");
  const result = {{}};
  try {{
    const me = await fetch({api} + "/api/v1/me", {{
      headers: {{ Authorization: "Bearer " + {token} }}, credentials: "include" }});
    result.status = me.status;
    result.requestId = me.headers.get("x-request-id");
    result.body = await me.json();
    const denied = await fetch({api} + "/api/v1/me", {{ credentials: "include" }});
    result.errorStatus = denied.status;
    result.errorRequestId = denied.headers.get("x-request-id");
    result.errorBody = await denied.json();
  }} catch (e) {{
    result.error = String(e);
    // Reachable all the same: an opaque no-cors request still succeeds.
    try {{ await fetch({api} + "/api/v1/health/live", {{ mode: "no-cors" }}); result.reachable = true; }}
    catch (e2) {{ result.reachable = false; }}
  }}
  out.textContent = JSON.stringify(result);
}})();
</script></body></html>"#
    )
}

/// Loads `url` in a fresh headless Chromium and returns the `#result` JSON.
pub(crate) async fn run_page(chromium: PathBuf, url: String) -> Value {
    let profile = std::env::temp_dir().join(format!("haven-chromium-{}", uuid::Uuid::new_v4()));
    let output = tokio::task::spawn_blocking({
        let profile = profile.clone();
        move || {
            Command::new("timeout")
                .arg("90")
                .arg(chromium)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--virtual-time-budget=15000",
                    "--dump-dom",
                ])
                .arg(format!("--user-data-dir={}", profile.display()))
                .arg(url)
                .output()
                .expect("run chromium")
        }
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&output.stdout);
    let start = dom.find(r#"<pre id="result">"#).map(|i| i + 17);
    let text = start
        .and_then(|s| dom[s..].find("</pre>").map(|e| &dom[s..s + e]))
        .unwrap_or_else(|| {
            panic!(
                "no #result in the DOM: {dom}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let text = text
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("the page did not finish: {text}"))
}

#[tokio::test]
async fn a_page_from_an_allowed_origin_reads_the_api_and_a_page_from_another_origin_is_blocked() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let idp = Idp::start();
    let token = idp.token(json!({"claims": {"sub": "browser-user"}})).await;
    let (allowed, allowed_origin) = origin().await;
    let (other, other_origin) = origin().await;
    let issuer = idp.issuer.clone();
    let origin_setting = allowed_origin.clone();
    let app = spawn_app_with(move |env| {
        env.insert("OIDC_ISSUER_URL".into(), issuer);
        env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
        // Lets the OIDC warm-up send as a client address of its own.
        env.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        env.insert("ALLOWED_ORIGINS".into(), origin_setting);
    })
    .await;
    let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    haven_db::tenants::admin_create(&pool, "org-1", "Org One")
        .await
        .unwrap();
    let warmup = idp.token(json!({"claims": {"sub": "warmup"}})).await;
    crate::hardening::wait_for_token_checks(&app.client, &app.address, &warmup).await;
    // The preflight the page's credentialed, Authorization-carrying fetch needs: allowed for
    // this origin and cached by the browser (the page cannot read preflight headers itself).
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/me"))
        .header("origin", &allowed_origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        allowed_origin.as_str()
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert_eq!(headers["access-control-max-age"], "600");
    let html = page(&app.address, &token);
    let allowed_url = format!("http://127.0.0.1:{}/", allowed.local_addr().unwrap().port());
    let allowed_server = serve_page(allowed, html.clone());
    let other_server = serve_page(other, html);

    let result = run_page(chromium.clone(), allowed_url).await;
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["body"]["subject"], "browser-user", "{result}");
    let request_id = result["requestId"].as_str().unwrap_or("");
    assert!(request_id.len() >= 8, "X-Request-ID is exposed: {result}");
    assert_eq!(result["errorStatus"], 401, "{result}");
    assert_eq!(result["errorBody"]["error"]["code"], "AUTH_001", "{result}");
    assert_eq!(
        result["errorBody"]["error"]["request_id"], result["errorRequestId"],
        "{result}"
    );

    let blocked = run_page(chromium, format!("{other_origin}/")).await;
    assert!(
        blocked["error"]
            .as_str()
            .unwrap_or("")
            .contains("Failed to fetch"),
        "the browser blocks the read: {blocked}"
    );
    assert!(blocked.get("status").is_none(), "{blocked}");
    assert_eq!(
        blocked["reachable"], true,
        "blocked by CORS, not unreachable: {blocked}"
    );
    allowed_server.abort();
    other_server.abort();
    app.stop().await;
}
