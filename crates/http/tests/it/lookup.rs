//! Caller-ID lookup: the plain-text body a PBX shows as the name, and the JSON variant.

use crate::fake::{LOBBY, PETE};
use crate::support::{ok_body, start};
use std::sync::atomic::Ordering;

async fn name(server: &crate::support::Server, query: &str) -> String {
    ok_body(
        server.alice(&format!("/lookup{query}")).await,
        "text/plain; charset=utf-8",
    )
    .await
}

#[tokio::test]
async fn text_lookup_answers_the_bare_name() {
    let server = start().await;
    assert_eq!(
        name(&server, "?number=%2B4930123456201").await,
        "Alice Example"
    );
    assert_eq!(name(&server, "?number=201").await, "Alice Example");
    assert_eq!(name(&server, "?number=0089777000").await, "Jürgen Müller");
    // Superfecta's parameter name works too.
    assert_eq!(
        name(&server, "?thenumber=0040555000").await,
        "Ben & Jerry's <Ice> \"Cream\""
    );
    // A number in a company's DID range but no one's.
    assert_eq!(
        name(&server, "?number=%2B493099912345").await,
        "Example GmbH"
    );
    // A SIP URI as some PBXs pass it.
    assert_eq!(
        name(&server, "?number=sip%3A201%40pbx.example").await,
        "Alice Example"
    );
    // Control characters never reach the PBX.
    assert_eq!(name(&server, "?number=0040555111").await, "CtrlCharName");
}

#[tokio::test]
async fn text_lookup_is_empty_for_no_match_withheld_and_junk() {
    let server = start().await;
    for query in [
        "?number=%2B4911111111111",
        "?number=anonymous",
        "?number=Anonymous",
        "?number=",
        "?number=Restricted",
        "?number=sip%3Aanonymous%40anonymous.invalid",
        "",
        "?number=abc",
        "?number=12ab34",
        "?number=%3Cscript%3E",
    ] {
        assert_eq!(name(&server, query).await, "", "{query}");
    }
}

#[tokio::test]
async fn text_lookup_respects_personal_visibility_and_failures() {
    let server = start().await;
    assert_eq!(name(&server, "?number=001609999999").await, PETE);
    let lobby = server
        .client
        .get(server.url("/lookup?number=001609999999"))
        .basic_auth(LOBBY.0, Some(LOBBY.1))
        .send()
        .await
        .unwrap();
    assert_eq!(ok_body(lobby, "text/plain").await, "");

    // Errors keep the body empty so nothing shows up as a name.
    let unauthorized = server.anon("/lookup?number=201").await;
    assert_eq!(unauthorized.status(), 401);
    assert!(unauthorized.headers().contains_key("www-authenticate"));
    assert_eq!(unauthorized.text().await.unwrap(), "");
    server.fake.broken.store(true, Ordering::SeqCst);
    let down = server.alice("/lookup?number=201").await;
    assert_eq!(down.status(), 503);
    assert_eq!(down.text().await.unwrap(), "");
}

#[tokio::test]
async fn json_lookup_reports_matches_and_input_errors() {
    let server = start().await;
    let response = server.alice("/api/v1/lookup?number=201").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let found: serde_json::Value = response.json().await.unwrap();
    assert_eq!(found["status"], "found");
    assert_eq!(found["name"], "Alice Example");
    assert_eq!(found["entries"][0]["id"], "e-alice");
    assert_eq!(found["entries"][0]["numbers"][0]["dial"], "201");

    let company: serde_json::Value = server
        .alice("/api/v1/lookup?number=%2B493099912345")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(company["status"], "company");
    assert_eq!(company["name"], "Example GmbH");

    let missing: serde_json::Value = server
        .alice("/api/v1/lookup?number=%2B4911111111111")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(missing["status"], "not_found");
    assert_eq!(missing["number"], "+4911111111111");
    assert!(missing["name"].is_null());

    let withheld: serde_json::Value = server
        .alice("/api/v1/lookup?number=anonymous")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(withheld["status"], "withheld");

    for junk in ["abc", "12ab34", "%2B%2B"] {
        let response = server.alice(&format!("/api/v1/lookup?number={junk}")).await;
        assert_eq!(response.status(), 400, "{junk}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "bad_request");
        assert_eq!(error["error"]["status"], 400);
        assert!(error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a phone number"));
    }
}
