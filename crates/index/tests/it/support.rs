//! A site in a real SQLite file store, written through the store's trait.

use directory::{
    ContactRecord, ContactSource, DiallingPlan, DidBlock, Extension, PhoneKind, PhoneNumber,
    PhonebookKind, Principal, Region, SiteId,
};
use pbx365_index::{IndexService, SiteSettings};
use std::path::PathBuf;
use std::sync::Arc;
use store::{
    AllocationRule, Deletion, JobId, JobKind, JobTrigger, ScopeCommit, ScopeKey, ScopeUpsert, Site,
    Store,
};

pub fn site_id(s: &str) -> SiteId {
    SiteId::new(s).expect("site id")
}

pub fn plan() -> DiallingPlan {
    let mut plan = DiallingPlan::for_region(Region::new("DE").expect("region"));
    plan.area_code = Some("30".into());
    plan.outside_line_prefix = Some("0".into());
    plan.did_blocks.push(DidBlock {
        base: "+49301234".into(),
        first: 100,
        last: 299,
        company: Some("Example GmbH".into()),
    });
    plan
}

pub fn num(raw: &str, kind: PhoneKind) -> PhoneNumber {
    PhoneNumber::parse(raw, kind, Region::new("DE").ok())
}

pub fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

pub fn as_user(id: &str) -> Principal {
    Principal::Extension {
        site: site_id("berlin"),
        user_id: id.into(),
    }
}

pub fn group() -> Principal {
    Principal::PhoneGroup {
        site: site_id("berlin"),
        name: "lobby".into(),
    }
}

fn contact(
    book: PhonebookKind,
    source: ContactSource,
    id: &str,
    name: &str,
    numbers: Vec<PhoneNumber>,
) -> ContactRecord {
    let mut parts = name.split(' ');
    ContactRecord {
        site: site_id("berlin"),
        phonebook: book,
        source,
        source_id: id.into(),
        folder_id: None,
        display_name: name.into(),
        given_name: parts.next().map(str::to_owned),
        surname: parts.next().map(str::to_owned),
        company: Some("Kunde AG".into()),
        department: None,
        job_title: None,
        emails: vec![],
        numbers,
        change_key: None,
    }
}

pub fn org(id: &str, name: &str, numbers: Vec<PhoneNumber>) -> ContactRecord {
    contact(
        PhonebookKind::Directory,
        ContactSource::OrgContact,
        id,
        name,
        numbers,
    )
}

pub fn shared(id: &str, name: &str, numbers: Vec<PhoneNumber>) -> ContactRecord {
    contact(
        PhonebookKind::Company,
        ContactSource::SharedMailbox {
            mailbox: "info".into(),
        },
        id,
        name,
        numbers,
    )
}

pub fn personal(owner: &str, id: &str, name: &str, numbers: Vec<PhoneNumber>) -> ContactRecord {
    contact(
        PhonebookKind::Personal {
            owner_user_id: owner.into(),
        },
        ContactSource::PersonalOutlook,
        id,
        name,
        numbers,
    )
}

/// A site `berlin` in a fresh SQLite file, removed when dropped.
pub struct TestSite {
    pub store: Arc<dyn Store>,
    pub site: SiteId,
    dir: PathBuf,
}

impl Drop for TestSite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestSite {
    pub async fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("pbx365-index-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let store = store::open(&format!("sqlite://{}", dir.join("store.db").display()))
            .await
            .expect("open store");
        let site = site_id("berlin");
        store
            .upsert_site(&Site {
                id: site.clone(),
                name: "Berlin".into(),
                settings: serde_json::json!({}),
            })
            .await
            .expect("site");
        Self { store, site, dir }
    }

    /// Runs SQL on the store's file directly, around the store.
    pub async fn sql(&self, script: &str) {
        use sqlx::{Connection, Executor};
        let url = format!("sqlite://{}", self.dir.join("store.db").display());
        let mut c = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("connect");
        c.execute(script).await.expect("script");
        let _ = c.close().await;
    }

    /// The service over the store, this site configured.
    pub async fn service(&self, anonymous: bool) -> IndexService {
        let mut s = SiteSettings::new(self.site.clone(), plan());
        s.anonymous = anonymous;
        IndexService::load(self.store.clone(), vec![s])
            .await
            .expect("load")
    }

    pub async fn job(&self) -> JobId {
        self.store
            .create_job(&self.site, JobTrigger::Manual, JobKind::Delta)
            .await
            .expect("job")
    }

    pub async fn commit(
        &self,
        job: JobId,
        scope: ScopeKey,
        upserts: Vec<ScopeUpsert>,
        deletions: Vec<Deletion>,
    ) {
        self.store
            .apply_scope(&ScopeCommit {
                site: self.site.clone(),
                job,
                scope,
                upserts,
                deletions,
                delta_token: None,
            })
            .await
            .expect("commit");
    }

    /// Allocates the user an extension (101, 102, … in order) and writes their fields.
    pub async fn user(&self, id: &str, name: &str, mobile: Option<&str>) {
        let rule = AllocationRule {
            first_number: 101,
            length: 3,
            quarantine: chrono::Duration::hours(1),
        };
        let number = self
            .store
            .allocate_extension(&self.site, id, &rule)
            .await
            .expect("allocate");
        let mut parts = name.split(' ');
        let ext = Extension {
            site: self.site.clone(),
            user_id: id.into(),
            number,
            display_name: name.into(),
            given_name: parts.next().map(str::to_owned),
            surname: parts.next().map(str::to_owned),
            email: Some(format!("{id}@contoso.example")),
            department: None,
            job_title: None,
            outbound_caller_id: None,
            mobile: mobile.map(|m| num(m, PhoneKind::Mobile)),
            enabled: true,
            photo_etag: None,
        };
        self.store.upsert_extension(&ext).await.expect("extension");
    }

    pub async fn org(&self, contacts: &[ContactRecord]) {
        let job = self.job().await;
        self.commit(job, ScopeKey::org(), upserts(contacts), vec![])
            .await;
    }

    pub async fn shared(&self, contacts: &[ContactRecord]) {
        let job = self.job().await;
        self.commit(
            job,
            ScopeKey::shared("info", "f"),
            upserts(contacts),
            vec![],
        )
        .await;
    }

    pub async fn personal(&self, owner: &str, contacts: &[ContactRecord]) {
        let job = self.job().await;
        self.commit(
            job,
            ScopeKey::contacts(owner, "f"),
            upserts(contacts),
            vec![],
        )
        .await;
    }
}

fn upserts(contacts: &[ContactRecord]) -> Vec<ScopeUpsert> {
    contacts.iter().cloned().map(ScopeUpsert::Contact).collect()
}
