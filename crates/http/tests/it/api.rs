//! The REST API and its OpenAPI document.

use crate::fake::{LOBBY, PETE};
use crate::support::start;
use pbx365_http::routes;
use serde_json::Value;
use std::collections::HashSet;

async fn json(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    response.json().await.unwrap()
}

async fn lobby(server: &crate::support::Server, path: &str) -> reqwest::Response {
    server
        .client
        .get(server.url(path))
        .basic_auth(LOBBY.0, Some(LOBBY.1))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn search_entries_phonebooks_and_extensions() {
    let server = start().await;
    let hits = json(server.alice("/api/v1/search?q=alice").await, 200).await;
    assert_eq!(hits["hits"][0]["entry"]["id"], "e-alice");
    assert_eq!(hits["hits"][0]["rank"], "substring");
    let limited = json(
        server
            .anon("/sites/big/api/v1/search?q=person&limit=3")
            .await,
        200,
    )
    .await;
    assert_eq!(limited["hits"].as_array().unwrap().len(), 3);
    let error = json(server.alice("/api/v1/search").await, 400).await;
    assert_eq!(error["error"]["code"], "bad_request");
    assert!(error["error"]["message"].as_str().unwrap().contains("q"));

    let pete = json(server.alice("/api/v1/entries/e-pete").await, 200).await;
    assert_eq!(pete["display_name"], PETE);
    let hidden = json(lobby(&server, "/api/v1/entries/e-pete").await, 404).await;
    assert_eq!(hidden["error"]["code"], "not_found");

    let books = json(server.alice("/api/v1/phonebooks").await, 200).await;
    let books = books["phonebooks"].as_array().unwrap();
    let ids: Vec<&str> = books.iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["users", "company", "directory", "personal"]);
    assert_eq!(books[0]["entries"], 2);
    assert_eq!(books[1]["entries"], 3);
    assert_eq!(books[3]["entries"], 1);
    let lobby_books = json(lobby(&server, "/api/v1/phonebooks").await, 200).await;
    assert_eq!(lobby_books["phonebooks"].as_array().unwrap().len(), 3);

    let page = json(
        server
            .anon("/sites/big/api/v1/phonebooks/company?per_page=5&page=2")
            .await,
        200,
    )
    .await;
    let names: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Person 03",
            "Person 04",
            "Person 05",
            "Person 06",
            "Person 07"
        ]
    );
    assert_eq!(page["more"], true);
    let last = json(
        server
            .anon("/sites/big/api/v1/phonebooks/company?per_page=5&page=9")
            .await,
        200,
    )
    .await;
    assert_eq!(last["more"], false);
    assert_eq!(last["entries"].as_array().unwrap().len(), 3);
    json(server.alice("/api/v1/phonebooks/nope").await, 404).await;

    let extensions = json(server.alice("/api/v1/extensions").await, 200).await;
    let list: Vec<(&str, &str)> = extensions["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["extension"].as_str().unwrap(),
                e["display_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(list, [("201", "Alice Example"), ("202", "Bob Builder")]);
}

#[tokio::test]
async fn api_errors_are_json() {
    let server = start().await;
    let response = server.anon("/api/v1/extensions").await;
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    let error = json(response, 401).await;
    assert_eq!(error["error"]["code"], "unauthorized");
    let wrong = server
        .client
        .get(server.url("/api/v1/extensions"))
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .unwrap();
    json(wrong, 401).await;
    let missing = json(server.alice("/api/v1/nothing-here").await, 404).await;
    assert_eq!(missing["error"]["code"], "not_found");
}

fn resolve_refs(doc: &Value, node: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let pointer = target.strip_prefix('#').expect("local $ref");
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
            }
            map.values().for_each(|v| resolve_refs(doc, v));
        }
        Value::Array(items) => items.iter().for_each(|v| resolve_refs(doc, v)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_document_is_valid_and_covers_every_route() {
    let server = start().await;
    let doc = json(server.anon("/api/v1/openapi.json").await, 200).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0."));
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().unwrap();

    let table = routes();
    assert!(table.len() > 30);
    let mut documented = HashSet::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let mut served = HashSet::new();
    for route in &table {
        for method in &route.methods {
            served.insert((method.to_string(), route.path.clone()));
        }
    }
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "documented but not routed: {unserved:?}"
    );

    let mut ids = HashSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: operationId"));
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(!op["responses"].as_object().unwrap().is_empty());
            // Every {param} in the path is declared as a path parameter (directly or by $ref).
            for name in path
                .split('{')
                .skip(1)
                .map(|s| s.split('}').next().unwrap())
            {
                let declared = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true)
                });
                assert!(
                    declared,
                    "{method} {path}: path parameter {name} not declared"
                );
            }
        }
    }
    resolve_refs(&doc, &doc);
}

#[tokio::test]
async fn every_routed_path_answers() {
    let server = start().await;
    for route in routes() {
        let path = route
            .path
            .replace("{site}", "main")
            .replace("{id}", "e-alice")
            .replace("{book}", "users");
        let path = if path.contains("search") || path.ends_with("lookup") {
            format!("{path}?q=alice&number=201")
        } else {
            path
        };
        for method in &route.methods {
            let request = match *method {
                "get" => server.client.get(server.url(&path)),
                "post" => server.client.post(server.url(&path)),
                other => panic!("unexpected method {other}"),
            };
            let response = request
                .basic_auth(crate::fake::ALICE.0, Some(crate::fake::ALICE.1))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn entry_photos() {
    let server = start().await;
    let photo = crate::fake::alice_photo();
    // Alice's photo: its bytes, its content type, Graph's mediaEtag as ETag.
    let resp = lobby(&server, "/api/v1/entries/e-alice/photo").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["etag"], "\"BA09D118\"");
    assert_eq!(resp.headers()["cache-control"], "private, no-cache");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), photo.bytes.as_slice());
    // The same path under /sites/{site}.
    let resp = lobby(&server, "/sites/main/api/v1/entries/e-alice/photo").await;
    assert_eq!(resp.status(), 200);
    // If-None-Match with that tag: 304 without a body, weak or strong.
    for tag in ["\"BA09D118\"", "W/\"BA09D118\"", "\"x\", \"BA09D118\""] {
        let resp = server
            .client
            .get(server.url("/api/v1/entries/e-alice/photo"))
            .basic_auth(LOBBY.0, Some(LOBBY.1))
            .header("if-none-match", tag)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 304, "{tag}");
        assert!(resp.bytes().await.unwrap().is_empty());
    }
    let resp = server
        .client
        .get(server.url("/api/v1/entries/e-alice/photo"))
        .basic_auth(LOBBY.0, Some(LOBBY.1))
        .header("if-none-match", "\"older\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Visibility follows the entry: Pete (Alice's personal contact) is hers alone.
    let resp = server.alice("/api/v1/entries/e-pete/photo").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["etag"], "W/\"pete-1\"");
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let hidden = json(lobby(&server, "/api/v1/entries/e-pete/photo").await, 404).await;
    assert_eq!(hidden["error"]["code"], "not_found");
    // An entry without a photo, an unknown entry: 404; no credentials: refused.
    let none = json(lobby(&server, "/api/v1/entries/e-bob/photo").await, 404).await;
    assert!(none["error"]["message"].as_str().unwrap().contains("photo"));
    json(lobby(&server, "/api/v1/entries/nobody/photo").await, 404).await;
    assert_eq!(
        server.anon("/api/v1/entries/e-alice/photo").await.status(),
        401
    );
    // The OpenAPI document describes it, under /sites/{site} too.
    let doc = json(server.anon("/api/v1/openapi.json").await, 200).await;
    assert!(doc["paths"]["/api/v1/entries/{id}/photo"]["get"].is_object());
    assert!(doc["paths"]["/sites/{site}/api/v1/entries/{id}/photo"]["get"].is_object());
    server.stop().await;
}
