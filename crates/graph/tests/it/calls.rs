//! Typed calls: presence in chunks, photos.

use crate::common::{client, sim, tenant, user_ids};

#[tokio::test]
async fn presences_for_more_ids_than_one_request_takes() {
    let sim = sim(700).await;
    let ids = user_ids(&sim).await;
    assert!(ids.len() > graph::calls::MAX_PRESENCE_IDS);
    let c = client(&sim);
    let presences = c.presences_by_user_id(&ids).await.expect("presences");
    let mut got: Vec<String> = presences.into_iter().map(|p| p.id).collect();
    got.sort();
    assert_eq!(got, ids);
    assert_eq!(c.stats().requests, 2);
}

#[tokio::test]
async fn photo_metadata_and_bytes_or_none() {
    let sim = sim(20).await;
    let t = tenant(&sim).await;
    let users = t["users"].as_array().expect("users");
    let with = users
        .iter()
        .find(|u| u["photo"].is_object() && u["mailbox"] == "user")
        .expect("a user with a photo");
    let without = users
        .iter()
        .find(|u| u["photo"].is_null() && u["mailbox"] == "user")
        .expect("a user without a photo");
    let c = client(&sim);
    let id = with["id"].as_str().expect("id");
    let meta = c.photo_meta(id).await.expect("meta").expect("a photo");
    assert_eq!(meta.media_etag.as_deref(), with["photo"]["etag"].as_str());
    let bytes = c.photo_bytes(id).await.expect("bytes").expect("a photo");
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(with["photo"]["bytes"].as_str().expect("photo bytes"))
        .expect("base64");
    assert_eq!(bytes.as_ref(), expected.as_slice());
    let none = without["id"].as_str().expect("id");
    assert_eq!(c.photo_bytes(none).await.expect("no photo"), None);
}
