// The store's SQL, written once. This file is `include!`d by `sqlite.rs` and `postgres.rs`, which
// provide `DB`, `BACKEND`, `MIGRATIONS`, `begin_write` and `lock_migrations`.

use crate::api::{Result, Store};
use crate::model::{
    AllocationRule, AppliedDeletions, Change, ChangeKind, CredentialInfo, CredentialOwner,
    CredentialUsername, Deletion, IssuedCredential, StoredContact, Avatar, Job, JobId, JobKind, JobLogLine, JobOutcome,
    JobStatus, JobTrigger, JobWithLog, NumberHit, NumberOwner, PendingDeletion, PresenceReader, RenormaliseReport,
    ScopeCommit, ScopeKey, ScopeUpsert, Site,
};
use chrono::{DateTime, Timelike, Utc};
use directory::{
    ContactRecord, ContactSource, Extension, ExtensionNumber, PhoneKind, PhoneNumber,
    PhonebookKind, Region, SiteId, E164,
};
use sqlx::Row;
use std::collections::HashMap;

type Conn = <DB as sqlx::Database>::Connection;
type DbRow = <DB as sqlx::Database>::Row;

/// From this many rows on, a write is "bulk" and the backend may refresh its statistics.
const BULK_ROWS: usize = 1000;

/// Runs the backend's upkeep after a bulk write that has committed; a failure is only logged.
async fn bulk_upkeep(pool: &Pool<DB>, rows: usize, tables: &[&str]) {
    if rows >= BULK_ROWS && !tables.is_empty() {
        if let Err(e) = after_bulk_write(pool, tables).await {
            tracing::warn!(backend = BACKEND, error = %e, "refreshing statistics after a bulk write failed");
        }
    }
}

/// How often a write that lost a race with another writer is tried again.
const MAX_ATTEMPTS: u32 = 20;

/// The store on this backend.
pub struct SqlStore {
    pool: Pool<DB>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &BACKEND)
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Wraps a pool after bringing its schema up to date.
    async fn migrated(pool: Pool<DB>) -> Result<Self> {
        migrate(&pool).await?;
        Ok(Self { pool })
    }

    /// Applies the job's pending deletions (only its contact ones when `contacts_only`).
    async fn apply_pending_in(
        &self,
        site: &SiteId,
        job: &JobId,
        contacts_only: bool,
    ) -> Result<AppliedDeletions> {
        let mut tx = begin_write(&self.pool).await?;
        let rows = sqlx::query(
            "SELECT scope, target, source_id FROM pending_deletions
             WHERE site_id = $1 AND job_id = $2 AND ($3 = FALSE OR target = 'contact')",
        )
        .bind(site.as_str())
        .bind(job.to_string())
        .bind(contacts_only)
        .fetch_all(&mut *tx)
        .await?;
        let pending = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("scope")?,
                    r.try_get::<String, _>("target")?,
                    r.try_get::<String, _>("source_id")?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let at = now();
        let mut applied = AppliedDeletions::default();
        for (scope, target, source_id) in pending {
            if target == "extension" {
                if release_in(&mut tx, site, &source_id, at).await?.is_some() {
                    applied.extensions += 1;
                }
                continue;
            }
            let id: Option<String> = sqlx::query_scalar(
                "SELECT id FROM contacts WHERE site_id = $1 AND scope = $2 AND source_id = $3",
            )
            .bind(site.as_str())
            .bind(&scope)
            .bind(&source_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else { continue };
            write_numbers(&mut tx, site, "contact", &id, &[]).await?;
            log_changes(&mut tx, site, &[(ChangeKind::Contact, id.as_str())]).await?;
            sqlx::query("DELETE FROM contacts WHERE site_id = $1 AND id = $2")
                .bind(site.as_str())
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            applied.contacts += 1;
        }
        sqlx::query(
            "DELETE FROM pending_deletions
             WHERE site_id = $1 AND job_id = $2 AND ($3 = FALSE OR target = 'contact')",
        )
            .bind(site.as_str())
            .bind(job.to_string())
            .bind(contacts_only)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(applied)
    }
}

/// Applies the migrations not yet recorded in `schema_migrations`, all in one transaction.
async fn migrate(pool: &Pool<DB>) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    lock_migrations(&mut tx).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
        version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *tx)
            .await?;
    let known = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(&found) = applied.last() {
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
    }
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let failed = |source| StoreError::Migration {
            version: m.version,
            name: m.name,
            source,
        };
        // A bare string runs as a script: several statements, no parameters.
        sqlx::Executor::execute(&mut *tx, m.sql)
            .await
            .map_err(failed)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now().to_rfc3339())
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        tracing::info!(
            backend = BACKEND,
            version = m.version,
            name = m.name,
            "applied migration"
        );
    }
    tx.commit().await?;
    Ok(())
}

/// Now, to the microsecond (what both backends keep), so values read back equal.
fn now() -> DateTime<Utc> {
    micros(Utc::now())
}

/// A time cut to the microsecond.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
}

/// True for errors that mean "another writer got there first": try again.
fn is_retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(d)) => {
            d.is_unique_violation()
                || matches!(
                    d.code().as_deref(),
                    Some("40001" | "40P01" | "5" | "6" | "517")
                )
        }
        _ => false,
    }
}

/// A short, growing pause before another attempt.
async fn backoff(attempt: u32) {
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 8);
    tokio::time::sleep(std::time::Duration::from_millis(
        u64::from(attempt.min(10)) * 5 + jitter,
    ))
    .await;
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn site_of(s: String) -> Result<SiteId> {
    SiteId::new(s).map_err(corrupt)
}

fn e164_of(s: Option<String>) -> Result<Option<E164>> {
    s.map(E164::new).transpose().map_err(corrupt)
}

fn ext_number_of(s: String) -> Result<ExtensionNumber> {
    ExtensionNumber::new(s).map_err(corrupt)
}

fn job_id_of(s: &str) -> Result<JobId> {
    s.parse().map_err(|e| corrupt(format!("job id {s:?}: {e}")))
}

fn scope_of(s: String) -> Result<ScopeKey> {
    ScopeKey::new(s).ok_or_else(|| corrupt("empty scope"))
}

fn check_site(operation: &SiteId, record: &SiteId) -> Result<()> {
    if operation == record {
        Ok(())
    } else {
        Err(StoreError::SiteMismatch {
            operation: operation.to_string(),
            record: record.to_string(),
        })
    }
}

fn phonebook_columns(p: &PhonebookKind) -> (&'static str, Option<&str>) {
    match p {
        PhonebookKind::Personal { owner_user_id } => ("personal", Some(owner_user_id.as_str())),
        PhonebookKind::Company => ("company", None),
        PhonebookKind::Directory => ("directory", None),
    }
}

fn phonebook_of(kind: &str, owner: Option<String>) -> Result<PhonebookKind> {
    match (kind, owner) {
        ("personal", Some(owner_user_id)) => Ok(PhonebookKind::Personal { owner_user_id }),
        ("company", None) => Ok(PhonebookKind::Company),
        ("directory", None) => Ok(PhonebookKind::Directory),
        (k, _) => Err(corrupt(format!("phonebook {k:?}"))),
    }
}

fn source_columns(s: &ContactSource) -> (&'static str, Option<&str>) {
    match s {
        ContactSource::PersonalOutlook => ("personal_outlook", None),
        ContactSource::SharedMailbox { mailbox } => ("shared_mailbox", Some(mailbox.as_str())),
        ContactSource::OrgContact => ("org_contact", None),
    }
}

fn source_of(kind: &str, mailbox: Option<String>) -> Result<ContactSource> {
    match (kind, mailbox) {
        ("personal_outlook", None) => Ok(ContactSource::PersonalOutlook),
        ("shared_mailbox", Some(mailbox)) => Ok(ContactSource::SharedMailbox { mailbox }),
        ("org_contact", None) => Ok(ContactSource::OrgContact),
        (k, _) => Err(corrupt(format!("contact source {k:?}"))),
    }
}

fn deletion_columns(d: &Deletion) -> (&'static str, &str) {
    match d {
        Deletion::Contact(id) => ("contact", id.as_str()),
        Deletion::Extension(user) => ("extension", user.as_str()),
    }
}

fn number_of(row: &DbRow) -> Result<PhoneNumber> {
    let kind: String = row.try_get("kind")?;
    Ok(PhoneNumber {
        raw: row.try_get("raw")?,
        e164: e164_of(row.try_get("e164")?)?,
        kind: PhoneKind::parse(&kind).ok_or_else(|| corrupt(format!("phone kind {kind:?}")))?,
    })
}

/// Replaces the numbers of one owner.
async fn write_numbers(
    c: &mut Conn,
    site: &SiteId,
    owner_kind: &str,
    owner_id: &str,
    numbers: &[(i64, &PhoneNumber)],
) -> Result<()> {
    sqlx::query(
        "DELETE FROM phone_numbers WHERE site_id = $1 AND owner_kind = $2 AND owner_id = $3",
    )
    .bind(site.as_str())
    .bind(owner_kind)
    .bind(owner_id)
    .execute(&mut *c)
    .await?;
    let rows: Vec<(&str, i64, &PhoneNumber)> =
        numbers.iter().map(|(p, n)| (owner_id, *p, *n)).collect();
    insert_numbers(c, site.as_str(), owner_kind, &rows).await?;
    Ok(())
}

/// Inserts numbers of owners of one kind, [`NUMBERS_PER_STATEMENT`] per statement (well under
/// SQLite's and PostgreSQL's limits on bound parameters).
async fn insert_numbers(
    c: &mut Conn,
    site: &str,
    owner_kind: &str,
    rows: &[(&str, i64, &PhoneNumber)],
) -> Result<()> {
    for part in rows.chunks(NUMBERS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<DB>::new(
            "INSERT INTO phone_numbers (site_id, owner_kind, owner_id, position, kind, raw, e164, invalid) ",
        );
        insert.push_values(part, |mut row, (owner_id, position, n)| {
            row.push_bind(site)
                .push_bind(owner_kind)
                .push_bind(*owner_id)
                .push_bind(*position)
                .push_bind(n.kind.as_str())
                .push_bind(n.raw.as_str())
                .push_bind(n.e164.as_ref().map(E164::as_str))
                .push_bind(n.e164.is_none());
        });
        insert.build().execute(&mut *c).await?;
    }
    Ok(())
}

/// Position of the outbound caller ID among an extension's numbers.
const CALLER_ID_POSITION: i64 = 0;
/// Position of the mobile number among an extension's numbers.
const MOBILE_POSITION: i64 = 1;

async fn write_extension(c: &mut Conn, e: &Extension, at: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO extensions (site_id, user_id, number, display_name, given_name, surname, email,
             department, job_title, outbound_caller_id, enabled, photo_etag, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (site_id, user_id) DO UPDATE SET
             number = excluded.number, display_name = excluded.display_name,
             given_name = excluded.given_name, surname = excluded.surname, email = excluded.email,
             department = excluded.department, job_title = excluded.job_title,
             outbound_caller_id = excluded.outbound_caller_id, enabled = excluded.enabled,
             photo_etag = excluded.photo_etag, updated_at = excluded.updated_at",
    )
    .bind(e.site.as_str())
    .bind(e.user_id.as_str())
    .bind(e.number.as_str())
    .bind(e.display_name.as_str())
    .bind(e.given_name.as_deref())
    .bind(e.surname.as_deref())
    .bind(e.email.as_deref())
    .bind(e.department.as_deref())
    .bind(e.job_title.as_deref())
    .bind(e.outbound_caller_id.as_ref().map(E164::as_str))
    .bind(e.enabled)
    .bind(e.photo_etag.as_deref())
    .bind(at)
    .execute(&mut *c)
    .await?;
    // The caller ID is stored among the numbers too, so that lookups by number find it.
    let caller_id = e.outbound_caller_id.as_ref().map(|n| PhoneNumber {
        raw: n.to_string(),
        e164: Some(n.clone()),
        kind: PhoneKind::Business,
    });
    let mut numbers = Vec::new();
    if let Some(n) = &caller_id {
        numbers.push((CALLER_ID_POSITION, n));
    }
    if let Some(n) = &e.mobile {
        numbers.push((MOBILE_POSITION, n));
    }
    write_numbers(c, &e.site, "extension", &e.user_id, &numbers).await
}

/// Contacts written per statement: 18 bound values each, well under SQLite's and PostgreSQL's
/// limits on bound parameters.
const CONTACTS_PER_STATEMENT: usize = 200;

/// Numbers written per statement (8 bound values each).
const NUMBERS_PER_STATEMENT: usize = 500;

/// Writes contacts of one scope in a few statements per [`CONTACTS_PER_STATEMENT`] contacts
/// (a multi-row upsert, one delete and one multi-row insert of their numbers) instead of three
/// per contact; returns each written contact's store id (kept when the contact existed), in the
/// order given. A contact listed twice (delta can repeat an item) is written once, as its last
/// occurrence.
async fn write_contacts(
    c: &mut Conn,
    scope: &ScopeKey,
    records: &[&ContactRecord],
    at: DateTime<Utc>,
) -> Result<Vec<String>> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        last.insert(r.source_id.as_str(), i);
    }
    let unique: Vec<&ContactRecord> = records
        .iter()
        .enumerate()
        .filter(|(i, r)| last.get(r.source_id.as_str()) == Some(i))
        .map(|(_, r)| *r)
        .collect();
    let mut ids: HashMap<String, String> = HashMap::with_capacity(unique.len());
    for chunk in unique.chunks(CONTACTS_PER_STATEMENT) {
        let rows: Vec<(&ContactRecord, String)> = chunk
            .iter()
            .map(|r| Ok((*r, serde_json::to_string(&r.emails).map_err(corrupt)?)))
            .collect::<Result<_>>()?;
        let mut upsert = sqlx::QueryBuilder::<DB>::new(
            "INSERT INTO contacts (site_id, id, scope, source_id, phonebook, owner_user_id, source,
                 mailbox, folder_id, display_name, given_name, surname, company, department,
                 job_title, emails, change_key, updated_at) ",
        );
        upsert.push_values(&rows, |mut row, (r, emails)| {
            let (phonebook, owner) = phonebook_columns(&r.phonebook);
            let (source, mailbox) = source_columns(&r.source);
            row.push_bind(r.site.as_str())
                .push_bind(new_contact_id())
                .push_bind(scope.as_str())
                .push_bind(r.source_id.as_str())
                .push_bind(phonebook)
                .push_bind(owner)
                .push_bind(source)
                .push_bind(mailbox)
                .push_bind(r.folder_id.as_deref())
                .push_bind(r.display_name.as_str())
                .push_bind(r.given_name.as_deref())
                .push_bind(r.surname.as_deref())
                .push_bind(r.company.as_deref())
                .push_bind(r.department.as_deref())
                .push_bind(r.job_title.as_deref())
                .push_bind(emails.as_str())
                .push_bind(r.change_key.as_deref())
                .push_bind(at);
        });
        upsert.push(
            " ON CONFLICT (site_id, scope, source_id) DO UPDATE SET
                 phonebook = excluded.phonebook, owner_user_id = excluded.owner_user_id,
                 source = excluded.source, mailbox = excluded.mailbox,
                 folder_id = excluded.folder_id, display_name = excluded.display_name,
                 given_name = excluded.given_name, surname = excluded.surname,
                 company = excluded.company, department = excluded.department,
                 job_title = excluded.job_title, emails = excluded.emails,
                 change_key = excluded.change_key, updated_at = excluded.updated_at
             RETURNING source_id, id",
        );
        let written = upsert.build().fetch_all(&mut *c).await?;
        let mut chunk_ids = Vec::with_capacity(written.len());
        for row in written {
            let source_id: String = row.try_get("source_id")?;
            let id: String = row.try_get("id")?;
            chunk_ids.push(id.clone());
            ids.insert(source_id, id);
        }
        // Their numbers: the old ones go, the new ones come, in one statement each.
        let mut delete = sqlx::QueryBuilder::<DB>::new(
            "DELETE FROM phone_numbers WHERE site_id = ",
        );
        delete
            .push_bind(scope_site(chunk))
            .push(" AND owner_kind = 'contact' AND owner_id IN (");
        let mut list = delete.separated(", ");
        for id in &chunk_ids {
            list.push_bind(id.as_str());
        }
        list.push_unseparated(")");
        delete.build().execute(&mut *c).await?;
        let numbers: Vec<(&str, i64, &PhoneNumber)> = chunk
            .iter()
            .filter_map(|r| ids.get(r.source_id.as_str()).map(|id| (r, id)))
            .flat_map(|(r, id)| {
                r.numbers
                    .iter()
                    .enumerate()
                    .map(move |(i, n)| (id.as_str(), to_i64(i as u64), n))
            })
            .collect();
        insert_numbers(c, scope_site(chunk), "contact", &numbers).await?;
    }
    records
        .iter()
        .map(|r| {
            ids.get(r.source_id.as_str())
                .cloned()
                .ok_or_else(|| corrupt(format!("contact {} was not written", r.source_id)))
        })
        .collect()
}

/// A new contact's store id: a time-ordered UUID (version 7), so that new contacts go to the
/// end of the indexes keyed by it (the contacts' primary key, their numbers' and their change
/// log rows') instead of a random page each. With random (version 4) ids every commit of a
/// mailbox's contacts dirtied a page per contact in each of those indexes, and SQLite wrote
/// and checkpointed them all: most of a full sync's time went there (a 1,000-user full sync
/// 26.8 → 14.8 s).
fn new_contact_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The site of a batch of contacts (the caller checked they all share the commit's site).
fn scope_site<'a>(chunk: &[&'a ContactRecord]) -> &'a str {
    chunk.first().map(|r| r.site.as_str()).unwrap_or_default()
}

/// Logs, in the caller's transaction, that these objects changed: the site's commit counter goes
/// up by one and each object's log row takes the new number. The counter row stays locked until
/// the transaction ends, so numbers are handed out in commit order and a reader that has seen
/// number n has seen every change numbered up to n.
async fn log_changes(c: &mut Conn, site: &SiteId, changes: &[(ChangeKind, &str)]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<&(ChangeKind, &str)> =
        changes.iter().filter(|(k, id)| seen.insert((*k, *id))).collect();
    if unique.is_empty() {
        return Ok(());
    }
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO change_counters (site_id, seq) VALUES ($1, 1)
         ON CONFLICT (site_id) DO UPDATE SET seq = change_counters.seq + 1
         RETURNING seq",
    )
    .bind(site.as_str())
    .fetch_one(&mut *c)
    .await?;
    for chunk in unique.chunks(500) {
        let mut insert =
            sqlx::QueryBuilder::<DB>::new("INSERT INTO change_log (site_id, kind, id, seq) ");
        insert.push_values(chunk, |mut row, (kind, id)| {
            row.push_bind(site.as_str())
                .push_bind(kind.as_str())
                .push_bind(*id)
                .push_bind(seq);
        });
        insert.push(" ON CONFLICT (site_id, kind, id) DO UPDATE SET seq = excluded.seq");
        insert.build().execute(&mut *c).await?;
    }
    Ok(())
}

/// Alphabet of issued secrets: lower-case letters and digits without look-alikes (no l, o, 0, 1), easy to type
/// on a phone's keypad screen (32 symbols, 5 bits each).
const SECRET_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A random text of `len` symbols from the operating system's generator.
fn random_text(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| char::from(SECRET_ALPHABET[rng.gen_range(0..SECRET_ALPHABET.len())]))
        .collect()
}

/// Hex SHA-256 of `salt`, a separator and `secret`.
fn hash_secret(salt: &str, secret: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update([0u8])
        .chain_update(secret.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality whose time depends only on the lengths, not on where the texts differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn owner_columns(o: &CredentialOwner) -> (&'static str, &str) {
    match o {
        CredentialOwner::Extension { user_id } => ("extension", user_id.as_str()),
        CredentialOwner::PhoneGroup { name } => ("phone_group", name.as_str()),
    }
}

fn owner_of(kind: &str, principal: String) -> Result<CredentialOwner> {
    match kind {
        "extension" => Ok(CredentialOwner::Extension { user_id: principal }),
        "phone_group" => Ok(CredentialOwner::PhoneGroup { name: principal }),
        k => Err(corrupt(format!("credential principal kind {k:?}"))),
    }
}

/// A contact row (with its numbers, in position order) as a stored contact.
fn stored_contact_of(
    site: &SiteId,
    r: &DbRow,
    numbers: &mut HashMap<String, Vec<(i64, PhoneNumber)>>,
) -> Result<StoredContact> {
    let id: String = r.try_get("id")?;
    let kind: String = r.try_get("phonebook")?;
    let source: String = r.try_get("source")?;
    let emails: String = r.try_get("emails")?;
    let mut nums = numbers.remove(&id).unwrap_or_default();
    nums.sort_by_key(|(p, _)| *p);
    let record = ContactRecord {
        site: site.clone(),
        phonebook: phonebook_of(&kind, r.try_get("owner_user_id")?)?,
        source: source_of(&source, r.try_get("mailbox")?)?,
        source_id: r.try_get("source_id")?,
        folder_id: r.try_get("folder_id")?,
        display_name: r.try_get("display_name")?,
        given_name: r.try_get("given_name")?,
        surname: r.try_get("surname")?,
        company: r.try_get("company")?,
        department: r.try_get("department")?,
        job_title: r.try_get("job_title")?,
        emails: serde_json::from_str(&emails).map_err(corrupt)?,
        numbers: nums.into_iter().map(|(_, n)| n).collect(),
        change_key: r.try_get("change_key")?,
    };
    Ok(StoredContact {
        id,
        scope: scope_of(r.try_get("scope")?)?,
        record,
    })
}

/// Frees a user's number inside a transaction; returns it.
async fn release_in(
    c: &mut Conn,
    site: &SiteId,
    user_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<ExtensionNumber>> {
    let row = sqlx::query(
        "SELECT number, num FROM extension_numbers WHERE site_id = $1 AND user_id = $2",
    )
    .bind(site.as_str())
    .bind(user_id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let number = ext_number_of(row.try_get("number")?)?;
    let num: i64 = row.try_get("num")?;
    sqlx::query("DELETE FROM phone_numbers WHERE site_id = $1 AND owner_kind = 'extension' AND owner_id = $2")
        .bind(site.as_str())
        .bind(user_id)
        .execute(&mut *c)
        .await?;
    for table in ["extensions", "extension_numbers"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE site_id = $1 AND user_id = $2"
        ))
        .bind(site.as_str())
        .bind(user_id)
        .execute(&mut *c)
        .await?;
    }
    sqlx::query(
        "INSERT INTO released_numbers (site_id, num, user_id, freed_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (site_id, num) DO UPDATE SET user_id = excluded.user_id, freed_at = excluded.freed_at",
    )
    .bind(site.as_str())
    .bind(num)
    .bind(user_id)
    .bind(micros(at))
    .execute(&mut *c)
    .await?;
    log_changes(c, site, &[(ChangeKind::Extension, user_id)]).await?;
    Ok(Some(number))
}

impl SqlStore {
    /// One attempt at allocating, in one write transaction.
    async fn try_allocate(
        &self,
        site: &SiteId,
        user_id: &str,
        (lo, hi): (i64, i64),
        cutoff: DateTime<Utc>,
    ) -> Result<Option<ExtensionNumber>> {
        let mut tx = begin_write(&self.pool).await?;
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT number FROM extension_numbers WHERE site_id = $1 AND user_id = $2",
        )
        .bind(site.as_str())
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(n) = existing {
            return ext_number_of(n).map(Some);
        }
        // The number the user had before, if nobody took it meanwhile.
        let previous: Option<i64> = sqlx::query_scalar(
            "SELECT r.num FROM released_numbers r
             WHERE r.site_id = $1 AND r.user_id = $2 AND r.num >= $3 AND r.num <= $4
               AND NOT EXISTS (SELECT 1 FROM extension_numbers e WHERE e.site_id = r.site_id AND e.num = r.num)
               AND NOT EXISTS (SELECT 1 FROM reserved_numbers x WHERE x.site_id = r.site_id AND x.num = r.num)
             ORDER BY r.freed_at DESC LIMIT 1",
        )
        .bind(site.as_str())
        .bind(user_id)
        .bind(lo)
        .bind(hi)
        .fetch_optional(&mut *tx)
        .await?;
        let num = match previous {
            Some(n) => Some(n),
            // The lowest free number: the range's start, or one past a taken number.
            None => sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MIN(c) FROM (
                     SELECT $2 AS c
                     UNION ALL SELECT num + 1 FROM extension_numbers WHERE site_id = $1 AND num >= $2
                     UNION ALL SELECT num + 1 FROM reserved_numbers WHERE site_id = $1 AND num >= $2
                     UNION ALL SELECT num + 1 FROM released_numbers
                         WHERE site_id = $1 AND num >= $2 AND freed_at > $4
                 ) AS cand
                 WHERE c <= $3
                   AND NOT EXISTS (SELECT 1 FROM extension_numbers e WHERE e.site_id = $1 AND e.num = cand.c)
                   AND NOT EXISTS (SELECT 1 FROM reserved_numbers x WHERE x.site_id = $1 AND x.num = cand.c)
                   AND NOT EXISTS (SELECT 1 FROM released_numbers r
                                   WHERE r.site_id = $1 AND r.num = cand.c AND r.freed_at > $4)",
            )
            .bind(site.as_str())
            .bind(lo)
            .bind(hi)
            .bind(cutoff)
            .fetch_one(&mut *tx)
            .await?,
        };
        let Some(num) = num else { return Ok(None) };
        let number = ExtensionNumber::from_value(to_u64(num)).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO extension_numbers (site_id, user_id, number, num, allocated_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(site.as_str())
        .bind(user_id)
        .bind(number.as_str())
        .bind(num)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM released_numbers WHERE site_id = $1 AND num = $2")
            .bind(site.as_str())
            .bind(num)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(number))
    }

    /// One attempt at allocating for many users, in one write transaction.
    async fn try_allocate_many(
        &self,
        site: &SiteId,
        user_ids: &[String],
        (lo, hi): (i64, i64),
        cutoff: DateTime<Utc>,
    ) -> Result<Option<Vec<(String, ExtensionNumber)>>> {
        let mut tx = begin_write(&self.pool).await?;
        let mut by_user: HashMap<String, i64> = HashMap::new();
        let mut taken: std::collections::HashSet<i64> = std::collections::HashSet::new();
        for r in sqlx::query("SELECT user_id, num FROM extension_numbers WHERE site_id = $1")
            .bind(site.as_str())
            .fetch_all(&mut *tx)
            .await?
        {
            let num: i64 = r.try_get("num")?;
            by_user.insert(r.try_get("user_id")?, num);
            taken.insert(num);
        }
        for num in
            sqlx::query_scalar::<_, i64>("SELECT num FROM reserved_numbers WHERE site_id = $1")
                .bind(site.as_str())
                .fetch_all(&mut *tx)
                .await?
        {
            taken.insert(num);
        }
        // Freed numbers: each user's latest, and those still in quarantine.
        let mut previous: HashMap<String, (DateTime<Utc>, i64)> = HashMap::new();
        let mut quarantined = std::collections::HashSet::new();
        let mut released = std::collections::HashSet::new();
        for r in
            sqlx::query("SELECT user_id, num, freed_at FROM released_numbers WHERE site_id = $1")
                .bind(site.as_str())
                .fetch_all(&mut *tx)
                .await?
        {
            let (user, num, at): (String, i64, DateTime<Utc>) = (
                r.try_get("user_id")?,
                r.try_get("num")?,
                r.try_get("freed_at")?,
            );
            released.insert(num);
            if at > cutoff {
                quarantined.insert(num);
            }
            if (lo..=hi).contains(&num) && previous.get(&user).is_none_or(|(t, _)| at > *t) {
                previous.insert(user, (at, num));
            }
        }
        let mut out = Vec::with_capacity(user_ids.len());
        let mut fresh = Vec::new();
        let mut cursor = lo;
        for user in user_ids {
            if let Some(&num) = by_user.get(user) {
                out.push((user.clone(), num));
                continue;
            }
            let num = match previous.get(user) {
                Some(&(_, num)) if !taken.contains(&num) => num,
                _ => {
                    while cursor <= hi && (taken.contains(&cursor) || quarantined.contains(&cursor))
                    {
                        cursor += 1;
                    }
                    if cursor > hi {
                        return Ok(None);
                    }
                    cursor
                }
            };
            taken.insert(num);
            by_user.insert(user.clone(), num);
            fresh.push((user.as_str(), num));
            out.push((user.clone(), num));
        }
        let at = now();
        for (user, num) in &fresh {
            sqlx::query(
                "INSERT INTO extension_numbers (site_id, user_id, number, num, allocated_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(site.as_str())
            .bind(*user)
            .bind(num.to_string())
            .bind(*num)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if released.contains(num) {
                sqlx::query("DELETE FROM released_numbers WHERE site_id = $1 AND num = $2")
                    .bind(site.as_str())
                    .bind(*num)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        out.into_iter()
            .map(|(u, n)| Ok((u, ExtensionNumber::from_value(to_u64(n)).map_err(corrupt)?)))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// The numbers of every extension of a site (or of one user), by user id.
    async fn extension_numbers(
        &self,
        site: &SiteId,
        user_id: Option<&str>,
    ) -> Result<HashMap<String, Option<PhoneNumber>>> {
        let one = match user_id {
            Some(_) => "owner_id = $3",
            None => "$3 = ''",
        };
        let rows = sqlx::query(&format!(
            "SELECT owner_id, kind, raw, e164 FROM phone_numbers
             WHERE site_id = $1 AND owner_kind = 'extension' AND position = $2 AND {one}"
        ))
        .bind(site.as_str())
        .bind(MOBILE_POSITION)
        .bind(user_id.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>("owner_id")?, Some(number_of(r)?))))
            .collect()
    }

    async fn extensions_where(
        &self,
        site: &SiteId,
        user_id: Option<&str>,
    ) -> Result<Vec<Extension>> {
        let one = match user_id {
            Some(_) => "user_id = $2",
            None => "$2 = ''",
        };
        let rows = sqlx::query(&format!(
            "SELECT user_id, number, display_name, given_name, surname, email, department,
                    job_title, outbound_caller_id, enabled, photo_etag
             FROM extensions WHERE site_id = $1 AND {one}"
        ))
        .bind(site.as_str())
        .bind(user_id.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        let mut mobiles = self.extension_numbers(site, user_id).await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let user_id: String = r.try_get("user_id")?;
                Ok(Extension {
                    site: site.clone(),
                    mobile: mobiles.remove(&user_id).flatten(),
                    user_id,
                    number: ext_number_of(r.try_get("number")?)?,
                    display_name: r.try_get("display_name")?,
                    given_name: r.try_get("given_name")?,
                    surname: r.try_get("surname")?,
                    email: r.try_get("email")?,
                    department: r.try_get("department")?,
                    job_title: r.try_get("job_title")?,
                    outbound_caller_id: e164_of(r.try_get("outbound_caller_id")?)?,
                    enabled: r.try_get("enabled")?,
                    photo_etag: r.try_get("photo_etag")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|e| e.number.value());
        Ok(out)
    }

    async fn count(&self, sql: &str, site: &SiteId) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(sql)
            .bind(site.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(to_u64(n))
    }
}

fn job_of(r: &DbRow) -> Result<Job> {
    let id: String = r.try_get("id")?;
    let trigger: String = r.try_get("trigger")?;
    let kind: String = r.try_get("kind")?;
    let status: String = r.try_get("status")?;
    let counts: String = r.try_get("counts")?;
    Ok(Job {
        id: job_id_of(&id)?,
        site: site_of(r.try_get("site_id")?)?,
        trigger: JobTrigger::parse(&trigger)
            .ok_or_else(|| corrupt(format!("job trigger {trigger:?}")))?,
        kind: JobKind::parse(&kind).ok_or_else(|| corrupt(format!("job kind {kind:?}")))?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("job status {status:?}")))?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        counts: serde_json::from_str(&counts).map_err(corrupt)?,
        requests: to_u64(r.try_get("requests")?),
        throttled: to_u64(r.try_get("throttled")?),
        warnings: to_u64(r.try_get("warnings")?),
        errors: to_u64(r.try_get("errors")?),
    })
}

const JOB_COLUMNS: &str = "id, site_id, trigger, kind, status, started_at, ended_at, counts, \
                           requests, throttled, warnings, errors";

#[async_trait::async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn upsert_site(&self, site: &Site) -> Result<()> {
        let settings = serde_json::to_string(&site.settings).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO sites (site_id, name, settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (site_id) DO UPDATE SET
                 name = excluded.name, settings = excluded.settings, updated_at = excluded.updated_at",
        )
        .bind(site.id.as_str())
        .bind(site.name.as_str())
        .bind(settings)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_site(&self, id: &SiteId) -> Result<Option<Site>> {
        let row = sqlx::query("SELECT name, settings FROM sites WHERE site_id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let settings: String = r.try_get("settings")?;
        Ok(Some(Site {
            id: id.clone(),
            name: r.try_get("name")?,
            settings: serde_json::from_str(&settings).map_err(corrupt)?,
        }))
    }

    async fn list_sites(&self) -> Result<Vec<Site>> {
        let rows = sqlx::query("SELECT site_id, name, settings FROM sites")
            .fetch_all(&self.pool)
            .await?;
        let mut sites = rows
            .iter()
            .map(|r| {
                let settings: String = r.try_get("settings")?;
                Ok(Site {
                    id: site_of(r.try_get("site_id")?)?,
                    name: r.try_get("name")?,
                    settings: serde_json::from_str(&settings).map_err(corrupt)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        sites.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(sites)
    }

    async fn allocate_extension(
        &self,
        site: &SiteId,
        user_id: &str,
        rule: &AllocationRule,
    ) -> Result<ExtensionNumber> {
        let (lo, hi) = rule.range().map_err(StoreError::InvalidRule)?;
        let range = (to_i64(lo), to_i64(hi));
        let cutoff = now() - rule.quarantine;
        for attempt in 1..=MAX_ATTEMPTS {
            match self.try_allocate(site, user_id, range, cutoff).await {
                Ok(Some(n)) => return Ok(n),
                Ok(None) => {
                    return Err(StoreError::ExtensionsExhausted {
                        first: lo,
                        length: rule.length,
                    })
                }
                Err(e) if is_retryable(&e) => backoff(attempt).await,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }

    async fn allocate_extensions(
        &self,
        site: &SiteId,
        user_ids: &[String],
        rule: &AllocationRule,
    ) -> Result<Vec<(String, ExtensionNumber)>> {
        let (lo, hi) = rule.range().map_err(StoreError::InvalidRule)?;
        let range = (to_i64(lo), to_i64(hi));
        let cutoff = now() - rule.quarantine;
        for attempt in 1..=MAX_ATTEMPTS {
            match self.try_allocate_many(site, user_ids, range, cutoff).await {
                Ok(Some(n)) => {
                    bulk_upkeep(&self.pool, user_ids.len(), &["extension_numbers"]).await;
                    return Ok(n);
                }
                Ok(None) => {
                    return Err(StoreError::ExtensionsExhausted {
                        first: lo,
                        length: rule.length,
                    })
                }
                Err(e) if is_retryable(&e) => backoff(attempt).await,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }

    async fn release_extension(
        &self,
        site: &SiteId,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ExtensionNumber>> {
        let mut tx = begin_write(&self.pool).await?;
        let released = release_in(&mut tx, site, user_id, at).await?;
        tx.commit().await?;
        Ok(released)
    }

    async fn reserve_external_numbers(
        &self,
        site: &SiteId,
        numbers: &[ExtensionNumber],
    ) -> Result<()> {
        let mut tx = begin_write(&self.pool).await?;
        let at = now();
        for n in numbers {
            sqlx::query(
                "INSERT INTO reserved_numbers (site_id, num, reserved_at) VALUES ($1, $2, $3)
                 ON CONFLICT (site_id, num) DO NOTHING",
            )
            .bind(site.as_str())
            .bind(to_i64(n.value()))
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn upsert_extension(&self, extension: &Extension) -> Result<()> {
        let mut tx = begin_write(&self.pool).await?;
        write_extension(&mut tx, extension, now()).await?;
        log_changes(
            &mut tx,
            &extension.site,
            &[(ChangeKind::Extension, extension.user_id.as_str())],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_extensions(&self, site: &SiteId) -> Result<Vec<Extension>> {
        self.extensions_where(site, None).await
    }

    async fn get_extension_by_user(
        &self,
        site: &SiteId,
        user_id: &str,
    ) -> Result<Option<Extension>> {
        Ok(self.extensions_where(site, Some(user_id)).await?.pop())
    }

    async fn apply_scope(&self, commit: &ScopeCommit) -> Result<()> {
        for u in &commit.upserts {
            match u {
                ScopeUpsert::Contact(c) => check_site(&commit.site, &c.site)?,
                ScopeUpsert::Extension(e) => check_site(&commit.site, &e.site)?,
            }
        }
        let site = commit.site.as_str();
        let at = now();
        let mut tx = begin_write(&self.pool).await?;
        let mut changed: Vec<(ChangeKind, String)> = Vec::with_capacity(commit.upserts.len());
        let contacts: Vec<&ContactRecord> = commit
            .upserts
            .iter()
            .filter_map(|u| match u {
                ScopeUpsert::Contact(c) => Some(c),
                ScopeUpsert::Extension(_) => None,
            })
            .collect();
        for id in write_contacts(&mut tx, &commit.scope, &contacts, at).await? {
            changed.push((ChangeKind::Contact, id));
        }
        for u in &commit.upserts {
            if let ScopeUpsert::Extension(e) = u {
                write_extension(&mut tx, e, at).await?;
                changed.push((ChangeKind::Extension, e.user_id.clone()));
            }
        }
        let changed: Vec<(ChangeKind, &str)> =
            changed.iter().map(|(k, id)| (*k, id.as_str())).collect();
        log_changes(&mut tx, &commit.site, &changed).await?;
        for d in &commit.deletions {
            let (target, source_id) = deletion_columns(d);
            sqlx::query(
                "INSERT INTO pending_deletions (site_id, job_id, scope, target, source_id, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (site_id, job_id, scope, target, source_id) DO NOTHING",
            )
            .bind(site)
            .bind(commit.job.to_string())
            .bind(commit.scope.as_str())
            .bind(target)
            .bind(source_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(token) = &commit.delta_token {
            set_token(&mut tx, &commit.site, &commit.scope, token, at).await?;
        }
        tx.commit().await?;
        let mut tables = Vec::new();
        if commit
            .upserts
            .iter()
            .any(|u| matches!(u, ScopeUpsert::Contact(_)))
        {
            tables.push("contacts");
        }
        if commit
            .upserts
            .iter()
            .any(|u| matches!(u, ScopeUpsert::Extension(_)))
        {
            tables.push("extensions");
        }
        if !tables.is_empty() {
            tables.push("phone_numbers");
        }
        bulk_upkeep(&self.pool, commit.upserts.len(), &tables).await;
        Ok(())
    }

    async fn list_contacts(
        &self,
        site: &SiteId,
        phonebook: &PhonebookKind,
    ) -> Result<Vec<ContactRecord>> {
        let (kind, owner) = phonebook_columns(phonebook);
        // Written out per case (not `$3 IS NULL OR …`) so the planners use the phonebook index.
        let filter = match owner {
            Some(_) => "c.site_id = $1 AND c.phonebook = $2 AND c.owner_user_id = $3",
            None => "c.site_id = $1 AND c.phonebook = $2 AND c.owner_user_id IS NULL AND $3 = ''",
        };
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE {filter}"
        ))
        .bind(site.as_str())
        .bind(kind)
        .bind(owner.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        let number_rows = sqlx::query(&format!(
            "{CONTACT_NUMBERS} AND {filter}"
        ))
        .bind(site.as_str())
        .bind(kind)
        .bind(owner.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        let mut numbers = numbers_by_owner(&number_rows)?;
        let mut out = rows
            .iter()
            .map(|r| stored_contact_of(site, r, &mut numbers).map(|c| (c.scope, c.record)))
            .collect::<Result<Vec<_>>>()?;
        // Sorted here, not in SQL, so both backends give the same order whatever their collation.
        out.sort_by(|(sa, a), (sb, b)| {
            (&a.display_name, sa, &a.source_id).cmp(&(&b.display_name, sb, &b.source_id))
        });
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    async fn count_contacts(&self, site: &SiteId) -> Result<u64> {
        self.count("SELECT COUNT(*) FROM contacts WHERE site_id = $1", site)
            .await
    }

    async fn count_extensions(&self, site: &SiteId) -> Result<u64> {
        self.count("SELECT COUNT(*) FROM extensions WHERE site_id = $1", site)
            .await
    }

    async fn count_invalid_numbers(&self, site: &SiteId) -> Result<u64> {
        self.count(
            "SELECT COUNT(*) FROM phone_numbers WHERE site_id = $1 AND invalid",
            site,
        )
        .await
    }

    async fn find_by_e164(&self, site: &SiteId, number: &E164) -> Result<Vec<NumberHit>> {
        let contacts = sqlx::query(
            "SELECT c.phonebook, c.owner_user_id, c.scope, c.source_id, c.display_name,
                    n.kind, n.raw, n.e164
             FROM phone_numbers n JOIN contacts c ON c.site_id = n.site_id AND c.id = n.owner_id
             WHERE n.site_id = $1 AND n.e164 = $2 AND n.owner_kind = 'contact'",
        )
        .bind(site.as_str())
        .bind(number.as_str())
        .fetch_all(&self.pool)
        .await?;
        let extensions = sqlx::query(
            "SELECT x.user_id, x.number, x.display_name, n.kind, n.raw, n.e164
             FROM phone_numbers n JOIN extensions x ON x.site_id = n.site_id AND x.user_id = n.owner_id
             WHERE n.site_id = $1 AND n.e164 = $2 AND n.owner_kind = 'extension'",
        )
        .bind(site.as_str())
        .bind(number.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut hits = Vec::with_capacity(contacts.len() + extensions.len());
        for r in &contacts {
            let kind: String = r.try_get("phonebook")?;
            hits.push(NumberHit {
                owner: NumberOwner::Contact {
                    phonebook: phonebook_of(&kind, r.try_get("owner_user_id")?)?,
                    scope: scope_of(r.try_get("scope")?)?,
                    source_id: r.try_get("source_id")?,
                },
                display_name: r.try_get("display_name")?,
                number: number_of(r)?,
            });
        }
        for r in &extensions {
            hits.push(NumberHit {
                owner: NumberOwner::Extension {
                    user_id: r.try_get("user_id")?,
                    number: ext_number_of(r.try_get("number")?)?,
                },
                display_name: r.try_get("display_name")?,
                number: number_of(r)?,
            });
        }
        hits.sort_by(|a, b| {
            (&a.display_name, &a.number.raw).cmp(&(&b.display_name, &b.number.raw))
        });
        Ok(hits)
    }

    async fn renormalise_numbers(
        &self,
        site: &SiteId,
        default_region: Option<Region>,
        user_regions: &HashMap<String, Region>,
    ) -> Result<RenormaliseReport> {
        let mut tx = begin_write(&self.pool).await?;
        let rows = sqlx::query(
            "SELECT n.owner_kind, n.owner_id, n.position, n.kind, n.raw, n.e164, c.owner_user_id
             FROM phone_numbers n
             LEFT JOIN contacts c
               ON n.owner_kind = 'contact' AND c.site_id = n.site_id AND c.id = n.owner_id
             WHERE n.site_id = $1",
        )
        .bind(site.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut report = RenormaliseReport::default();
        let mut changed_owners: Vec<(ChangeKind, String)> = Vec::new();
        for r in &rows {
            let owner_kind: String = r.try_get("owner_kind")?;
            let owner_id: String = r.try_get("owner_id")?;
            let user = if owner_kind == "extension" {
                Some(owner_id.clone())
            } else {
                r.try_get::<Option<String>, _>("owner_user_id")?
            };
            let region = user
                .and_then(|u| user_regions.get(&u).copied())
                .or(default_region);
            let old = number_of(r)?;
            let new = old.renormalised(region);
            report.checked += 1;
            if new.e164.is_none() {
                report.invalid += 1;
            }
            if new.e164 == old.e164 {
                continue;
            }
            report.changed += 1;
            changed_owners.push((
                if owner_kind == "extension" {
                    ChangeKind::Extension
                } else {
                    ChangeKind::Contact
                },
                owner_id.clone(),
            ));
            sqlx::query(
                "UPDATE phone_numbers SET e164 = $5, invalid = $6
                 WHERE site_id = $1 AND owner_kind = $2 AND owner_id = $3 AND position = $4",
            )
            .bind(site.as_str())
            .bind(&owner_kind)
            .bind(&owner_id)
            .bind(r.try_get::<i64, _>("position")?)
            .bind(new.e164.as_ref().map(E164::as_str))
            .bind(new.e164.is_none())
            .execute(&mut *tx)
            .await?;
        }
        let changed: Vec<(ChangeKind, &str)> = changed_owners
            .iter()
            .map(|(k, id)| (*k, id.as_str()))
            .collect();
        log_changes(&mut tx, site, &changed).await?;
        tx.commit().await?;
        Ok(report)
    }

    async fn get_delta_token(&self, site: &SiteId, scope: &ScopeKey) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT token FROM delta_tokens WHERE site_id = $1 AND scope = $2")
                .bind(site.as_str())
                .bind(scope.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn set_delta_token(&self, site: &SiteId, scope: &ScopeKey, token: &str) -> Result<()> {
        let mut tx = begin_write(&self.pool).await?;
        set_token(&mut tx, site, scope, token, now()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn invalidate_scopes(&self, site: &SiteId, prefix: &str) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM delta_tokens WHERE site_id = $1 AND substr(scope, 1, length($2)) = $2",
        )
        .bind(site.as_str())
        .bind(prefix)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn list_pending(&self, site: &SiteId) -> Result<Vec<PendingDeletion>> {
        let rows = sqlx::query(
            "SELECT job_id, scope, target, source_id, recorded_at FROM pending_deletions WHERE site_id = $1",
        )
        .bind(site.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let job: String = r.try_get("job_id")?;
                let target: String = r.try_get("target")?;
                let id: String = r.try_get("source_id")?;
                Ok(PendingDeletion {
                    job: job_id_of(&job)?,
                    scope: scope_of(r.try_get("scope")?)?,
                    target: match target.as_str() {
                        "contact" => Deletion::Contact(id),
                        "extension" => Deletion::Extension(id),
                        t => return Err(corrupt(format!("deletion target {t:?}"))),
                    },
                    recorded_at: r.try_get("recorded_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| {
            (a.recorded_at, &a.scope, deletion_columns(&a.target)).cmp(&(
                b.recorded_at,
                &b.scope,
                deletion_columns(&b.target),
            ))
        });
        Ok(out)
    }

    async fn apply_pending(&self, site: &SiteId, job: &JobId) -> Result<AppliedDeletions> {
        self.apply_pending_in(site, job, false).await
    }

    async fn discard_pending(&self, site: &SiteId) -> Result<u64> {
        let done = sqlx::query("DELETE FROM pending_deletions WHERE site_id = $1")
            .bind(site.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn acquire_lease(
        &self,
        site: &SiteId,
        holder: &str,
        ttl: chrono::Duration,
    ) -> Result<bool> {
        let at = now();
        // One statement: insert, or take over when it is ours or has run out.
        let done = sqlx::query(
            "INSERT INTO site_leases (site_id, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (site_id) DO UPDATE SET
                 holder = excluded.holder, acquired_at = excluded.acquired_at,
                 expires_at = excluded.expires_at
             WHERE site_leases.holder = excluded.holder OR site_leases.expires_at <= $3",
        )
        .bind(site.as_str())
        .bind(holder)
        .bind(at)
        .bind(at + ttl)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, site: &SiteId, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM site_leases WHERE site_id = $1 AND holder = $2")
            .bind(site.as_str())
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_job(&self, site: &SiteId, trigger: JobTrigger, kind: JobKind) -> Result<JobId> {
        let id = JobId::new();
        let exists: Option<String> =
            sqlx::query_scalar("SELECT site_id FROM sites WHERE site_id = $1")
                .bind(site.as_str())
                .fetch_optional(&self.pool)
                .await?;
        if exists.is_none() {
            return Err(StoreError::UnknownSite(site.to_string()));
        }
        sqlx::query(
            "INSERT INTO jobs (id, site_id, trigger, kind, status, started_at, ended_at, counts,
                               requests, throttled, warnings, errors)
             VALUES ($1, $2, $3, $4, 'running', $5, NULL, '{}', 0, 0, 0, 0)",
        )
        .bind(id.to_string())
        .bind(site.as_str())
        .bind(trigger.as_str())
        .bind(kind.as_str())
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    async fn append_job_log(&self, job: &JobId, line: &str) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO job_log (site_id, job_id, at, line) SELECT site_id, id, $2, $3 FROM jobs WHERE id = $1",
        )
        .bind(job.to_string())
        .bind(now())
        .bind(line)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownJob(*job));
        }
        Ok(())
    }

    async fn append_job_log_lines(&self, job: &JobId, lines: &[String]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut tx = begin_write(&self.pool).await?;
        let site: Option<String> = sqlx::query_scalar("SELECT site_id FROM jobs WHERE id = $1")
            .bind(job.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(site) = site else {
            return Err(StoreError::UnknownJob(*job));
        };
        let at = now();
        // 4 values a row: well inside both backends' limits on bound parameters.
        for chunk in lines.chunks(500) {
            let mut q = sqlx::QueryBuilder::<DB>::new("INSERT INTO job_log (site_id, job_id, at, line) ");
            q.push_values(chunk, |mut row, line| {
                row.push_bind(&site)
                    .push_bind(job.to_string())
                    .push_bind(at)
                    .push_bind(line);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn finish_job(&self, job: &JobId, outcome: &JobOutcome) -> Result<()> {
        let counts = serde_json::to_string(&outcome.counts).map_err(corrupt)?;
        let done = sqlx::query(
            "UPDATE jobs SET status = $2, ended_at = $3, counts = $4, requests = $5, throttled = $6,
                 warnings = $7, errors = $8
             WHERE id = $1 AND status = 'running'",
        )
        .bind(job.to_string())
        .bind(outcome.status.as_str())
        .bind(now())
        .bind(counts)
        .bind(to_i64(outcome.requests))
        .bind(to_i64(outcome.throttled))
        .bind(to_i64(outcome.warnings))
        .bind(to_i64(outcome.errors))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        match self.get_job(job).await? {
            Some(_) => Err(StoreError::JobFinished(*job)),
            None => Err(StoreError::UnknownJob(*job)),
        }
    }

    async fn list_jobs(&self, site: &SiteId, limit: u32) -> Result<Vec<Job>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE site_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"
        ))
        .bind(site.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_of).collect()
    }

    async fn get_job(&self, job: &JobId) -> Result<Option<JobWithLog>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(job.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let job_row = job_of(&row)?;
        let lines = sqlx::query("SELECT at, line FROM job_log WHERE job_id = $1 ORDER BY id")
            .bind(job.to_string())
            .fetch_all(&self.pool)
            .await?;
        let log = lines
            .iter()
            .map(|r| {
                Ok(JobLogLine {
                    at: r.try_get("at")?,
                    line: r.try_get("line")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(JobWithLog { job: job_row, log }))
    }

    async fn changes_since(&self, site: &SiteId, after: u64) -> Result<(Vec<Change>, u64)> {
        // The counter first: every change numbered up to it has committed (see `log_changes`).
        let latest = self.latest_change(site).await?;
        if latest <= after {
            return Ok((Vec::new(), latest));
        }
        let rows = sqlx::query(
            "SELECT kind, id, seq FROM change_log
             WHERE site_id = $1 AND seq > $2 AND seq <= $3",
        )
        .bind(site.as_str())
        .bind(to_i64(after))
        .bind(to_i64(latest))
        .fetch_all(&self.pool)
        .await?;
        let mut changes = rows
            .iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(Change {
                    seq: to_u64(r.try_get("seq")?),
                    kind: ChangeKind::parse(&kind)
                        .ok_or_else(|| corrupt(format!("change kind {kind:?}")))?,
                    id: r.try_get("id")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        changes.sort_by(|a, b| (a.seq, a.kind.as_str(), &a.id).cmp(&(b.seq, b.kind.as_str(), &b.id)));
        Ok((changes, latest))
    }

    async fn latest_change(&self, site: &SiteId) -> Result<u64> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM change_counters WHERE site_id = $1")
                .bind(site.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(seq.map(to_u64).unwrap_or(0))
    }

    async fn get_contact(&self, site: &SiteId, id: &str) -> Result<Option<StoredContact>> {
        Ok(self.stored_contacts(site, Some(id)).await?.pop())
    }

    async fn list_site_contacts(&self, site: &SiteId) -> Result<Vec<StoredContact>> {
        self.stored_contacts(site, None).await
    }

    async fn list_site_contacts_page(
        &self,
        site: &SiteId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<StoredContact>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.site_id = $1 AND c.id > $2
             ORDER BY c.id LIMIT $3"
        ))
        .bind(site.as_str())
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(Vec::new());
        };
        let last: String = last.try_get("id")?;
        // The numbers of exactly this page's contacts: the same id range.
        let number_rows = sqlx::query(&format!(
            "{CONTACT_NUMBERS} AND c.site_id = $1 AND c.id > $2 AND c.id <= $3"
        ))
        .bind(site.as_str())
        .bind(after)
        .bind(&last)
        .fetch_all(&self.pool)
        .await?;
        contacts_by_id(site, &rows, &number_rows)
    }

    async fn issue_credential(
        &self,
        site: &SiteId,
        username: &CredentialUsername,
        owner: &CredentialOwner,
    ) -> Result<IssuedCredential> {
        let mut tx = begin_write(&self.pool).await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT site_id FROM sites WHERE site_id = $1")
                .bind(site.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(StoreError::UnknownSite(site.to_string()));
        }
        let active: Option<String> = sqlx::query_scalar(
            "SELECT username FROM credentials
             WHERE site_id = $1 AND username = $2 AND revoked_at IS NULL",
        )
        .bind(site.as_str())
        .bind(username.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if active.is_some() {
            return Err(StoreError::CredentialExists(username.to_string()));
        }
        match owner {
            CredentialOwner::Extension { user_id } => {
                let has: Option<String> = sqlx::query_scalar(
                    "SELECT user_id FROM extensions WHERE site_id = $1 AND user_id = $2",
                )
                .bind(site.as_str())
                .bind(user_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if has.is_none() {
                    return Err(StoreError::CredentialOwner(format!(
                        "user {user_id:?} has no extension on site {site}; sync the user first"
                    )));
                }
            }
            CredentialOwner::PhoneGroup { name } if name.trim().is_empty() => {
                return Err(StoreError::CredentialOwner(
                    "a phone group needs a name".into(),
                ));
            }
            CredentialOwner::PhoneGroup { .. } => {}
        }
        // 26 symbols of 5 bits: 130 bits of secret; 16 symbols of salt.
        let secret = random_text(26);
        let salt = random_text(16);
        let (kind, principal) = owner_columns(owner);
        sqlx::query(
            "INSERT INTO credentials (site_id, username, principal_kind, principal, salt,
                 secret_hash, created_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)
             ON CONFLICT (site_id, username) DO UPDATE SET
                 principal_kind = excluded.principal_kind, principal = excluded.principal,
                 salt = excluded.salt, secret_hash = excluded.secret_hash,
                 created_at = excluded.created_at, revoked_at = NULL",
        )
        .bind(site.as_str())
        .bind(username.as_str())
        .bind(kind)
        .bind(principal)
        .bind(&salt)
        .bind(hash_secret(&salt, &secret))
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(IssuedCredential {
            username: username.clone(),
            owner: owner.clone(),
            secret,
        })
    }

    async fn revoke_credential(
        &self,
        site: &SiteId,
        username: &CredentialUsername,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE credentials SET revoked_at = $3
             WHERE site_id = $1 AND username = $2 AND revoked_at IS NULL",
        )
        .bind(site.as_str())
        .bind(username.as_str())
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_credentials(&self, site: &SiteId) -> Result<Vec<CredentialInfo>> {
        let rows = sqlx::query(
            "SELECT username, principal_kind, principal, created_at, revoked_at
             FROM credentials WHERE site_id = $1",
        )
        .bind(site.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let kind: String = r.try_get("principal_kind")?;
                Ok(CredentialInfo {
                    username: CredentialUsername::new(r.try_get::<String, _>("username")?)
                        .map_err(corrupt)?,
                    owner: owner_of(&kind, r.try_get("principal")?)?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(out)
    }

    async fn verify_credential(
        &self,
        site: &SiteId,
        username: &str,
        secret: &str,
    ) -> Result<Option<CredentialOwner>> {
        let row = sqlx::query(
            "SELECT principal_kind, principal, salt, secret_hash, revoked_at
             FROM credentials WHERE site_id = $1 AND username = $2",
        )
        .bind(site.as_str())
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            // Hash anyway, so that an unknown name takes as long as a wrong secret.
            let _ = hash_secret("0000000000000000", secret);
            return Ok(None);
        };
        let salt: String = r.try_get("salt")?;
        let stored: String = r.try_get("secret_hash")?;
        let matches = constant_time_eq(hash_secret(&salt, secret).as_bytes(), stored.as_bytes());
        let revoked: Option<DateTime<Utc>> = r.try_get("revoked_at")?;
        if !matches || revoked.is_some() {
            return Ok(None);
        }
        let kind: String = r.try_get("principal_kind")?;
        owner_of(&kind, r.try_get("principal")?).map(Some)
    }

    async fn set_avatar(
        &self,
        site: &SiteId,
        user_id: &str,
        avatar: Option<&Avatar>,
    ) -> Result<()> {
        let mut tx = begin_write(&self.pool).await?;
        let updated = sqlx::query(
            "UPDATE extensions SET photo_etag = $3 WHERE site_id = $1 AND user_id = $2",
        )
        .bind(site.as_str())
        .bind(user_id)
        .bind(avatar.map(|a| a.etag.as_str()))
        .execute(&mut *tx)
        .await?;
        match avatar {
            Some(a) => {
                if updated.rows_affected() == 0 {
                    return Err(StoreError::UnknownExtension {
                        site: site.to_string(),
                        user_id: user_id.to_string(),
                    });
                }
                sqlx::query(
                    "INSERT INTO avatars (site_id, user_id, content_type, etag, bytes, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (site_id, user_id) DO UPDATE SET
                         content_type = excluded.content_type, etag = excluded.etag,
                         bytes = excluded.bytes, updated_at = excluded.updated_at",
                )
                .bind(site.as_str())
                .bind(user_id)
                .bind(a.content_type.as_str())
                .bind(a.etag.as_str())
                .bind(a.bytes.as_slice())
                .bind(now())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM avatars WHERE site_id = $1 AND user_id = $2")
                    .bind(site.as_str())
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_avatar(&self, site: &SiteId, user_id: &str) -> Result<Option<Avatar>> {
        let row = sqlx::query(
            "SELECT content_type, etag, bytes FROM avatars WHERE site_id = $1 AND user_id = $2",
        )
        .bind(site.as_str())
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Avatar {
                content_type: r.try_get("content_type")?,
                etag: r.try_get("etag")?,
                bytes: r.try_get("bytes")?,
            })
        })
        .transpose()
    }

    async fn list_delta_tokens(
        &self,
        site: &SiteId,
        prefix: &str,
    ) -> Result<Vec<(ScopeKey, String)>> {
        let rows = sqlx::query(
            "SELECT scope, token FROM delta_tokens
             WHERE site_id = $1 AND substr(scope, 1, length($2)) = $2",
        )
        .bind(site.as_str())
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| Ok((scope_of(r.try_get("scope")?)?, r.try_get("token")?)))
            .collect::<Result<Vec<(ScopeKey, String)>>>()?;
        out.sort();
        Ok(out)
    }

    async fn cancel_pending(
        &self,
        site: &SiteId,
        scope: &ScopeKey,
        targets: &[Deletion],
    ) -> Result<u64> {
        if targets.is_empty() {
            return Ok(0);
        }
        let mut tx = begin_write(&self.pool).await?;
        let mut dropped = 0;
        for d in targets {
            let (target, source_id) = deletion_columns(d);
            let done = sqlx::query(
                "DELETE FROM pending_deletions
                 WHERE site_id = $1 AND scope = $2 AND target = $3 AND source_id = $4",
            )
            .bind(site.as_str())
            .bind(scope.as_str())
            .bind(target)
            .bind(source_id)
            .execute(&mut *tx)
            .await?;
            dropped += done.rows_affected();
        }
        tx.commit().await?;
        Ok(dropped)
    }

    async fn apply_pending_contacts(
        &self,
        site: &SiteId,
        job: &JobId,
    ) -> Result<AppliedDeletions> {
        self.apply_pending_in(site, job, true).await
    }

    async fn save_presence_reader(&self, reader: &PresenceReader) -> Result<()> {
        sqlx::query(
            "INSERT INTO presence_readers
                 (site_id, reader_id, upn, ciphertext, nonce, created_at, updated_at, last_error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (site_id, reader_id) DO UPDATE SET
                 upn = excluded.upn, ciphertext = excluded.ciphertext, nonce = excluded.nonce,
                 updated_at = excluded.updated_at, last_error = excluded.last_error",
        )
        .bind(reader.site.as_str())
        .bind(&reader.reader_id)
        .bind(&reader.upn)
        .bind(reader.refresh_token.ciphertext.as_slice())
        .bind(reader.refresh_token.nonce.as_slice())
        .bind(reader.created_at)
        .bind(reader.updated_at)
        .bind(reader.last_error.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_presence_readers(&self, site: &SiteId) -> Result<Vec<PresenceReader>> {
        let rows = sqlx::query(
            "SELECT reader_id, upn, ciphertext, nonce, created_at, updated_at, last_error
             FROM presence_readers WHERE site_id = $1 ORDER BY upn, reader_id",
        )
        .bind(site.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PresenceReader {
                    site: site.clone(),
                    reader_id: r.try_get("reader_id")?,
                    upn: r.try_get("upn")?,
                    refresh_token: crate::sealing::Sealed {
                        ciphertext: r.try_get("ciphertext")?,
                        nonce: r.try_get("nonce")?,
                    },
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    async fn remove_presence_reader(&self, site: &SiteId, key: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM presence_readers
             WHERE site_id = $1 AND (reader_id = $2 OR lower(upn) = lower($2))",
        )
        .bind(site.as_str())
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_presence_reader_error(
        &self,
        site: &SiteId,
        reader_id: &str,
        error: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE presence_readers SET last_error = $3 WHERE site_id = $1 AND reader_id = $2",
        )
        .bind(site.as_str())
        .bind(reader_id)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl SqlStore {
    /// Every contact of a site (or the one with store id `id`), ordered by id.
    async fn stored_contacts(&self, site: &SiteId, id: Option<&str>) -> Result<Vec<StoredContact>> {
        let filter = match id {
            Some(_) => "c.site_id = $1 AND c.id = $2",
            None => "c.site_id = $1 AND $2 = ''",
        };
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE {filter}"
        ))
        .bind(site.as_str())
        .bind(id.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        let number_rows = sqlx::query(&format!(
            "{CONTACT_NUMBERS} AND {filter}"
        ))
        .bind(site.as_str())
        .bind(id.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        contacts_by_id(site, &rows, &number_rows)
    }
}

/// The columns of a contact row, as `contact_of`-style readers expect them (alias `c`).
const CONTACT_COLUMNS: &str = "c.id, c.scope, c.source_id, c.phonebook, c.owner_user_id, c.source, \
     c.mailbox, c.folder_id, c.display_name, c.given_name, c.surname, c.company, c.department, \
     c.job_title, c.emails, c.change_key";

/// The numbers of contacts (alias `c`), to be narrowed with `AND <filter on c>`. `CROSS JOIN`
/// makes SQLite walk the narrowed contacts and look their numbers up by key; with a plain join
/// it scanned every contact number of the site for each mailbox (2.5 s per mailbox at 100,000
/// contacts). PostgreSQL plans it as any inner join.
const CONTACT_NUMBERS: &str = "SELECT n.owner_id, n.position, n.kind, n.raw, n.e164 \
     FROM contacts c CROSS JOIN phone_numbers n \
     WHERE n.site_id = c.site_id AND n.owner_kind = 'contact' AND n.owner_id = c.id";

/// Contact rows with their number rows as stored contacts, in id order.
fn contacts_by_id(
    site: &SiteId,
    rows: &[<DB as sqlx::Database>::Row],
    number_rows: &[<DB as sqlx::Database>::Row],
) -> Result<Vec<StoredContact>> {
    let mut numbers = numbers_by_owner(number_rows)?;
    let mut out = rows
        .iter()
        .map(|r| stored_contact_of(site, r, &mut numbers))
        .collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Number rows grouped by their owner, each with its position.
fn numbers_by_owner(
    rows: &[<DB as sqlx::Database>::Row],
) -> Result<HashMap<String, Vec<(i64, PhoneNumber)>>> {
    let mut numbers: HashMap<String, Vec<(i64, PhoneNumber)>> = HashMap::new();
    for r in rows {
        numbers
            .entry(r.try_get("owner_id")?)
            .or_default()
            .push((r.try_get("position")?, number_of(r)?));
    }
    Ok(numbers)
}

async fn set_token(
    c: &mut Conn,
    site: &SiteId,
    scope: &ScopeKey,
    token: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO delta_tokens (site_id, scope, token, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (site_id, scope) DO UPDATE SET token = excluded.token, updated_at = excluded.updated_at",
    )
    .bind(site.as_str())
    .bind(scope.as_str())
    .bind(token)
    .bind(at)
    .execute(&mut *c)
    .await?;
    Ok(())
}
