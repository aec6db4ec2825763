//! Paging: nextLinks followed to the end.

use crate::common::{client, count, reqlog, sim, user_ids};
use graph::models::User;
use graph::Request;

#[tokio::test]
async fn lists_1500_users_at_top_999_each_once() {
    let sim = sim(1500).await;
    let expected = user_ids(&sim).await;
    assert!(expected.len() > 1500);
    let c = client(&sim);
    let users: Vec<User> = c
        .get_all_pages("/users?$top=999&$select=id,displayName,businessPhones")
        .await
        .expect("users");
    let mut ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        count(&reqlog(&sim).await, "GET /v1.0/users"),
        expected.len().div_ceil(999) as u64
    );
}

#[tokio::test]
async fn page_by_page_resends_consistency_level() {
    let sim = sim(30).await;
    let expected = user_ids(&sim).await;
    let c = client(&sim);
    // $count needs ConsistencyLevel: eventual on every page, nextLinks included.
    let mut pager = c.pages::<User>(
        Request::get("/users?$count=true&$top=7&$orderby=displayName")
            .header("ConsistencyLevel", "eventual"),
    );
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut first_count = None;
    while let Some(page) = pager.next_page().await.expect("page") {
        if pages == 0 {
            first_count = page.count;
        }
        pages += 1;
        ids.extend(page.value.into_iter().map(|u| u.id));
    }
    assert_eq!(first_count, Some(expected.len() as u64));
    assert_eq!(pages, expected.len().div_ceil(7));
    ids.sort();
    assert_eq!(ids, expected);
}
