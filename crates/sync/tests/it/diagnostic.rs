//! `--diagnostic`: the job log holds a summary of every request, never a secret or a token.

use crate::departments::{tenant, users_toml, REST};
use crate::support::Env;
use sync::SyncOptions;

#[tokio::test]
async fn a_diagnostic_job_log_holds_request_summaries_and_no_secret() {
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users_toml(),
        REST,
        false,
    )
    .await;
    let r = env
        .run(SyncOptions {
            diagnostic: true,
            ..SyncOptions::default()
        })
        .await;
    assert!(r.succeeded, "{:?} {:?}", r.error, r.log);

    // As recorded in the store, not only in the report.
    let job = env
        .store
        .get_job(&r.job.expect("recorded"))
        .await
        .expect("store")
        .expect("job");
    let lines: Vec<String> = job.log.iter().map(|l| l.line.clone()).collect();
    let http: Vec<&String> = lines.iter().filter(|l| l.starts_with("http: ")).collect();
    // The token request, then every Graph request the job counted.
    assert_eq!(http.len() as u64, r.requests + 1, "{lines:#?}");
    let token = format!(
        "http: POST {}/{}/oauth2/v2.0/token → 200, ",
        env.sim.http_url(),
        env.sim.credentials.tenant_id
    );
    assert!(http[0].starts_with(&token), "{}", http[0]);
    let graph = env.sim.graph_url();
    let delta = format!(
        "http: GET {graph}/users/delta?$select={} → 200, ",
        sync::select::USER_SELECT
    );
    assert!(http.iter().any(|l| l.starts_with(&delta)), "{http:#?}");
    let members = format!(
        "http: GET {graph}/groups/{}/transitiveMembers?$select=id&$top=999 → 200, ",
        crate::departments::PHONES
    );
    assert!(http.iter().any(|l| l.starts_with(&members)), "{http:#?}");
    for l in &http[1..] {
        assert!(
            l.contains(", request-id "),
            "Graph answers carry a request-id: {l}"
        );
        assert!(l.contains(" ms"), "{l}");
    }
    // Never the secret, never a token (JWTs start "eyJ").
    for l in &lines {
        assert!(!l.contains(&env.sim.credentials.client_secret), "{l}");
        assert!(!l.contains("eyJ"), "{l}");
    }
    // The summaries come before the line that follows them: the log ends with "done".
    assert!(
        lines.last().is_some_and(|l| l.starts_with("done: ")),
        "{lines:#?}"
    );

    // Without --diagnostic: no summaries.
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded);
    assert!(
        !r.log.iter().any(|l| l.starts_with("http: ")),
        "{:?}",
        r.log
    );
}
