//! Tokens: secret and certificate credentials against the emulator's HTTPS Entra, caching
//! and renewal, Entra's errors, device-code sign-in.

use crate::common::{admin, client, config, reqlog, secret, sim, tenant};
use graph::auth::{AssertionAlg, DeviceCodePoll};
use graph::{AuthError, Credential, GraphClient, GraphError, Secret};
use reqwest::Method;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{json, Value};

/// Token requests the emulator saw.
fn token_requests(log: &Value) -> u64 {
    log["byEndpoint"]
        .as_object()
        .expect("byEndpoint")
        .iter()
        .filter(|(k, _)| k.starts_with("POST ") && k.ends_with("/oauth2/v2.0/token"))
        .map(|(_, v)| v.as_u64().unwrap_or(0))
        .sum()
}

fn auth_error(e: GraphError) -> AuthError {
    match e {
        GraphError::Auth(a) => a,
        other => panic!("expected an Entra error, got {other:?}"),
    }
}

#[tokio::test]
async fn secret_token_is_cached_and_renewed_before_expiry() {
    let sim = sim(5).await;
    let c = client(&sim);
    let info = c.token_info().await.expect("token");
    assert!(info.has_role("User.Read.All"), "{:?}", info.roles);
    assert_eq!(
        info.tenant_id.as_deref(),
        Some(sim.credentials.tenant_id.as_str())
    );
    c.get_json::<Value>("/users?$top=1").await.expect("users");
    c.token_info().await.expect("cached token");
    assert_eq!(token_requests(&reqlog(&sim).await), 1);
    assert_eq!(c.stats().token_requests, 1);

    // 56 of 60 minutes gone: inside the 5-minute renewal window.
    sim.state.clock.advance(chrono::Duration::minutes(56));
    let renewed = c.token_info().await.expect("renewed token");
    assert!(renewed.expires_at > info.expires_at);
    c.get_json::<Value>("/users?$top=1").await.expect("users");
    assert_eq!(token_requests(&reqlog(&sim).await), 2);
    assert_eq!(c.stats().token_requests, 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let sim = sim(5).await;
    let c = client(&sim);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let c = c.clone();
        set.spawn(async move { c.get_json::<Value>("/users?$top=1").await });
    }
    while let Some(r) = set.join_next().await {
        r.expect("task").expect("users");
    }
    assert_eq!(token_requests(&reqlog(&sim).await), 1);
}

/// An RSA key (PKCS#8 PEM) and a self-signed certificate (PEM) for it.
fn rsa_cert() -> (String, String) {
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key");
    let der = key.to_pkcs8_der().expect("PKCS#8");
    let kp = rcgen::KeyPair::try_from(der.as_bytes()).expect("rcgen key pair");
    let cert = rcgen::CertificateParams::new(vec!["pbx365-test".to_string()])
        .expect("params")
        .self_signed(&kp)
        .expect("self-signed certificate");
    let key_pem = key.to_pkcs8_pem(LineEnding::LF).expect("PEM").to_string();
    (cert.pem(), key_pem)
}

#[tokio::test]
async fn certificate_credential_rs256_and_ps256() {
    let sim = sim(5).await;
    let (cert_pem, key_pem) = rsa_cert();
    let cid = sim.credentials.client_id.clone();
    let (s, body) = admin(
        &sim,
        Method::POST,
        &format!("/_sim/apps/{cid}/certificates"),
        Some(json!({ "pem": cert_pem })),
    )
    .await;
    assert!(s == 200 || s == 201 || s == 204, "{s} {body}");
    for alg in [AssertionAlg::Rs256, AssertionAlg::Ps256] {
        let cred = Credential::Certificate {
            cert_pem: cert_pem.clone(),
            key_pem: Secret::new(key_pem.clone()),
            alg,
        };
        let c = GraphClient::new(config(&sim, cred)).expect("client");
        let info = c.token_info().await.expect("token by certificate");
        assert!(info.has_role("User.Read.All"), "{alg:?}: {:?}", info.roles);
        let users: Value = c.get_json("/users?$top=2").await.expect("users");
        assert_eq!(users["value"].as_array().map(Vec::len), Some(2));
    }

    // A certificate the app does not know: AADSTS700027 with advice.
    let (other_cert, other_key) = rsa_cert();
    let cred = Credential::Certificate {
        cert_pem: other_cert,
        key_pem: Secret::new(other_key),
        alg: AssertionAlg::Rs256,
    };
    let c = GraphClient::new(config(&sim, cred)).expect("client");
    let e = auth_error(c.token_info().await.expect_err("unknown certificate"));
    assert!(e.has_code(700027), "{e}");
    assert!(e.to_string().contains("upload this certificate"), "{e}");

    // A key that is not PEM fails when the client is built, without echoing the key.
    let bad = Credential::Certificate {
        cert_pem: cert_pem.clone(),
        key_pem: Secret::new("not a key"),
        alg: AssertionAlg::Rs256,
    };
    let e = GraphClient::new(config(&sim, bad)).expect_err("bad key");
    assert!(!e.to_string().contains("not a key"), "{e}");
}

#[tokio::test]
async fn entra_errors_are_typed_and_actionable() {
    let sim = sim(5).await;

    // A secret id pasted instead of its value.
    let wrong = Credential::Secret(Secret::new("7d1c1c4e-0000-4000-8000-000000000000"));
    let c = GraphClient::new(config(&sim, wrong)).expect("client");
    let e = auth_error(c.token_info().await.expect_err("wrong secret"));
    assert_eq!(e.error, "invalid_client");
    assert!(e.has_code(7000215), "{e:?}");
    assert!(e.trace_id.is_some(), "{e:?}");
    assert!(e.to_string().contains("not its Secret ID"), "{e}");

    // The app whose secret expired.
    let t = tenant(&sim).await;
    let app = t["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["displayName"] == "pbx365 (expired secret)")
        .expect("expired-secret app")
        .clone();
    let mut cfg = config(
        &sim,
        Credential::Secret(Secret::new(
            app["secrets"][0]["value"].as_str().expect("secret value"),
        )),
    );
    cfg.client_id = app["clientId"].as_str().expect("client id").to_string();
    let e = auth_error(
        GraphClient::new(cfg)
            .expect("client")
            .token_info()
            .await
            .expect_err("expired secret"),
    );
    assert!(e.has_code(7000222), "{e:?}");
    assert!(e.to_string().contains("expired"), "{e}");

    // An unknown tenant and an unknown app.
    let mut cfg = config(&sim, secret(&sim));
    cfg.tenant_id = "0b0b0b0b-0000-4000-8000-000000000000".into();
    let e = auth_error(
        GraphClient::new(cfg)
            .expect("client")
            .token_info()
            .await
            .expect_err("unknown tenant"),
    );
    assert!(e.has_code(90002), "{e:?}");
    assert!(e.to_string().contains("tenant was not found"), "{e}");
    let mut cfg = config(&sim, secret(&sim));
    cfg.client_id = "0c0c0c0c-0000-4000-8000-000000000000".into();
    let e = auth_error(
        GraphClient::new(cfg)
            .expect("client")
            .token_info()
            .await
            .expect_err("unknown app"),
    );
    assert!(e.has_code(700016), "{e:?}");

    // The app without admin consent gets a token without roles: every permission is missing.
    let app = t["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["adminConsented"] == false)
        .expect("unconsented app")
        .clone();
    let mut cfg = config(
        &sim,
        Credential::Secret(Secret::new(
            app["secrets"][0]["value"].as_str().expect("secret value"),
        )),
    );
    cfg.client_id = app["clientId"].as_str().expect("client id").to_string();
    let info = GraphClient::new(cfg)
        .expect("client")
        .token_info()
        .await
        .expect("token without roles");
    assert_eq!(info.roles, Vec::<String>::new());
    assert_eq!(
        info.missing_roles(&["User.Read.All", "Contacts.Read"]),
        vec!["User.Read.All", "Contacts.Read"]
    );

    // The secret never shows in Debug output of the configuration.
    let shown = format!("{:?}", config(&sim, secret(&sim)));
    assert!(!shown.contains(&sim.credentials.client_secret), "{shown}");
    assert!(shown.contains("[redacted]"));
}

#[tokio::test]
async fn device_code_sign_in_and_refresh_rotation() {
    let sim = sim(5).await;
    let t = tenant(&sim).await;
    let public = t["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["allowPublicClient"] == true)
        .expect("public-client app")["clientId"]
        .as_str()
        .expect("client id")
        .to_string();
    let user = t["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["accountEnabled"] == true && u["mailbox"] == "user")
        .expect("an enabled user")["id"]
        .as_str()
        .expect("user id")
        .to_string();
    let c = client(&sim);
    let d = c.delegated(&public);
    let scopes = [
        "https://graph.microsoft.com/Presence.Read.All",
        "offline_access",
    ];
    let mut prompt = d.start_device_code(&scopes).await.expect("device code");
    assert!(!prompt.user_code.is_empty());
    assert!(matches!(
        d.poll_device_code_once(&prompt).await.expect("poll"),
        DeviceCodePoll::Pending | DeviceCodePoll::SlowDown
    ));
    let (s, body) = admin(
        &sim,
        Method::POST,
        "/_sim/devicecode/approve",
        Some(json!({ "userCode": prompt.user_code, "userId": user })),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {body}");
    prompt.interval = 0;
    let tokens = d.poll_device_code(&prompt).await.expect("signed in");
    assert!(
        tokens
            .access
            .info
            .scopes
            .iter()
            .any(|s| s == "Presence.Read.All"),
        "{:?}",
        tokens.access.info
    );
    let refresh = tokens.refresh_token.expect("refresh token");
    let again = d.refresh(&refresh, &scopes).await.expect("refreshed");
    let rotated = again.refresh_token.expect("rotated refresh token");
    assert_ne!(rotated.expose(), refresh.expose());

    // A declined sign-in ends the poll with Entra's error.
    let prompt = d.start_device_code(&scopes).await.expect("device code");
    let (s, _) = admin(
        &sim,
        Method::POST,
        "/_sim/devicecode/decline",
        Some(json!({ "userCode": prompt.user_code })),
    )
    .await;
    assert!(s == 200 || s == 204);
    let e = d
        .poll_device_code_once(&prompt)
        .await
        .expect_err("declined");
    assert_eq!(e.error, "authorization_declined", "{e:?}");
}
