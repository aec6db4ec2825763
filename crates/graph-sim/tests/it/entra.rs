//! Tests of the entra endpoints over real HTTP: client credentials (secret, Basic, certificate
//! assertions), Entra's error bodies, device code, refresh rotation, authorization code + PKCE,
//! consent, OIDC discovery and JWKS.

use crate::common::{client, sim};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use graph_sim::caller::Caller;
use graph_sim::jwt::{sign_with, Jwt};
use graph_sim::model::{App, AppSecret, User};
use graph_sim::RunningSim;
use rsa::pkcs8::EncodePrivateKey;
use rsa::RsaPrivateKey;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
const REDIRECT: &str = "http://localhost:8400/callback";

/// POSTs a form; returns status, headers and JSON body.
async fn post_form(
    sim: &RunningSim,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client()
        .post(format!("{}{}", sim.http_url(), path))
        .form(form);
    if let Some((u, p)) = basic {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn token_path(sim: &RunningSim) -> String {
    format!("/{}/oauth2/v2.0/token", sim.credentials.tenant_id)
}

/// Claims of a JWT (unverified).
fn claims(token: &str) -> Map<String, Value> {
    Jwt::parse(token).expect("a JWT").claims
}

/// Asserts Entra's error body: `error`, `error_codes`, and the description's shape.
fn assert_entra_error(body: &Value, error: &str, code: u64) {
    assert_eq!(body["error"], error, "body: {body}");
    assert_eq!(body["error_codes"], json!([code]), "body: {body}");
    let desc = body["error_description"].as_str().expect("description");
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    assert!(desc.contains("\r\nTrace ID: "), "{desc}");
    assert!(desc.contains("\r\nCorrelation ID: "), "{desc}");
    assert!(desc.contains("\r\nTimestamp: "), "{desc}");
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[k].is_string(), "{k} in {body}");
    }
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
}

async fn sim_admin(
    sim: &RunningSim,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, format!("{}{}", sim.http_url(), path))
        .header("x-sim-key", &sim.credentials.admin_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn add_user(sim: &RunningSim, upn: &str, name: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let mut t = sim.state.tenant.write();
    let v = t.bump();
    t.users.insert(
        User {
            id: id.clone(),
            user_principal_name: Some(upn.to_string()),
            display_name: Some(name.to_string()),
            mail: Some(upn.to_string()),
            account_enabled: Some(true),
            ..Default::default()
        },
        v,
    );
    id
}

fn add_app(sim: &RunningSim, app: App) {
    sim.state
        .tenant
        .write()
        .apps
        .insert(app.client_id.clone(), app);
}

fn secret(value: &str, end: &str) -> AppSecret {
    AppSecret {
        key_id: uuid::Uuid::new_v4().to_string(),
        value: value.to_string(),
        end_date_time: end.to_string(),
    }
}

/// A public client that may sign users in with User.Read and Contacts.Read.
fn public_app() -> App {
    App {
        client_id: uuid::Uuid::new_v4().to_string(),
        display_name: "pbx365 admin".into(),
        delegated_scopes: ["User.Read", "Contacts.Read"]
            .into_iter()
            .map(String::from)
            .collect(),
        allow_public_client: true,
        redirect_uris: vec![REDIRECT.to_string()],
        ..Default::default()
    }
}

fn set_roles(sim: &RunningSim, roles: &[&str]) {
    let mut t = sim.state.tenant.write();
    let app = t
        .apps
        .get_mut(&sim.credentials.client_id)
        .expect("default app");
    app.app_roles = roles.iter().map(|r| r.to_string()).collect();
}

async fn secret_token(sim: &RunningSim) -> (u16, Value) {
    let (s, _, b) = post_form(
        sim,
        &token_path(sim),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &sim.credentials.client_id),
            ("client_secret", &sim.credentials.client_secret),
            ("scope", GRAPH_DEFAULT),
        ],
        None,
    )
    .await;
    (s, b)
}

#[tokio::test]
async fn client_secret_grant_issues_a_graph_token_with_roles() {
    let sim = sim(0).await;
    set_roles(&sim, &["User.Read.All", "Contacts.Read"]);
    let (status, headers, body) = post_form(
        &sim,
        &token_path(&sim),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &sim.credentials.client_id),
            ("client_secret", &sim.credentials.client_secret),
            ("scope", GRAPH_DEFAULT),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert_eq!(body.as_object().map(|o| o.len()), Some(4), "{body}");
    assert_eq!(headers["cache-control"], "no-store, no-cache");
    let c = claims(body["access_token"].as_str().expect("token"));
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["tid"], sim.credentials.tenant_id.as_str());
    assert_eq!(c["appid"], sim.credentials.client_id.as_str());
    assert_eq!(c["roles"], json!(["Contacts.Read", "User.Read.All"]));
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3599
    );
    assert!(c.get("scp").is_none());

    // The tenant's domain names the tenant too, as does the Graph app id as the resource.
    let domain = sim.state.tenant.read().domain.clone();
    let (status, _, body) = post_form(
        &sim,
        &format!("/{domain}/oauth2/v2.0/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &sim.credentials.client_id),
            ("client_secret", &sim.credentials.client_secret),
            ("scope", "00000003-0000-0000-c000-000000000000/.default"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn client_secret_by_http_basic_auth() {
    let sim = sim(0).await;
    let (status, _, body) = post_form(
        &sim,
        &token_path(&sim),
        &[
            ("grant_type", "client_credentials"),
            ("scope", GRAPH_DEFAULT),
        ],
        Some((&sim.credentials.client_id, &sim.credentials.client_secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());

    let (status, _, body) = post_form(
        &sim,
        &token_path(&sim),
        &[
            ("grant_type", "client_credentials"),
            ("scope", GRAPH_DEFAULT),
        ],
        Some((&sim.credentials.client_id, "wrong")),
    )
    .await;
    assert_eq!(status, 401);
    assert_entra_error(&body, "invalid_client", 7000215);
}

/// A token request and the status, `error` and AADSTS code it must get.
type Case<'a> = (String, Vec<(&'a str, &'a str)>, u16, &'a str, u64);

#[tokio::test]
async fn client_credential_failures_answer_entra_error_bodies() {
    let sim = sim(0).await;
    let id = sim.credentials.client_id.clone();
    let good = sim.credentials.client_secret.clone();
    let path = token_path(&sim);
    let cases: Vec<Case> = vec![
        (
            path.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "nope"),
                ("scope", GRAPH_DEFAULT),
            ],
            401,
            "invalid_client",
            7000215,
        ),
        (
            path.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("scope", GRAPH_DEFAULT),
            ],
            401,
            "invalid_client",
            7000218,
        ),
        (
            path.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "11111111-2222-3333-4444-555555555555"),
                ("client_secret", &good),
                ("scope", GRAPH_DEFAULT),
            ],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            "/00000000-0000-0000-0000-0000000000aa/oauth2/v2.0/token".to_string(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &good),
                ("scope", GRAPH_DEFAULT),
            ],
            400,
            "invalid_request",
            90002,
        ),
        (
            path.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &good),
                ("scope", "User.Read"),
            ],
            400,
            "invalid_scope",
            70011,
        ),
        (
            path.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &good),
                (
                    "scope",
                    "https://graph.microsoft.com/.default https://vault.azure.net/.default",
                ),
            ],
            400,
            "invalid_scope",
            700022,
        ),
        (
            path.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &good),
            ],
            400,
            "invalid_request",
            900144,
        ),
        (
            path.clone(),
            vec![
                ("grant_type", "password"),
                ("client_id", &id),
                ("client_secret", &good),
                ("scope", GRAPH_DEFAULT),
            ],
            400,
            "unsupported_grant_type",
            70003,
        ),
        (
            "/common/oauth2/v2.0/token".to_string(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &good),
                ("scope", GRAPH_DEFAULT),
            ],
            400,
            "invalid_request",
            9001023,
        ),
    ];
    for (path, form, status, error, code) in cases {
        let (s, _, body) = post_form(&sim, &path, &form, None).await;
        assert_eq!(s, status, "{path} {form:?}: {body}");
        assert_entra_error(&body, error, code);
    }
    let (s, _, body) = crate::common::get(&sim, &token_path(&sim), "").await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_request", 900561);
    let (_, _, body) = post_form(
        &sim,
        &token_path(&sim),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &good),
        ],
        None,
    )
    .await;
    assert!(body["error_description"].as_str().unwrap().starts_with(
        "AADSTS900144: The request body must contain the following parameter: 'scope'."
    ));

    // An expired secret is AADSTS7000222, a valid one next to it still works.
    let mut app = public_app();
    app.allow_public_client = false;
    app.secrets = vec![
        secret("old-secret", "2020-01-01T00:00:00Z"),
        secret("new-secret", "2099-01-01T00:00:00Z"),
    ];
    let app_id = app.client_id.clone();
    add_app(&sim, app);
    let form = |s: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", app_id.as_str()),
            ("client_secret", s),
            ("scope", GRAPH_DEFAULT),
        ]
    };
    let (s, _, body) = post_form(&sim, &token_path(&sim), &form("old-secret"), None).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 7000222);
    let (s, _, body) = post_form(&sim, &token_path(&sim), &form("new-secret"), None).await;
    assert_eq!(s, 200, "{body}");
    // Not consented: the token carries no roles at all.
    assert!(claims(body["access_token"].as_str().unwrap())
        .get("roles")
        .is_none());
}

/// An RSA key and a self-signed certificate (PEM and DER) for it.
fn rsa_cert() -> (RsaPrivateKey, String, Vec<u8>) {
    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key");
    let der = key.to_pkcs8_der().expect("PKCS#8");
    let kp = rcgen::KeyPair::try_from(der.as_bytes()).expect("rcgen key pair");
    let cert = rcgen::CertificateParams::new(vec!["pbx365-test".to_string()])
        .expect("params")
        .self_signed(&kp)
        .expect("self-signed certificate");
    (key, cert.pem(), cert.der().to_vec())
}

fn assertion(
    key: &RsaPrivateKey,
    alg: &str,
    thumb: (&str, String),
    client_id: &str,
    aud: &str,
    now: i64,
    jti: &str,
) -> String {
    let mut header = Map::new();
    header.insert(thumb.0.to_string(), thumb.1.into());
    sign_with(
        key,
        alg,
        &header,
        &json!({
            "aud": aud, "iss": client_id, "sub": client_id, "jti": jti,
            "nbf": now, "iat": now, "exp": now + 600,
        }),
    )
    .expect("signed")
}

#[tokio::test]
async fn certificate_assertions_rs256_and_ps256() {
    let sim = sim(0).await;
    let (key, pem, der) = rsa_cert();
    let (other_key, _, _) = rsa_cert();
    let x5t = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der));
    let x5t_s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(&der));

    // Register the app through the control API, with the certificate, consented.
    let client_id = uuid::Uuid::new_v4().to_string();
    let (s, body) = sim_admin(
        &sim,
        reqwest::Method::POST,
        "/_sim/apps",
        Some(json!({
            "clientId": client_id, "displayName": "cert app", "certificates": [pem],
            "appRoles": ["User.Read.All"], "adminConsented": true,
        })),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        "/_sim/apps",
        Some(json!({"clientId": client_id, "displayName": "again"})),
    )
    .await;
    assert_eq!(s, 409);

    let tid = sim.credentials.tenant_id.clone();
    let aud = format!("{}/{tid}/oauth2/v2.0/token", sim.http_url());
    let ms_aud = format!("https://login.microsoftonline.com/{tid}/oauth2/v2.0/token");
    let now = sim.state.clock.unix();
    let send = |jwt: String| {
        let sim = &sim;
        let client_id = client_id.clone();
        async move {
            post_form(
                sim,
                &token_path(sim),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &client_id),
                    ("scope", GRAPH_DEFAULT),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &jwt),
                ],
                None,
            )
            .await
        }
    };

    let rs = assertion(
        &key,
        "RS256",
        ("x5t", x5t.clone()),
        &client_id,
        &aud,
        now,
        "j1",
    );
    let (s, _, body) = send(rs.clone()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["roles"],
        json!(["User.Read.All"])
    );

    let ps = assertion(
        &key,
        "PS256",
        ("x5t#S256", x5t_s256.clone()),
        &client_id,
        &ms_aud,
        now,
        "j2",
    );
    let (s, _, body) = send(ps).await;
    assert_eq!(s, 200, "{body}");

    // Replaying an assertion (same jti) fails.
    let (s, _, body) = send(rs).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 700027);

    // Wrong audience.
    let bad_aud = assertion(
        &key,
        "RS256",
        ("x5t", x5t.clone()),
        &client_id,
        "https://example.com/token",
        now,
        "j3",
    );
    let (s, _, body) = send(bad_aud).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 50027);

    // Expired an hour ago.
    let expired = assertion(
        &key,
        "RS256",
        ("x5t", x5t.clone()),
        &client_id,
        &aud,
        now - 4000,
        "j4",
    );
    let (s, _, body) = send(expired).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 700024);

    // Signed by another key but claiming the registered certificate.
    let forged = assertion(
        &other_key,
        "PS256",
        ("x5t#S256", x5t_s256),
        &client_id,
        &aud,
        now,
        "j5",
    );
    let (s, _, body) = send(forged).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 700027);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("signature validation"));

    // A certificate that is not registered.
    let unknown = assertion(
        &key,
        "RS256",
        ("x5t", URL_SAFE_NO_PAD.encode([7u8; 20])),
        &client_id,
        &aud,
        now,
        "j6",
    );
    let (s, _, body) = send(unknown).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 700027);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("BwcHBwcHBwcHBwcHBwcHBwcHBwc"));

    // Issuer must be the client.
    let mut header = Map::new();
    header.insert("x5t".into(), x5t.into());
    let wrong_iss = sign_with(&key, "RS256", &header, &json!({
        "aud": aud, "iss": "someone", "sub": "someone", "jti": "j7", "nbf": now, "exp": now + 600,
    })).unwrap();
    let (s, _, body) = send(wrong_iss).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 700021);
}

async fn start_device_code(sim: &RunningSim, client_id: &str, scope: &str) -> Value {
    let (s, _, body) = post_form(
        sim,
        &format!("/{}/oauth2/v2.0/devicecode", sim.credentials.tenant_id),
        &[("client_id", client_id), ("scope", scope)],
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body
}

async fn poll(sim: &RunningSim, client_id: &str, device_code: &str) -> (u16, Value) {
    let (s, _, b) = post_form(
        sim,
        "/organizations/oauth2/v2.0/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id),
            ("device_code", device_code),
            ("client_info", "1"),
        ],
        None,
    )
    .await;
    (s, b)
}

async fn refresh(sim: &RunningSim, client_id: &str, token: &str) -> (u16, Value) {
    let (s, _, b) = post_form(
        sim,
        &token_path(sim),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", token),
        ],
        None,
    )
    .await;
    (s, b)
}

#[tokio::test]
async fn device_code_flow_with_refresh_rotation_and_revocation() {
    let sim = sim(0).await;
    let user = add_user(&sim, "adele@contoso.onmicrosoft.com", "Adele Vance");
    let app = public_app();
    let cid = app.client_id.clone();
    add_app(&sim, app);

    let dc = start_device_code(
        &sim,
        &cid,
        "User.Read Mail.Send openid profile offline_access",
    )
    .await;
    assert_eq!(dc["expires_in"], 900);
    assert_eq!(dc["interval"], 5);
    assert_eq!(dc["verification_uri"], "https://microsoft.com/devicelogin");
    let user_code = dc["user_code"].as_str().unwrap().to_string();
    assert!(dc["message"].as_str().unwrap().contains(&user_code));
    let device_code = dc["device_code"].as_str().unwrap().to_string();

    let (s, body) = poll(&sim, &cid, &device_code).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "authorization_pending", 70016);

    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        "/_sim/devicecode/approve",
        Some(json!({"userCode": user_code, "userId": "ADELE@contoso.onmicrosoft.com"})),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        "/_sim/devicecode/decline",
        Some(json!({"userCode": user_code})),
    )
    .await;
    assert_eq!(s, 409, "a decided code cannot be decided again");

    let (s, body) = poll(&sim, &cid, &device_code).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "User.Read openid profile offline_access");
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["scp"], "User.Read openid profile");
    assert_eq!(at["oid"], user.as_str());
    assert!(at.get("roles").is_none());
    let caller =
        Caller::from_token(&sim.state, body["access_token"].as_str().unwrap()).expect("valid");
    assert_eq!(caller.user_id.as_deref(), Some(user.as_str()));
    assert!(caller.scopes.contains("User.Read") && !caller.scopes.contains("Mail.Send"));

    let id = claims(body["id_token"].as_str().unwrap());
    let tid = sim.credentials.tenant_id.clone();
    assert_eq!(id["aud"], cid.as_str());
    assert_eq!(id["iss"], format!("{}/{tid}/v2.0", sim.http_url()));
    assert_eq!(id["oid"], user.as_str());
    assert_eq!(id["tid"], tid.as_str());
    assert_eq!(id["preferred_username"], "adele@contoso.onmicrosoft.com");
    assert_eq!(id["name"], "Adele Vance");
    let info: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(body["client_info"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(info, json!({"uid": user, "utid": tid}));

    // Graph's OIDC UserInfo endpoint answers for the signed-in user.
    let (s, _, info) = crate::common::get(
        &sim,
        "/oidc/userinfo",
        body["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["name"], "Adele Vance");
    assert!(info.get("email").is_none(), "no email scope: {info}");
    let (s, _, err) = crate::common::get(&sim, "/oidc/userinfo", &sim.app_token()).await;
    assert_eq!(s, 401);
    crate::common::assert_graph_error(&err, "InvalidAuthenticationToken");

    // The code is spent.
    let (s, body2) = poll(&sim, &cid, &device_code).await;
    assert_eq!(s, 400);
    assert_entra_error(&body2, "bad_verification_code", 70018);

    // Refresh rotates: the new token works once, the old one no longer.
    let rt1 = body["refresh_token"].as_str().unwrap().to_string();
    let (s, r2) = refresh(&sim, &cid, &rt1).await;
    assert_eq!(s, 200, "{r2}");
    let rt2 = r2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert_eq!(
        claims(r2["access_token"].as_str().unwrap())["scp"],
        "User.Read openid profile"
    );
    let (s, body) = refresh(&sim, &cid, &rt1).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_grant", 70000);

    // A password change revokes every refresh token of the user.
    let (s, body) = sim_admin(
        &sim,
        reqwest::Method::POST,
        &format!("/_sim/users/{user}/revoke-sessions"),
        None,
    )
    .await;
    assert_eq!((s, body), (200, json!({"revokedRefreshTokens": 1})));
    for _ in 0..2 {
        let (s, body) = refresh(&sim, &cid, &rt2).await;
        assert_eq!(s, 400);
        assert_entra_error(&body, "invalid_grant", 50173);
    }
}

#[tokio::test]
async fn device_code_declined_expired_and_inactive_refresh() {
    let sim = sim(0).await;
    add_user(&sim, "megan@contoso.onmicrosoft.com", "Megan Bowen");
    let app = public_app();
    let cid = app.client_id.clone();
    add_app(&sim, app);

    let dc = start_device_code(&sim, &cid, "User.Read").await;
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        "/_sim/devicecode/decline",
        Some(json!({"userCode": dc["user_code"]})),
    )
    .await;
    assert_eq!(s, 204);
    let (s, body) = poll(&sim, &cid, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "authorization_declined", 70000);

    let dc = start_device_code(&sim, &cid, "User.Read offline_access").await;
    let dc2 = start_device_code(&sim, &cid, "User.Read offline_access").await;
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        "/_sim/devicecode/approve",
        Some(json!({"userCode": dc2["user_code"], "userId": "megan@contoso.onmicrosoft.com"})),
    )
    .await;
    assert_eq!(s, 204);
    let (s, tokens) = poll(&sim, &cid, dc2["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{tokens}");
    assert!(tokens.get("id_token").is_none(), "no openid, no id_token");

    sim.state.clock.advance(chrono::Duration::seconds(901));
    let (s, body) = poll(&sim, &cid, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "expired_token", 70019);

    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        "/_sim/devicecode/approve",
        Some(json!({"userCode": dc["user_code"], "userId": "megan@contoso.onmicrosoft.com"})),
    )
    .await;
    assert_eq!(s, 410, "an expired code cannot be approved");
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        "/_sim/devicecode/approve",
        Some(json!({"userCode": "NOSUCHCOD", "userId": "megan@contoso.onmicrosoft.com"})),
    )
    .await;
    assert_eq!(s, 404);

    sim.state.clock.advance(chrono::Duration::days(91));
    let (s, body) = refresh(&sim, &cid, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_grant", 700082);
}

#[tokio::test]
async fn device_code_needs_public_client_flows() {
    let sim = sim(0).await;
    let mut app = public_app();
    app.allow_public_client = false;
    let cid = app.client_id.clone();
    add_app(&sim, app);
    let dc = start_device_code(&sim, &cid, "User.Read").await;
    let (s, body) = poll(&sim, &cid, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 7000218);
    // A single-tenant app cannot use /common, nor /consumers.
    for (tenant, code) in [("common", 50194), ("consumers", 9002332)] {
        let (s, _, body) = post_form(
            &sim,
            &format!("/{tenant}/oauth2/v2.0/devicecode"),
            &[("client_id", &cid), ("scope", "User.Read")],
            None,
        )
        .await;
        assert_eq!(s, 400);
        assert_entra_error(&body, "invalid_request", code);
    }
    assert!(body["error_description"].as_str().unwrap().contains(
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
    ));
}

#[tokio::test]
async fn revoking_consent_and_roles_changes_later_tokens_only() {
    let sim = sim(0).await;
    set_roles(&sim, &["User.Read.All", "Contacts.Read"]);
    let cid = sim.credentials.client_id.clone();
    let (_, before) = secret_token(&sim).await;
    let before = before["access_token"].as_str().unwrap().to_string();

    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::DELETE,
        &format!("/_sim/apps/{cid}/roles/Contacts.Read"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (_, t) = secret_token(&sim).await;
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["roles"],
        json!(["User.Read.All"])
    );

    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::DELETE,
        &format!("/_sim/apps/{cid}/consent"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, t) = secret_token(&sim).await;
    assert_eq!(s, 200);
    let after = t["access_token"].as_str().unwrap();
    assert!(claims(after).get("roles").is_none());
    let caller = Caller::from_token(&sim.state, after).expect("still a valid token");
    assert!(caller.roles.is_empty());
    assert!(!caller.has_any(&["User.Read.All"]));
    // Tokens issued before keep their roles until they expire.
    let old = Caller::from_token(&sim.state, &before).expect("valid");
    assert!(old.has_any(&["Contacts.Read"]));

    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        &format!("/_sim/apps/{cid}/consent"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        &format!("/_sim/apps/{cid}/roles/Presence.Read.All"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (_, t) = secret_token(&sim).await;
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["roles"],
        json!(["Presence.Read.All", "User.Read.All"])
    );
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::DELETE,
        "/_sim/apps/nope/consent",
        None,
    )
    .await;
    assert_eq!(s, 404);
    // Controls need the sim-admin key.
    let resp = client()
        .get(format!("{}/_sim/apps", sim.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let (s, apps) = sim_admin(&sim, reqwest::Method::GET, "/_sim/apps", None).await;
    assert_eq!(s, 200);
    assert!(apps["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["clientId"] == cid.as_str()));
}

#[tokio::test]
async fn oidc_discovery_and_jwks_verify_tokens() {
    let sim = sim(0).await;
    let tid = sim.credentials.tenant_id.clone();
    let http = sim.http_url();
    let (s, _, conf) = crate::common::get(
        &sim,
        &format!("/{tid}/v2.0/.well-known/openid-configuration"),
        "",
    )
    .await;
    assert_eq!(s, 200, "{conf}");
    assert_eq!(conf["issuer"], format!("{http}/{tid}/v2.0"));
    assert_eq!(
        conf["token_endpoint"],
        format!("{http}/{tid}/oauth2/v2.0/token")
    );
    assert_eq!(
        conf["authorization_endpoint"],
        format!("{http}/{tid}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        conf["device_authorization_endpoint"],
        format!("{http}/{tid}/oauth2/v2.0/devicecode")
    );
    assert_eq!(
        conf["end_session_endpoint"],
        format!("{http}/{tid}/oauth2/v2.0/logout")
    );
    assert_eq!(
        conf["jwks_uri"],
        format!("{http}/{tid}/discovery/v2.0/keys")
    );

    // By domain it publishes the same tenant; `organizations` keeps Entra's placeholder.
    let domain = sim.state.tenant.read().domain.clone();
    let (_, _, by_domain) = crate::common::get(
        &sim,
        &format!("/{domain}/v2.0/.well-known/openid-configuration"),
        "",
    )
    .await;
    assert_eq!(by_domain["token_endpoint"], conf["token_endpoint"]);
    let (_, _, orgs) = crate::common::get(
        &sim,
        "/organizations/v2.0/.well-known/openid-configuration",
        "",
    )
    .await;
    assert_eq!(orgs["issuer"], format!("{http}/{{tenantid}}/v2.0"));
    assert_eq!(
        orgs["token_endpoint"],
        format!("{http}/organizations/oauth2/v2.0/token")
    );
    let (s, _, bad) = crate::common::get(
        &sim,
        "/nosuchtenant.example/v2.0/.well-known/openid-configuration",
        "",
    )
    .await;
    assert_eq!(s, 400);
    assert_entra_error(&bad, "invalid_tenant", 90002);

    // Instance discovery points back at this origin; logout returns to the client.
    let (s, _, inst) = crate::common::get(
        &sim,
        &format!("/common/discovery/instance?api-version=1.1&authorization_endpoint={http}/{tid}/oauth2/v2.0/authorize"),
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        inst["tenant_discovery_endpoint"],
        format!("{http}/{tid}/v2.0/.well-known/openid-configuration")
    );
    let resp = no_redirects()
        .get(format!(
            "{http}/{tid}/oauth2/v2.0/logout?post_logout_redirect_uri={REDIRECT}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    assert_eq!(resp.headers()["location"], REDIRECT);

    // Over HTTPS every URL is on the HTTPS origin.
    let ca = std::fs::read(&sim.ca_file).expect("CA file");
    let tls = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let https = sim.https_url().expect("https");
    let conf_tls: Value = tls
        .get(format!(
            "{https}/{tid}/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        conf_tls["token_endpoint"],
        format!("{https}/{tid}/oauth2/v2.0/token")
    );

    // The JWKS verifies an access token the token endpoint issued.
    let jwks: Value = client()
        .get(conf["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["issuer"], conf["issuer"]);
    let n =
        rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap());
    let e =
        rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(key["e"].as_str().unwrap()).unwrap());
    let public = rsa::RsaPublicKey::new(n, e).unwrap();
    let (_, t) = secret_token(&sim).await;
    let jwt = Jwt::parse(t["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(jwt.header["kid"], key["kid"]);
    assert_eq!(jwt.verify(&public), Ok(()));
    let (other, _, _) = rsa_cert();
    assert!(jwt.verify(&other.to_public_key()).is_err());
}

/// A client that does not follow redirects.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    serde_urlencoded::from_str(q).unwrap()
}

async fn authorize(sim: &RunningSim, params: &[(&str, &str)]) -> reqwest::Response {
    let url = format!(
        "{}/{}/oauth2/v2.0/authorize?{}",
        sim.http_url(),
        sim.credentials.tenant_id,
        serde_urlencoded::to_string(params).unwrap()
    );
    no_redirects().get(url).send().await.unwrap()
}

#[tokio::test]
async fn authorization_code_with_pkce_round_trip() {
    let sim = sim(0).await;
    let user = add_user(&sim, "alex@contoso.onmicrosoft.com", "Alex Wilber");
    let mut app = public_app();
    app.allow_public_client = false;
    app.secrets = vec![secret("web-secret", "2099-01-01T00:00:00Z")];
    let cid = app.client_id.clone();
    add_app(&sim, app);

    let verifier = "x".repeat(20) + "the-pkce-verifier-of-sufficient-length";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let base = [
        ("client_id", cid.as_str()),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile offline_access User.Read"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let mut params = base.to_vec();
    params.push(("login_hint", "alex@contoso.onmicrosoft.com"));
    let resp = authorize(&sim, &params).await;
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    let q = query_of(&location);
    assert_eq!(q["state"], "st-1");
    let code = q["code"].clone();

    let redeem = |verifier: String, code: String| {
        let sim = &sim;
        let cid = cid.clone();
        async move {
            post_form(
                sim,
                &token_path(sim),
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &cid),
                    ("client_secret", "web-secret"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", &verifier),
                ],
                None,
            )
            .await
        }
    };
    let (s, _, body) = redeem("wrong-verifier".repeat(4), code.clone()).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_grant", 501481);
    let (s, _, body) = redeem(verifier.clone(), code.clone()).await;
    assert_eq!(s, 200, "{body}");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["oid"], user.as_str());
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["scp"],
        "User.Read openid profile"
    );
    assert!(body["refresh_token"].is_string());
    let (s, _, body) = redeem(verifier.clone(), code).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_grant", 54005);

    // The confidential app must authenticate at the token endpoint.
    let resp = authorize(&sim, &params).await;
    let code = query_of(resp.headers()["location"].to_str().unwrap())["code"].clone();
    let (s, _, body) = post_form(
        &sim,
        &token_path(&sim),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &cid),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
        None,
    )
    .await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 7000218);

    // `plain` PKCE with the default signed-in user instead of a login_hint.
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        "/_sim/authorize/user",
        Some(json!({"userId": "alex@contoso.onmicrosoft.com"})),
    )
    .await;
    assert_eq!(s, 204);
    let plain = "p".repeat(50);
    let resp = authorize(
        &sim,
        &[
            ("client_id", cid.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "User.Read"),
            ("code_challenge", plain.as_str()),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 302);
    let code = query_of(resp.headers()["location"].to_str().unwrap())["code"].clone();
    let (s, _, body) = redeem(plain, code).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());

    // response_mode=form_post answers an auto-submitting form; fragment puts it after '#'.
    let resp = authorize(
        &sim,
        &[
            ("client_id", cid.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "User.Read"),
            ("state", "a&b"),
            ("response_mode", "form_post"),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(html.contains(&format!("action=\"{REDIRECT}\"")), "{html}");
    assert!(html.contains("name=\"code\" value=\""), "{html}");
    assert!(html.contains("name=\"state\" value=\"a&amp;b\""), "{html}");
    let resp = authorize(
        &sim,
        &[
            ("client_id", cid.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "User.Read"),
            ("response_mode", "fragment"),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 302);
    assert!(resp.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(&format!("{REDIRECT}#code=")));

    // An unregistered redirect URI is an error page, not a redirect.
    let resp = authorize(
        &sim,
        &[
            ("client_id", cid.as_str()),
            ("response_type", "code"),
            ("redirect_uri", "https://evil.example/cb"),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_entra_error(&body, "invalid_request", 50011);

    // An unknown user comes back to the client as an error redirect with the state.
    let resp = authorize(
        &sim,
        &[
            ("client_id", cid.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "User.Read"),
            ("state", "st-2"),
            ("login_hint", "nobody@contoso.onmicrosoft.com"),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 302);
    let q = query_of(resp.headers()["location"].to_str().unwrap());
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].starts_with("AADSTS50034: "));
    assert_eq!(q["state"], "st-2");
}

#[tokio::test]
async fn admin_consent_grants_roles() {
    let sim = sim(0).await;
    let mut app = public_app();
    app.allow_public_client = false;
    app.app_roles = ["User.Read.All".to_string()].into_iter().collect();
    app.secrets = vec![secret("s3cret", "2099-01-01T00:00:00Z")];
    let cid = app.client_id.clone();
    add_app(&sim, app);
    let url = format!(
        "{}/{}/adminconsent?{}",
        sim.http_url(),
        sim.credentials.tenant_id,
        serde_urlencoded::to_string([
            ("client_id", cid.as_str()),
            ("redirect_uri", REDIRECT),
            ("state", "abc")
        ])
        .unwrap()
    );
    let resp = no_redirects().get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let q = query_of(resp.headers()["location"].to_str().unwrap());
    assert_eq!(q["admin_consent"], "True");
    assert_eq!(q["tenant"], sim.credentials.tenant_id);
    assert_eq!(q["state"], "abc");
    let (s, _, body) = post_form(
        &sim,
        &token_path(&sim),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &cid),
            ("client_secret", "s3cret"),
            ("scope", GRAPH_DEFAULT),
        ],
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["roles"],
        json!(["User.Read.All"])
    );
}

/// The Python with msal and azure-identity (`scripts/test` creates `.venv`).
fn python() -> String {
    std::env::var("PBX365_PYTHON").unwrap_or_else(|_| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.venv/bin/python")
            .to_string_lossy()
            .into_owned()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_and_azure_identity_sign_in_against_the_emulator() {
    let sim = sim(0).await;
    add_user(&sim, "diego@contoso.onmicrosoft.com", "Diego Siciliani");
    let public = public_app();
    let public_id = public.client_id.clone();
    add_app(&sim, public);
    let (key, cert_pem, _) = rsa_cert();
    let cert_app = App {
        client_id: uuid::Uuid::new_v4().to_string(),
        display_name: "pbx365 cert".into(),
        certificates: vec![cert_pem.clone()],
        app_roles: ["User.Read.All".to_string()].into_iter().collect(),
        admin_consented: true,
        ..Default::default()
    };
    let cert_id = cert_app.client_id.clone();
    add_app(&sim, cert_app);
    let mut web = public_app();
    web.allow_public_client = false;
    web.secrets = vec![secret("web-secret", "2099-01-01T00:00:00Z")];
    let web_id = web.client_id.clone();
    add_app(&sim, web);
    let dir = std::env::temp_dir().join(format!("entra-msal-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem_file = dir.join("cert.pem");
    let key_pem = key
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .expect("key PEM");
    std::fs::write(&pem_file, format!("{}{cert_pem}", key_pem.as_str())).unwrap();

    let https = sim.https_url().expect("https listener");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/entra_msal.py");
    let ca = sim.ca_file.clone();
    let creds = sim.credentials.clone();
    let py = python();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&py)
            .arg(script)
            .env("SIM_AUTHORITY", &https)
            .env("SIM_TENANT", &creds.tenant_id)
            .env("SIM_CERT_CLIENT_ID", &cert_id)
            .env("SIM_CERT_PEM", &pem_file)
            .env("SIM_PUBLIC_CLIENT_ID", &public_id)
            .env("SIM_CLIENT_ID", &creds.client_id)
            .env("SIM_CLIENT_SECRET", &creds.client_secret)
            .env("SIM_WEB_CLIENT_ID", &web_id)
            .env("SIM_WEB_SECRET", "web-secret")
            .env("SIM_REDIRECT", REDIRECT)
            .env("SIM_ADMIN_KEY", &creds.admin_key)
            .env("SIM_USER", "diego@contoso.onmicrosoft.com")
            .env("REQUESTS_CA_BUNDLE", &ca)
            .env("SSL_CERT_FILE", &ca)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {py}: {e}. Run the tests with `scripts/test`, which creates .venv"
                )
            })
    })
    .await
    .expect("python task");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the MSAL script failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    let report: Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("bad report {stdout}: {e}"));
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["roles"], json!(["User.Read.All"]));
    assert_eq!(report["username"], "diego@contoso.onmicrosoft.com");
    assert_eq!(report["scp"], "User.Read openid profile");
    assert_eq!(report["refreshed"], true, "{report}");
    assert_eq!(report["web_username"], "diego@contoso.onmicrosoft.com");
}

#[tokio::test]
async fn secret_rotation_and_app_deletion_through_controls() {
    let sim = sim(0).await;
    let mut app = public_app();
    app.allow_public_client = false;
    app.secrets = vec![secret("first", "2099-01-01T00:00:00Z")];
    let cid = app.client_id.clone();
    add_app(&sim, app);
    let token = |secret: String| {
        let sim = &sim;
        let cid = cid.clone();
        async move {
            let (s, _, b) = post_form(
                sim,
                &token_path(sim),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &cid),
                    ("client_secret", &secret),
                    ("scope", GRAPH_DEFAULT),
                ],
                None,
            )
            .await;
            (s, b)
        }
    };
    let (s, added) = sim_admin(
        &sim,
        reqwest::Method::POST,
        &format!("/_sim/apps/{cid}/secrets"),
        None,
    )
    .await;
    assert_eq!(s, 201, "{added}");
    let second = added["value"].as_str().unwrap().to_string();
    assert_eq!(token(second.clone()).await.0, 200);
    assert_eq!(token("first".into()).await.0, 200);
    let key_id = added["keyId"].as_str().unwrap();
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::DELETE,
        &format!("/_sim/apps/{cid}/secrets/{key_id}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, body) = token(second).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 7000215);

    // A secret that expires tomorrow works today and is AADSTS7000222 the day after.
    let tomorrow = graph_sim::clock::graph_time(sim.state.clock.now() + chrono::Duration::days(1));
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        &format!("/_sim/apps/{cid}/secrets"),
        Some(json!({"value": "short-lived", "endDateTime": tomorrow})),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(token("short-lived".into()).await.0, 200);
    sim.state.clock.advance(chrono::Duration::days(2));
    let (s, body) = token("short-lived".into()).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 7000222);

    let (s, got) = sim_admin(
        &sim,
        reqwest::Method::GET,
        &format!("/_sim/apps/{cid}"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(got["secrets"].as_array().unwrap().len(), 2);
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::DELETE,
        &format!("/_sim/apps/{cid}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, body) = token("first".into()).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "unauthorized_client", 700016);
    let (s, _) = sim_admin(
        &sim,
        reqwest::Method::POST,
        &format!("/_sim/apps/{cid}/certificates"),
        Some(json!({"pem": "not a certificate"})),
    )
    .await;
    assert_eq!(s, 400);
}
