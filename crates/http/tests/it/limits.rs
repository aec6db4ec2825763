//! Authentication, allow-lists and request limits, against a real server.

use crate::fake::{ALICE, OPEN};
use crate::support::{config, start, start_with};
use pbx365_http::{serve, Cidr, HttpConfig, RateLimit, ServeError};
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test]
async fn missing_or_wrong_credentials_get_a_basic_challenge() {
    let server = start().await;
    for response in [
        server.anon("/yealink/directory.xml").await,
        server
            .client
            .get(server.url("/yealink/directory.xml"))
            .basic_auth(ALICE.0, Some("wrong"))
            .send()
            .await
            .unwrap(),
        server
            .anon("/yealink/directory.xml?token=alice%3Awrong")
            .await,
        server.anon("/yealink/directory.xml?token=no-colon").await,
        server
            .client
            .get(server.url("/yealink/directory.xml"))
            .header("authorization", "Bearer abc")
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), 401);
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with("Basic realm=\"pbx365\""),
            "{challenge}"
        );
        let text = response.text().await.unwrap();
        assert!(
            text.contains("?token=username:secret"),
            "says how to authenticate: {text}"
        );
    }
    // The token in the URL works like basic auth.
    let ok = server
        .anon("/yealink/directory.xml?token=alice%3Aalice-secret")
        .await;
    assert_eq!(ok.status(), 200);
    // Unknown sites are 404 whatever the credentials.
    assert_eq!(
        server
            .alice("/sites/elsewhere/yealink/directory.xml")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn allow_list_rejects_other_addresses() {
    let server = start_with(HttpConfig {
        allow: vec!["10.0.0.0/8".parse::<Cidr>().unwrap()],
        ..config()
    })
    .await;
    let response = server.alice("/yealink/directory.xml").await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("allow-list"));
    let api = server.alice("/api/v1/extensions").await;
    assert_eq!(api.status(), 403);
    let error: serde_json::Value = api.json().await.unwrap();
    assert_eq!(error["error"]["code"], "forbidden");

    let server = start_with(HttpConfig {
        allow: vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.0/8".parse().unwrap(),
        ],
        ..config()
    })
    .await;
    assert_eq!(server.alice("/yealink/directory.xml").await.status(), 200);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let server = start_with(HttpConfig {
        body_limit: 64,
        ..config()
    })
    .await;
    let post = |body: String| {
        server
            .client
            .post(server.url("/snom/remote.xml"))
            .basic_auth(ALICE.0, Some(ALICE.1))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(post("q=alice".into()).await.unwrap().status(), 200);
    assert_eq!(
        post(format!("q={}", "a".repeat(1000)))
            .await
            .unwrap()
            .status(),
        413
    );
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let server = start_with(HttpConfig {
        rate_limit: Some(RateLimit {
            per_second: 1,
            burst: 3,
        }),
        ..config()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(server.alice("/healthz").await.status(), 200);
    }
    let limited = server.alice("/lookup?number=201").await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(
        limited.text().await.unwrap(),
        "",
        "lookup errors keep the body empty"
    );
    // The bucket refills.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(server.alice("/healthz").await.status(), 200);
}

#[tokio::test]
async fn concurrency_limit_sheds_excess_requests() {
    let server = start_with(HttpConfig {
        concurrency_limit: 1,
        ..config()
    })
    .await;
    let url = server.url(&format!("/sites/{OPEN}/api/v1/search?q=block"));
    let client = server.client.clone();
    let blocked = tokio::spawn(async move { client.get(url).send().await.unwrap().status() });
    let mut waited = 0;
    while server.fake.waiting.load(Ordering::SeqCst) == 0 {
        assert!(
            waited < 500,
            "the first request never reached the directory"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    let shed = server
        .anon(&format!("/sites/{OPEN}/yealink/directory.xml"))
        .await;
    assert_eq!(shed.status(), 503);
    assert!(shed.headers().contains_key("retry-after"));
    server.fake.gate.add_permits(1);
    assert_eq!(blocked.await.unwrap(), 200);
    assert_eq!(
        server
            .anon(&format!("/sites/{OPEN}/yealink/directory.xml"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn healthz_follows_the_directory() {
    let server = start().await;
    let ok = server.anon("/healthz").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "ok\n");
    server.fake.broken.store(true, Ordering::SeqCst);
    assert_eq!(server.anon("/healthz").await.status(), 503);
    server.stop().await;
}

#[tokio::test]
async fn serve_reports_bad_config_and_busy_ports() {
    let server = start().await;
    let taken = HttpConfig {
        listen: server.addr,
        ..config()
    };
    let err = serve(taken, crate::fake::Fake::new(), std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::Bind { .. }));
    assert!(err.to_string().contains(&server.addr.to_string()));

    let zero = HttpConfig {
        body_limit: 0,
        ..config()
    };
    let err = serve(zero, crate::fake::Fake::new(), std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("body_limit"), "{err}");
}

#[tokio::test]
async fn slow_requests_time_out() {
    let server = start_with(HttpConfig {
        request_timeout: Duration::from_millis(200),
        ..config()
    })
    .await;
    let response = server
        .anon(&format!("/sites/{OPEN}/api/v1/search?q=block"))
        .await;
    assert_eq!(response.status(), 503);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "timeout");
    // Other requests are unaffected.
    let ok = server
        .anon(&format!("/sites/{OPEN}/api/v1/search?q=olga"))
        .await;
    assert_eq!(ok.status(), 200);
}
