//! Test harness for the certified provider (`tests/oidc-provider/server.mjs`, panva
//! oidc-provider): starts it per test and signs a user in through its login and consent forms
//! with plain HTTP requests, as a browser would.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use url::Url;

use crate::node::{ensure_node_modules, spawn_provider};

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc-provider")
}

/// How the provider is set up for one test.
pub struct ProviderSetup<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub redirect_uri: &'a str,
    /// The API's resource indicator: the `aud` of the JWT access tokens.
    pub resource: &'a str,
    /// `tenant_id` claim of every access token.
    pub tenant: &'a str,
    /// Space-separated `roles` claim.
    pub roles: &'a str,
    /// Lifetime of the refresh tokens it issues.
    pub refresh_ttl_secs: u32,
}

/// One running oidc-provider; killed when dropped.
pub struct CertifiedIdp {
    child: Child,
    pub issuer: String,
    http: reqwest::Client,
}

impl CertifiedIdp {
    pub fn start(setup: &ProviderSetup<'_>) -> Self {
        ensure_node_modules(&provider_dir(), "oidc-provider");
        let mut command = Command::new("node");
        command
            .arg(provider_dir().join("server.mjs"))
            .args(["--port", "0", "--watch-stdin"])
            .args(["--client-id", setup.client_id])
            .args(["--client-secret", setup.client_secret])
            .args(["--redirect-uri", setup.redirect_uri])
            .args(["--resource", setup.resource])
            .args(["--tenant", setup.tenant])
            .args(["--roles", setup.roles])
            .args(["--refresh-ttl", &setup.refresh_ttl_secs.to_string()])
            .stderr(Stdio::null());
        let (child, ready) = spawn_provider(command);
        Self {
            child,
            issuer: ready["issuer"].as_str().expect("issuer").to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Follows `authorization_url` as a browser: the provider's login form is filled with
    /// `login` (any password), its consent form confirmed, until the provider redirects to a
    /// URL starting with `redirect_uri`, which is returned (with `code`, `state`, `iss`).
    pub async fn sign_in(&self, authorization_url: &str, login: &str, redirect_uri: &str) -> Url {
        let mut jar = CookieJar::default();
        let mut next = Request::Get(Url::parse(authorization_url).expect("authorization URL"));
        for _ in 0..12 {
            let (url, response) = match next {
                Request::Get(url) => {
                    let response = self.http.get(url.clone()).header("cookie", jar.header());
                    (url, response.send().await.expect("provider reachable"))
                }
                Request::Form(url, form) => {
                    let response = self
                        .http
                        .post(url.clone())
                        .header("cookie", jar.header())
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(form_body(&form));
                    (url, response.send().await.expect("provider reachable"))
                }
            };
            jar.store(&response);
            if response.status().is_redirection() {
                let location = response.headers()["location"].to_str().expect("location");
                let target = url.join(location).expect("location URL");
                if target.as_str().starts_with(redirect_uri) {
                    return target;
                }
                next = Request::Get(target);
                continue;
            }
            let status = response.status();
            let page = response.text().await.expect("page");
            assert_eq!(status, 200, "provider page: {page}");
            next = form_submission(&url, &page, login);
        }
        panic!("the provider never redirected back to {redirect_uri}");
    }
}

impl Drop for CertifiedIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Request {
    Get(Url),
    Form(Url, Vec<(&'static str, String)>),
}

/// The login page gets `login` and a password; the consent page just its prompt.
fn form_submission(page_url: &Url, page: &str, login: &str) -> Request {
    let action = between(page, "action=\"", "\"").expect("the page has a form");
    let action = page_url
        .join(&action.replace("&amp;", "&"))
        .expect("form action");
    let prompt = between(page, "name=\"prompt\" value=\"", "\"").expect("the form has a prompt");
    let mut form = vec![("prompt", prompt.clone())];
    match prompt.as_str() {
        "login" => {
            form.push(("login", login.to_owned()));
            form.push(("password", "any password".to_owned()));
        }
        "consent" => {}
        other => panic!("unexpected provider prompt {other}"),
    }
    Request::Form(action, form)
}

/// `application/x-www-form-urlencoded` text of `pairs`.
pub fn form_body<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        form.append_pair(k.as_ref(), v.as_ref());
    }
    form.finish()
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].to_owned())
}

/// Name → value of every cookie the provider set (paths are ignored: one test, one provider).
#[derive(Default)]
struct CookieJar(BTreeMap<String, String>);

impl CookieJar {
    fn store(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.0.remove(name.trim());
                } else {
                    self.0.insert(name.trim().to_owned(), value.to_owned());
                }
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}
