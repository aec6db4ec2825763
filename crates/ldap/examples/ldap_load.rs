//! The LDAP load client of `bench/directory`: the same client, query set and connection count
//! for every server it is pointed at, so that their figures compare.
//!
//! `ldap_load URL BASE QUERIES CONNECTIONS SECONDS`
//!
//! QUERIES holds one `filter<TAB>expected hits` a line. CONNECTIONS connections (anonymous)
//! each search BASE (subtree, attributes `cn telephoneNumber mobile`, no size limit) with the
//! queries in turn, each starting at its own offset, for SECONDS. Prints one line:
//! `searches=N per_s=X p50_us=.. p95_us=.. p99_us=.. hits=H mismatches=M errors=E` and exits 1
//! when any search failed or returned a hit count other than the expected one.

use ldap3::{LdapConnAsync, Scope};
use std::time::{Duration, Instant};

/// One connection's tally.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    hits: u64,
    mismatches: u64,
    errors: u64,
    first_mismatch: Option<String>,
}

async fn connection(
    url: String,
    base: String,
    queries: std::sync::Arc<Vec<(String, usize)>>,
    offset: usize,
    until: Instant,
) -> Tally {
    let mut t = Tally::default();
    let (conn, mut ldap) = match LdapConnAsync::new(&url).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("connect {url}: {e}");
            t.errors += 1;
            return t;
        }
    };
    ldap3::drive!(conn);
    let mut i = offset;
    while Instant::now() < until {
        let (filter, expected) = &queries[i % queries.len()];
        i += 1;
        let start = Instant::now();
        let res = ldap
            .search(
                &base,
                Scope::Subtree,
                filter,
                vec!["cn", "telephoneNumber", "mobile"],
            )
            .await
            .and_then(|r| r.success());
        let took = start.elapsed();
        match res {
            Ok((entries, _)) => {
                t.latencies_us
                    .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                t.hits += entries.len() as u64;
                if entries.len() != *expected {
                    t.mismatches += 1;
                    t.first_mismatch.get_or_insert_with(|| {
                        format!("{filter}: {} hits, expected {expected}", entries.len())
                    });
                }
            }
            Err(e) => {
                t.errors += 1;
                if t.errors == 1 {
                    eprintln!("search {filter}: {e}");
                }
            }
        }
    }
    let _ = ldap.unbind().await;
    t
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: ldap_load URL BASE QUERIES CONNECTIONS SECONDS");
        std::process::exit(2);
    }
    let text = match std::fs::read_to_string(&args[3]) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("reading {}: {e}", args[3]);
            std::process::exit(2);
        }
    };
    let mut queries = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let Some((f, c)) = line.split_once('\t') else {
            eprintln!("{}:{}: expected `filter<TAB>hits`", args[3], n + 1);
            std::process::exit(2);
        };
        let Ok(c) = c.trim().parse::<usize>() else {
            eprintln!("{}:{}: {c:?} is not a hit count", args[3], n + 1);
            std::process::exit(2);
        };
        queries.push((f.to_owned(), c));
    }
    let (Ok(conns), Ok(secs)) = (args[4].parse::<usize>(), args[5].parse::<u64>()) else {
        eprintln!("CONNECTIONS and SECONDS are whole numbers");
        std::process::exit(2);
    };
    if queries.is_empty() || conns == 0 {
        eprintln!("no queries or no connections");
        std::process::exit(2);
    }
    let queries = std::sync::Arc::new(queries);
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let step = queries.len() / conns + 1;
    let tasks: Vec<_> = (0..conns)
        .map(|c| {
            tokio::spawn(connection(
                args[1].clone(),
                args[2].clone(),
                queries.clone(),
                c * step,
                until,
            ))
        })
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        match task.await {
            Ok(t) => {
                all.latencies_us.extend(t.latencies_us);
                all.hits += t.hits;
                all.mismatches += t.mismatches;
                all.errors += t.errors;
                if all.first_mismatch.is_none() {
                    all.first_mismatch = t.first_mismatch;
                }
            }
            Err(e) => {
                eprintln!("a connection task failed: {e}");
                all.errors += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let n = all.latencies_us.len();
    println!(
        "searches={n} per_s={:.0} p50_us={} p95_us={} p99_us={} hits={} mismatches={} errors={}",
        n as f64 / elapsed,
        percentile(&all.latencies_us, 0.50),
        percentile(&all.latencies_us, 0.95),
        percentile(&all.latencies_us, 0.99),
        all.hits,
        all.mismatches,
        all.errors,
    );
    if let Some(m) = &all.first_mismatch {
        eprintln!("first mismatch: {m}");
    }
    if all.mismatches > 0 || all.errors > 0 || n == 0 {
        std::process::exit(1);
    }
}
