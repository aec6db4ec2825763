//! The change-applying part of `bench/directory`: how long the index takes to take in 1,000
//! changed contacts at full size, measured two ways on a store the bench generated.
//!
//! `patch_bench STORE_URL SITE CHANGES`
//!
//! 1. index level: the site read from the store and built into a [`SiteIndex`] (build time and
//!    this process's RSS printed), then CHANGES contacts changed (surname renamed, business
//!    number replaced) and patched in with `upsert_contact`, timed alone;
//! 2. service level: an [`IndexService`] over the store, CHANGES contacts rewritten in the
//!    SQLite store with their change-log rows (as a sync commit writes them), and
//!    [`IndexService::refresh`] timed: reading the changed rows back plus patching.
//!
//! `patch_bench STORE_URL SITE CHANGES load` only loads an [`IndexService`] over the store, as
//! `pbx365 serve` does at start, and prints this fresh process's RSS then (what the index costs
//! while serving) and its peak (VmHWM, the start-up's transient included).
//!
//! Prints `key=value` lines for `bench/directory/run.sh`.

use directory::{DiallingPlan, PhoneKind, PhoneNumber, Region, SiteId};
use pbx365_index::{IndexService, SiteIndex, SiteSettings, SourcePriority};
use std::time::Instant;

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_owned())
        })
        .unwrap_or_default()
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("patch_bench: {what}: {e}");
    std::process::exit(1)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let load_only = args.len() == 5 && args[4] == "load";
    if args.len() != 4 && !load_only {
        eprintln!("usage: patch_bench STORE_URL SITE CHANGES [load]");
        std::process::exit(2);
    }
    let url = &args[1];
    let site = SiteId::new(args[2].as_str()).unwrap_or_else(|e| fail("site", e));
    let changes: usize = args[3].parse().unwrap_or_else(|e| fail("CHANGES", e));
    let region = Region::new("DE").unwrap_or_else(|e| fail("region", e));
    let mut plan = DiallingPlan::for_region(region);
    plan.area_code = Some("30".into());
    let store = store::open(url)
        .await
        .unwrap_or_else(|e| fail("open store", e));

    if load_only {
        let mut settings = SiteSettings::new(site.clone(), plan);
        settings.anonymous = true;
        let t = Instant::now();
        let service = IndexService::load(store.clone(), vec![settings])
            .await
            .unwrap_or_else(|e| fail("load the service", e));
        println!("load_s={:.2}", t.elapsed().as_secs_f64());
        println!("rss_service_loaded={}", status("VmRSS:"));
        println!("hwm_service_loaded={}", status("VmHWM:"));
        // What the RSS is made of: the heap and other anonymous memory, and mapped files
        // (the binary; the store's pages if SQLite maps them).
        println!("rss_anon_service_loaded={}", status("RssAnon:"));
        println!("rss_file_service_loaded={}", status("RssFile:"));
        drop(service);
        return;
    }

    // 1. Index level.
    let t = Instant::now();
    let contacts = store
        .list_site_contacts(&site)
        .await
        .unwrap_or_else(|e| fail("list contacts", e));
    let read = t.elapsed();
    let rss_read = status("VmRSS:");
    let t = Instant::now();
    let mut index = SiteIndex::build(
        site.clone(),
        plan.clone(),
        SourcePriority::default(),
        [],
        contacts.iter().map(|c| (c.id.as_str(), &c.record)),
    );
    println!("read_s={:.2}", read.as_secs_f64());
    println!("build_s={:.2}", t.elapsed().as_secs_f64());
    println!("entries={}", index.len());
    println!("rss_contacts_read={rss_read}");
    println!("rss_index_built={}", status("VmRSS:"));
    let step = (contacts.len() / changes.max(1)).max(1);
    let changed: Vec<(String, directory::ContactRecord)> = contacts
        .iter()
        .step_by(step)
        .take(changes)
        .enumerate()
        .map(|(n, c)| {
            let mut r = c.record.clone();
            let sur = format!("Neumann{n}");
            r.display_name = format!("{} {sur}", r.given_name.as_deref().unwrap_or(""));
            r.surname = Some(sur);
            let raw = format!("+49 30 9{n:07}");
            r.numbers[0] = PhoneNumber::parse(&raw, PhoneKind::Business, Some(region));
            (c.id.clone(), r)
        })
        .collect();
    let t = Instant::now();
    for (id, r) in &changed {
        index.upsert_contact(id, r);
    }
    let patch = t.elapsed();
    println!("index_changes={}", changed.len());
    println!("index_patch_ms={:.1}", patch.as_secs_f64() * 1000.0);
    drop(index);
    drop(contacts);

    // 2. Service level, through the store's change log.
    let mut settings = SiteSettings::new(site.clone(), plan);
    settings.anonymous = true;
    let service = IndexService::load(store.clone(), vec![settings])
        .await
        .unwrap_or_else(|e| fail("load the service", e))
        .with_reload_threshold(changes + 1);
    let pool = sqlx::SqlitePool::connect(url)
        .await
        .unwrap_or_else(|e| fail("open the store file", e));
    let mut tx = pool.begin().await.unwrap_or_else(|e| fail("begin", e));
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO change_counters (site_id, seq) VALUES ($1, 1)
         ON CONFLICT (site_id) DO UPDATE SET seq = change_counters.seq + 1 RETURNING seq",
    )
    .bind(site.as_str())
    .fetch_one(&mut *tx)
    .await
    .unwrap_or_else(|e| fail("change counter", e));
    for (n, (id, _)) in changed.iter().enumerate() {
        let sur = format!("Neumeier{n}");
        sqlx::query(
            "UPDATE contacts SET surname = $1, display_name = given_name || ' ' || $1
             WHERE site_id = $2 AND id = $3",
        )
        .bind(&sur)
        .bind(site.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| fail("update contact", e));
        sqlx::query(
            "UPDATE phone_numbers SET raw = $1, e164 = $2
             WHERE site_id = $3 AND owner_kind = 'contact' AND owner_id = $4 AND position = 0",
        )
        .bind(format!("+49 30 8{n:07}"))
        .bind(format!("+49308{n:07}"))
        .bind(site.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| fail("update number", e));
        sqlx::query(
            "INSERT INTO change_log (site_id, kind, id, seq) VALUES ($1, 'contact', $2, $3)
             ON CONFLICT (site_id, kind, id) DO UPDATE SET seq = excluded.seq",
        )
        .bind(site.as_str())
        .bind(id)
        .bind(seq)
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| fail("change log", e));
    }
    tx.commit().await.unwrap_or_else(|e| fail("commit", e));
    let t = Instant::now();
    let report = service
        .refresh()
        .await
        .unwrap_or_else(|e| fail("refresh", e));
    println!("refresh_changes={}", report.patched);
    println!("refresh_ms={:.1}", t.elapsed().as_secs_f64() * 1000.0);
    if report.patched != changed.len() || report.reloaded != 0 {
        fail(
            "refresh",
            format!(
                "patched {} and reloaded {}: expected {} patched",
                report.patched,
                report.reloaded,
                changed.len()
            ),
        );
    }
}
