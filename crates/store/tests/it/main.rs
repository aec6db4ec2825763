//! The store's one test suite, run against both backends: a SQLite file in a temporary
//! directory and PostgreSQL at 127.0.0.1:5432 (a fresh schema per test).

mod cross;
mod data;
mod suite;
mod support;

/// Runs every listed suite function once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::support::with_sqlite(crate::suite::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::support::with_postgres(crate::suite::$name).await;
                }
            )*
        }
    };
}

on_both_backends!(
    migrations_are_idempotent_on_reopen,
    sites_round_trip,
    unsupported_urls_are_refused,
    allocation_is_stable_across_renames_and_resyncs,
    allocation_avoids_numbers_taken_outside,
    freed_numbers_wait_out_their_quarantine,
    allocation_reports_an_exhausted_range,
    concurrent_allocation_never_gives_a_number_twice,
    extensions_round_trip,
    apply_scope_is_atomic,
    apply_scope_writes_contacts_and_token,
    pending_deletions_wait_for_apply,
    pending_deletions_can_be_discarded,
    delta_tokens_per_scope_and_invalidation_by_prefix,
    job_history_with_log,
    lookup_by_e164,
    sites_are_isolated,
    numbers_are_renormalised_from_their_raw_text,
    site_debug_output_hides_settings,
    concurrent_opens_migrate_once,
    batch_allocation_follows_the_same_rules,
    migrations_upgrade_an_old_schema_in_order,
    site_leases_hand_work_to_one_node,
    a_contact_with_many_numbers_round_trips,
    change_log_follows_every_write,
    contacts_by_store_id,
    credentials_issue_verify_revoke,
    avatars_follow_their_extension,
    contact_deletions_apply_apart_and_can_be_cancelled,
    delta_tokens_are_listed_by_prefix,
    a_large_scope_commit_writes_each_contact_once,
    presence_readers_keep_sealed_tokens,
);
