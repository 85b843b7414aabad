//! The dashboard's server side, over plain HTTP: browser sessions (the cookie's attributes, the
//! CSRF proof, signing in with a password or a token, signing out), and the page and its files
//! (compressed, cached, with their security headers). The browser itself is in `dashboard.rs`.

mod common;

use common::{TestApp, assert_error, spawn_app, spawn_app_with};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SESSION: &str = "kindling_session";
const SECURE_SESSION: &str = "__Host-kindling_session";
const CSRF: &str = "x-kindling-csrf";

/// A browser's view of a session: its cookie and its CSRF proof.
struct Browser {
    cookie: Cookie,
    csrf: String,
    answer: Value,
    set_cookie: String,
}

async fn sign_in(app: &TestApp, body: Value) -> Result<Browser, (StatusCode, Value)> {
    sign_in_with(app, body, HeaderMap::new()).await
}

async fn sign_in_with(
    app: &TestApp,
    body: Value,
    headers: HeaderMap,
) -> Result<Browser, (StatusCode, Value)> {
    let response = reqwest::Client::new()
        .post(app.url("/auth/session"))
        .headers(headers)
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let answer: Value = response.json().await.expect("a JSON answer");
    if status != StatusCode::OK {
        return Err((status, answer));
    }
    let set_cookie = set_cookie.expect("a session cookie");
    let (name, value) = set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .expect("a cookie");
    assert!(name == SESSION || name == SECURE_SESSION, "{set_cookie}");
    Ok(Browser {
        cookie: Cookie {
            base: app.base.clone(),
            name: name.to_owned(),
            value: value.to_owned(),
        },
        csrf: answer["csrf_token"]
            .as_str()
            .expect("a CSRF proof")
            .to_owned(),
        answer,
        set_cookie,
    })
}

/// A browser holding a session cookie (another site's pages aside, it sends it every time).
struct Cookie {
    base: String,
    name: String,
    value: String,
}

impl Cookie {
    fn of(app: &TestApp, value: &str) -> Self {
        Self {
            base: app.base.clone(),
            name: SESSION.to_owned(),
            value: value.to_owned(),
        }
    }

    /// A reading request: the cookie is enough.
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, body, _) = self.send(Method::GET, path, None, None).await;
        (status, body)
    }

    /// A request with the cookie and `proof` as its CSRF proof (`None`: without one).
    async fn send(
        &self,
        method: Method,
        path: &str,
        proof: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, HeaderMap) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .header(
                header::COOKIE,
                format!("theme=dark; {}={}", self.name, self.value),
            );
        if let Some(proof) = proof {
            request = request.header(CSRF, proof);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        )
    }
}

/// The `Max-Age` of a `Set-Cookie` header, in seconds.
fn max_age(set_cookie: &str) -> i64 {
    set_cookie
        .split("; ")
        .find_map(|attribute| attribute.strip_prefix("Max-Age="))
        .expect("the cookie expires")
        .parse()
        .expect("a number of seconds")
}

fn function(name: &str) -> Value {
    json!({"name": name, "language": "python", "code": "def handler(e):\n    return 1\n"})
}

#[tokio::test]
async fn a_password_opens_a_cookie_session_whose_changes_need_the_csrf_proof() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    app.user("alice").await;
    let browser = sign_in(
        &app,
        json!({"username": "alice", "password": "alice-password"}),
    )
    .await
    .expect("signed in");
    let attributes: Vec<&str> = browser.set_cookie.split("; ").collect();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&attribute), "{}", browser.set_cookie);
    }
    assert!(
        !browser.set_cookie.contains("Secure"),
        "plain HTTP: no Secure"
    );
    let max_age = max_age(&browser.set_cookie);
    assert!((43_000..=43_200).contains(&max_age), "12 hours: {max_age}");
    assert_eq!(browser.answer["user"]["username"], "alice");
    assert_eq!(browser.answer["user"]["admin"], false);
    assert_eq!(browser.answer["auth"], true);
    assert_eq!(browser.answer["session"]["kind"], "session");
    assert!(!browser.answer.to_string().contains(&browser.cookie.value));

    // Reading needs only the cookie.
    let (status, listed) = browser.cookie.get("/functions").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let (status, session, headers) = browser
        .cookie
        .send(Method::GET, "/auth/session", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["csrf_token"], browser.csrf.as_str());
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "no-store",
        "no cache keeps the proof"
    );

    // Changing needs the proof too, the right one.
    for csrf in [None, Some("forged"), Some("")] {
        let (status, body, _) = browser
            .cookie
            .send(Method::POST, "/functions", csrf, Some(function("sneaky")))
            .await;
        assert_error(&(status, body), StatusCode::FORBIDDEN, "csrf_rejected");
    }
    let (_, none) = app.get("/functions").await;
    assert_eq!(none.as_array().unwrap().len(), 0, "nothing was created");
    let (status, made, _) = browser
        .cookie
        .send(
            Method::POST,
            "/functions",
            Some(&browser.csrf),
            Some(function("mine")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (status, invoked, _) = browser
        .cookie
        .send(
            Method::POST,
            "/functions/mine/invoke",
            Some(&browser.csrf),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, invoked["result"].clone()),
        (StatusCode::OK, json!(1))
    );

    // Another session's proof is not this one's.
    let other = sign_in(
        &app,
        json!({"username": "alice", "password": "alice-password"}),
    )
    .await
    .unwrap();
    let (status, body, _) = browser
        .cookie
        .send(Method::DELETE, "/functions/mine", Some(&other.csrf), None)
        .await;
    assert_error(&(status, body), StatusCode::FORBIDDEN, "csrf_rejected");
}

#[tokio::test]
async fn sessions_and_api_tokens_do_not_stand_in_for_each_other() {
    let app = spawn_app().await;
    let browser = sign_in(&app, json!({"token": app.admin_token}))
        .await
        .expect("a token signs in");
    assert_eq!(browser.answer["user"]["username"], "admin");
    assert_ne!(
        browser.cookie.value, app.admin_token,
        "the token is exchanged"
    );
    assert_error(
        &app.as_token(Some(&browser.cookie.value))
            .get("/functions")
            .await,
        StatusCode::UNAUTHORIZED,
        "session_not_token",
    );
    let (status, body) = Cookie::of(&app, &app.admin_token).get("/functions").await;
    assert_error(&(status, body), StatusCode::UNAUTHORIZED, "invalid_session");
    // A bearer token wins over a cookie: API clients are not asked for a CSRF proof.
    let response = reqwest::Client::new()
        .post(app.url("/functions"))
        .bearer_auth(&app.admin_token)
        .header(
            header::COOKIE,
            format!("{SESSION}={}", browser.cookie.value),
        )
        .json(&function("scripted"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    // The sessions are listed with the tokens, as sessions.
    let (_, tokens) = app.get("/auth/tokens").await;
    let kinds: Vec<&str> = tokens
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["session", "api"]);
}

#[tokio::test]
async fn wrong_credentials_are_refused_with_a_clear_message() {
    let app = spawn_app().await;
    app.user("bob").await;
    let refused = |body: Value| {
        let app = &app;
        async move { sign_in(app, body).await.err().expect("refused") }
    };
    assert_error(
        &refused(json!({"username": "bob", "password": "wrong"})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_error(
        &refused(json!({"username": "nobody", "password": "whatever1"})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    let not_a_token = refused(json!({"token": "secret123"})).await;
    assert_error(&not_a_token, StatusCode::UNAUTHORIZED, "invalid_token");
    assert!(
        not_a_token.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kdl_")
    );
    assert_error(
        &refused(json!({"token": format!("kdl_0123456789abcdef_{}", "A".repeat(43))})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_error(
        &refused(json!({"username": "bob", "password": "bob-password", "token": app.admin_token}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_sign_in",
    );
    assert_error(
        &refused(json!({"username": "bob"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_sign_in",
    );
    // A revoked token opens no session.
    let (_, made) = app.post("/auth/tokens", &json!({"name": "old"})).await;
    let old = made["token"].as_str().unwrap();
    app.delete(&format!("/auth/tokens/{}", made["id"].as_str().unwrap()))
        .await;
    assert_error(
        &refused(json!({"token": old})).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
    // Credentials come as JSON only: another site's form cannot sign the browser in.
    let form = reqwest::Client::new()
        .post(app.url("/auth/session"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(r#"{"username": "bob", "password": "bob-password"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(form.headers().get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_session_opened_with_a_token_ends_no_later_than_the_token() {
    let app = spawn_app().await;
    let (_, made) = app
        .post(
            "/auth/tokens",
            &json!({"name": "brief", "expires_in_secs": 120}),
        )
        .await;
    let browser = sign_in(&app, json!({"token": made["token"]}))
        .await
        .unwrap();
    let token_expiry: chrono::DateTime<chrono::Utc> =
        made["expires_at"].as_str().unwrap().parse().unwrap();
    let session_expiry: chrono::DateTime<chrono::Utc> = browser.answer["session"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        session_expiry <= token_expiry,
        "{session_expiry} > {token_expiry}"
    );
    assert!(
        browser.set_cookie.contains("Max-Age=1"),
        "{}",
        browser.set_cookie
    );
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let browser = sign_in(&app, json!({"token": app.admin_token}))
        .await
        .unwrap();
    let (status, body, _) = browser
        .cookie
        .send(Method::DELETE, "/auth/session", None, None)
        .await;
    assert_error(&(status, body), StatusCode::FORBIDDEN, "csrf_rejected");
    let (status, _, headers) = browser
        .cookie
        .send(Method::DELETE, "/auth/session", Some(&browser.csrf), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let cleared = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with(&format!("{SESSION}=;")) && cleared.contains("Max-Age=0"));
    // The old cookie, kept by whoever copied it, opens nothing any more.
    let (status, body) = browser.cookie.get("/functions").await;
    assert_error(&(status, body), StatusCode::UNAUTHORIZED, "token_revoked");
    let (status, body) = browser.cookie.get("/auth/session").await;
    assert_error(&(status, body), StatusCode::UNAUTHORIZED, "token_revoked");
    let (_, tokens) = app.get("/auth/tokens").await;
    let session = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "session")
        .unwrap();
    assert_eq!(session["active"], false);
    assert!(session["revoked_at"].is_string());
    // Nobody signed in: no session.
    assert_error(
        &app.as_token(None).get("/auth/session").await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    );
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_host_only() {
    let app = spawn_app().await;
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-proto", "https".parse().unwrap());
    let behind_a_proxy = sign_in_with(&app, json!({"token": app.admin_token}), headers)
        .await
        .unwrap();
    let configured = spawn_app_with(|config| config.accounts.secure_cookies = true).await;
    let said_so = sign_in(&configured, json!({"token": configured.admin_token}))
        .await
        .unwrap();
    for browser in [&behind_a_proxy, &said_so] {
        let cookie = &browser.set_cookie;
        assert!(
            cookie.starts_with(&format!("{SECURE_SESSION}=")) && cookie.ends_with("; Secure"),
            "{cookie}"
        );
    }
    let (status, _) = said_so.cookie.get("/functions").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the __Host- cookie opens the session"
    );
}

#[tokio::test]
async fn without_authentication_nobody_signs_in() {
    let app = spawn_app_with(|config| config.auth = false).await;
    let (status, session) = app.as_token(None).get("/auth/session").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["auth"], false);
    assert_eq!(session["user"]["username"], "admin");
}

#[tokio::test]
async fn administrators_register_users_and_reset_their_tokens_from_a_session() {
    let app = spawn_app().await;
    let browser = sign_in(&app, json!({"token": app.admin_token}))
        .await
        .unwrap();
    let (status, user, _) = browser
        .cookie
        .send(
            Method::POST,
            "/auth/register",
            Some(&browser.csrf),
            Some(json!({"username": "carol", "password": "carol-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let carol = sign_in(
        &app,
        json!({"username": "carol", "password": "carol-password"}),
    )
    .await
    .unwrap();
    let (status, reset, _) = browser
        .cookie
        .send(
            Method::POST,
            "/auth/users/carol/reset-token",
            Some(&browser.csrf),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reset}");
    let (status, me) = app.as_token(reset["token"].as_str()).get("/auth/me").await;
    assert_eq!(
        (status, me["username"].clone()),
        (StatusCode::OK, json!("carol"))
    );
    // Her session ended with the reset; she may not reset anyone's.
    let (status, body) = carol.cookie.get("/functions").await;
    assert_error(&(status, body), StatusCode::UNAUTHORIZED, "token_revoked");
    assert_error(
        &app.as_token(reset["token"].as_str())
            .post("/auth/users/admin/reset-token", &json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.post("/auth/users/nobody/reset-token", &json!({})).await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    );
}

#[tokio::test]
async fn the_page_and_its_files_are_served_compressed_cached_and_locked_down() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    let page = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let policy = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let html = page.text().await.unwrap();
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a style nonce");
    assert!(html.contains(&format!("nonce=\"{nonce}\"")));
    assert!(!html.contains("KINDLING_STYLE_NONCE"));

    let assets: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/assets/"))
        .collect();
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css"))
    );
    for asset in assets {
        let mut sizes = Vec::new();
        for (accept, encoding) in [
            ("br, gzip", Some("br")),
            ("gzip", Some("gzip")),
            ("identity", None),
        ] {
            let answer = client
                .get(app.url(asset))
                .header(header::ACCEPT_ENCODING, accept)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::OK, "{asset}");
            let headers = answer.headers().clone();
            if !asset.ends_with(".svg") {
                assert_eq!(
                    headers
                        .get(header::CONTENT_ENCODING)
                        .map(|v| v.to_str().unwrap()),
                    encoding,
                    "{asset} for {accept}"
                );
            }
            assert_eq!(
                headers[header::CACHE_CONTROL],
                "public, max-age=31536000, immutable"
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            let etag = headers[header::ETAG].clone();
            sizes.push(answer.bytes().await.unwrap().len());
            let again = client
                .get(app.url(asset))
                .header(header::IF_NONE_MATCH, etag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        }
        if asset.ends_with(".js") || asset.ends_with(".css") {
            assert!(
                sizes[0] < sizes[1] && sizes[1] < sizes[2],
                "{asset}: {sizes:?}"
            );
        }
    }
    let missing = client
        .get(app.url("/assets/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
}

#[tokio::test]
async fn a_session_is_named_for_the_browser_that_opened_it() {
    let app = spawn_app().await;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::USER_AGENT,
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            .parse()
            .unwrap(),
    );
    let browser = sign_in_with(&app, json!({"token": app.admin_token}), headers)
        .await
        .unwrap();
    assert_eq!(browser.answer["session"]["name"], "Firefox on Linux");
}

#[tokio::test]
async fn signing_in_again_ends_the_session_it_replaces() {
    let app = spawn_app().await;
    let first = sign_in(&app, json!({"token": app.admin_token}))
        .await
        .unwrap();
    let (status, _, _) = first
        .cookie
        .send(
            Method::POST,
            "/auth/session",
            None,
            Some(json!({"token": app.admin_token})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = first.cookie.get("/functions").await;
    assert_error(&(status, body), StatusCode::UNAUTHORIZED, "token_revoked");
}

#[tokio::test]
async fn run_routes_and_seed_aliases_take_no_session_cookie() {
    if common::skipped_without_root() {
        return;
    }
    let app = spawn_app().await;
    // A function that answers a page trying to plant a session cookie of its own.
    app.create_fn(
        "page",
        "python",
        "def handler(event, context):\n    return {'statusCode': 200, 'headers': {'Content-Type': 'text/html', 'Set-Cookie': 'kindling_session=planted; Path=/', 'Content-Security-Policy': \"default-src *\"}, 'body': '<script>fetch(\"/auth/tokens\")</script>'}\n",
        json!({"route": "/page"}),
    )
    .await;
    let browser = sign_in(&app, json!({"token": app.admin_token}))
        .await
        .unwrap();
    for (method, path) in [
        (Method::GET, "/run/page"),
        (Method::OPTIONS, "/run/page"),
        (Method::POST, "/execute/page"),
    ] {
        let (status, body, _) = browser
            .cookie
            .send(method, path, Some(&browser.csrf), Some(json!({})))
            .await;
        assert_error(&(status, body), StatusCode::UNAUTHORIZED, "missing_token");
    }
    let (_, ran) = app.get("/invocations?function=page").await;
    assert_eq!(ran, json!([]), "the cookie ran nothing");

    // With a token it runs; its answer is a sandbox and cannot set the session cookie.
    let response = reqwest::Client::new()
        .get(app.url("/run/page"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let policies: Vec<&str> = response
        .headers()
        .get_all(header::CONTENT_SECURITY_POLICY)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        policies.contains(&"default-src *") && policies.iter().any(|p| p.starts_with("sandbox ")),
        "{policies:?}"
    );
}

#[tokio::test]
async fn without_authentication_another_sites_page_changes_nothing() {
    let app = spawn_app_with(|config| config.auth = false).await;
    let body =
        r#"{"name": "planted", "language": "python", "code": "def handler(e):\n    return 1\n"}"#;
    let post = |site: Option<&'static str>| {
        let mut request = reqwest::Client::new()
            .post(app.url("/functions"))
            .header(header::CONTENT_TYPE, "text/plain")
            .body(body);
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    let refused = post(Some("cross-site")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "cross_site");
    assert_eq!(app.get("/functions").await.1, json!([]));
    // The same request from the dashboard itself, or from a script, goes through.
    assert_eq!(
        post(Some("same-origin")).await.unwrap().status(),
        StatusCode::CREATED
    );
}
