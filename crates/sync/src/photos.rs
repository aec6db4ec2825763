//! Photos → avatars, on their own schedule (`[site.photos] schedule`; the scheduler calls
//! [`run_photos_job`], as does `pbx365 photos sync`).
//!
//! Graph's user delta never reports photo changes, so every extension's photo metadata is read
//! (`GET /users/{id}/photo`, 20 users per `$batch`) and its `@odata.mediaEtag` compared with
//! the etag stored on the extension. Only a changed etag downloads the image (`/photo/$value`); a user without photo
//! (404, or metadata without an etag) has their avatar removed. `full` downloads every photo
//! again whatever its etag.
//!
//! One user's photo failing (after the client's retries) does not stop the others: it keeps
//! its avatar as it was, is named in a warning, and fails the job so that it shows.

use crate::error::SyncError;
use crate::record::{consent_url, Ending, JobRecorder};
use crate::report::SyncOptions;
use directory::{Extension, SiteId};
use futures_util::stream::{self, StreamExt};
use graph::batch::{BatchRequest, MAX_BATCH};
use graph::models::PhotoMeta;
use graph::GraphClient;
use serde::Serialize;
use std::sync::Arc;
use store::{Avatar, JobId, JobKind, Store};

/// Batches of photo metadata in flight at once (each holds up to 20 different mailboxes; the
/// client's global limit still applies).
pub const CONCURRENCY: usize = 4;

/// Any one of these application permissions lets the app read photos.
pub const PHOTO_ROLES: [&str; 3] = [
    "ProfilePhoto.Read.All",
    "User.Read.All",
    "User.ReadWrite.All",
];

/// The content type assumed when Graph names none.
const DEFAULT_CONTENT_TYPE: &str = "image/jpeg";

/// What a photos job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PhotoCounts {
    /// Extensions whose photo metadata was read.
    pub checked: u64,
    /// Photos downloaded and stored (new or changed).
    pub fetched: u64,
    /// Photos whose etag had not changed (nothing downloaded).
    pub unchanged: u64,
    /// Avatars removed because the user has no photo any more.
    pub cleared: u64,
    /// Users without photo before and after.
    pub without: u64,
    /// Users whose photo could not be read (avatar kept as it was).
    pub failed: u64,
}

/// The report of a photos job. A failed job carries its error and advice in `error`.
#[derive(Debug, Clone, Serialize)]
pub struct PhotosReport {
    /// The recorded job (`None` for dry runs).
    pub job: Option<JobId>,
    /// Whether the job succeeded.
    pub succeeded: bool,
    /// Whether this was a dry run (nothing downloaded or written).
    pub dry_run: bool,
    /// Counts.
    pub counts: PhotoCounts,
    /// Graph requests made.
    pub requests: u64,
    /// Graph answers 429.
    pub throttled: u64,
    /// Warnings (one per photo that could not be read).
    pub warnings: Vec<String>,
    /// The error that failed the job, with advice.
    pub error: Option<String>,
    /// The job's log lines.
    pub log: Vec<String>,
}

/// What became of one extension's photo.
enum Outcome {
    Fetched,
    Unchanged,
    Cleared,
    Without,
    Failed(String),
}

/// Runs one photos job for `site`: every extension's photo compared by etag, changed ones
/// downloaded into the store's avatars, missing ones removed. Recorded in the job history
/// (kind `photos`) unless a dry run.
pub async fn run_photos_job(
    store: Arc<dyn Store>,
    client: &GraphClient,
    site: &config::Site,
    options: SyncOptions,
) -> PhotosReport {
    let (recorder, observed) = JobRecorder::attach(
        store.clone(),
        client,
        options.progress.clone(),
        options.diagnostic,
    );
    let client = observed.as_ref().unwrap_or(client);
    let mut job = PhotosJob {
        store,
        client,
        site,
        options,
        recorder,
        report: PhotosReport {
            job: None,
            succeeded: false,
            dry_run: false,
            counts: PhotoCounts::default(),
            requests: 0,
            throttled: 0,
            warnings: Vec::new(),
            error: None,
            log: Vec::new(),
        },
    };
    job.report.dry_run = job.options.dry_run;
    let before = client.stats();
    let result = job.run().await;
    let after = client.stats();
    job.report.requests = after.requests.saturating_sub(before.requests);
    job.report.throttled = after.throttled.saturating_sub(before.throttled);
    let c = job.report.counts;
    let result = result.and_then(|()| match c.failed {
        0 => Ok(()),
        n => Err(SyncError::Graph(graph::GraphError::Invalid(format!(
            "{n} photo(s) could not be read (see the warnings); their avatars were kept as they were. Run `pbx365 photos sync` again later"
        )))),
    });
    job.log(format!(
        "photos: {} checked, {} fetched, {} unchanged, {} cleared, {} without photo, {} failed ({} Graph requests, {} throttled)",
        c.checked, c.fetched, c.unchanged, c.cleared, c.without, c.failed, job.report.requests, job.report.throttled
    ))
    .await;
    match result {
        Ok(()) => job.report.succeeded = true,
        Err(e) => {
            let text = e.to_string();
            job.log(format!("error: {text}")).await;
            job.report.error = Some(text);
        }
    }
    job.finish().await;
    job.report
}

/// A photos job in progress.
struct PhotosJob<'a> {
    store: Arc<dyn Store>,
    client: &'a GraphClient,
    site: &'a config::Site,
    options: SyncOptions,
    recorder: JobRecorder,
    report: PhotosReport,
}

impl PhotosJob<'_> {
    async fn log(&mut self, line: String) {
        self.recorder
            .log(self.report.job, &mut self.report.log, line)
            .await;
    }

    async fn finish(&mut self) {
        let Some(id) = self.report.job else { return };
        let ending = Ending {
            succeeded: self.report.succeeded,
            counts: serde_json::json!({ "photos": self.report.counts }),
            requests: self.report.requests,
            throttled: self.report.throttled,
            warnings: self.report.warnings.len(),
            error: self.report.error.as_deref(),
        };
        if let Err(e) = self.recorder.finish(id, ending).await {
            self.report.error.get_or_insert(e);
            self.report.succeeded = false;
        }
    }

    fn consent_url(&self) -> String {
        consent_url(self.site)
    }

    async fn run(&mut self) -> Result<(), SyncError> {
        let site_id = SiteId::new(self.site.name.clone())
            .map_err(|_| SyncError::SiteName(self.site.name.clone()))?;
        let known = self.store.get_site(&site_id).await?.is_some();
        if !self.options.dry_run && known {
            self.report.job = Some(
                self.store
                    .create_job(&site_id, self.options.trigger, JobKind::Photos)
                    .await?,
            );
        }
        self.log("photos → avatars".into()).await;
        let extensions = if known {
            self.store.list_extensions(&site_id).await?
        } else {
            Vec::new()
        };
        if extensions.is_empty() {
            self.log("no extensions yet: run `pbx365 sync` first".into())
                .await;
            return Ok(());
        }

        let info = self.client.token_info().await?;
        if info.roles.is_empty() {
            return Err(SyncError::ConsentMissing {
                consent_url: self.consent_url(),
            });
        }
        if !PHOTO_ROLES
            .iter()
            .any(|r| info.roles.iter().any(|h| h == r))
        {
            return Err(SyncError::MissingPermissions {
                missing: vec![PHOTO_ROLES[0].to_string()],
                consent_url: self.consent_url(),
            });
        }

        let total = extensions.len() as u64;
        self.log(format!("checking the photos of {total} extension(s)"))
            .await;
        let client = self.client;
        let store = self.store.clone();
        let full = self.options.full;
        let dry_run = self.options.dry_run;
        let chunks: Vec<Vec<Extension>> = extensions
            .chunks(MAX_BATCH)
            .map(<[Extension]>::to_vec)
            .collect();
        let mut results = stream::iter(chunks.into_iter().map(|chunk| {
            let store = store.clone();
            let site_id = site_id.clone();
            async move {
                let metas = metadata(client, &chunk).await;
                let mut out = Vec::with_capacity(chunk.len());
                for (ext, meta) in chunk.into_iter().zip(metas) {
                    let outcome =
                        one(client, store.as_ref(), &site_id, &ext, meta, full, dry_run).await;
                    out.push((ext, outcome));
                }
                out
            }
        }))
        .buffer_unordered(CONCURRENCY)
        .flat_map(stream::iter);
        let mut done = 0;
        while let Some((ext, outcome)) = results.next().await {
            done += 1;
            if let Some(s) = &self.options.steps {
                s("photos", done, total);
            }
            let c = &mut self.report.counts;
            c.checked += 1;
            match outcome {
                Outcome::Fetched => c.fetched += 1,
                Outcome::Unchanged => c.unchanged += 1,
                Outcome::Cleared => c.cleared += 1,
                Outcome::Without => c.without += 1,
                Outcome::Failed(why) => {
                    c.failed += 1;
                    let w = format!(
                        "the photo of {} ({}) could not be read: {why}",
                        ext.display_name, ext.user_id
                    );
                    self.log(format!("warning: {w}")).await;
                    self.report.warnings.push(w);
                }
            }
        }
        if dry_run {
            self.log("dry run: nothing downloaded or written".into())
                .await;
        }
        Ok(())
    }
}

/// The photo metadata of each extension in `chunk` (at most 20), in order, by one `$batch`:
/// `None` for a user without photo (404), an error text for one that could not be read.
async fn metadata(
    client: &GraphClient,
    chunk: &[Extension],
) -> Vec<Result<Option<PhotoMeta>, String>> {
    let requests = chunk
        .iter()
        .enumerate()
        .map(|(i, e)| BatchRequest::get(i.to_string(), format!("/users/{}/photo", e.user_id)))
        .collect();
    match client.batch(requests).await {
        Ok(answers) => answers
            .iter()
            .map(|a| match a.status {
                404 => Ok(None),
                _ => a.json::<PhotoMeta>().map(Some).map_err(|e| e.to_string()),
            })
            .collect(),
        Err(e) => {
            let why = e.to_string();
            chunk.iter().map(|_| Err(why.clone())).collect()
        }
    }
}

/// Brings one extension's avatar up to date with its photo in Microsoft 365, given its photo
/// metadata.
async fn one(
    client: &GraphClient,
    store: &dyn Store,
    site: &SiteId,
    ext: &Extension,
    meta: Result<Option<PhotoMeta>, String>,
    full: bool,
    dry_run: bool,
) -> Outcome {
    let user = &ext.user_id;
    let clear = || async {
        if ext.photo_etag.is_none() {
            return Outcome::Without;
        }
        if dry_run {
            return Outcome::Cleared;
        }
        match store.set_avatar(site, user, None).await {
            Ok(()) => Outcome::Cleared,
            Err(e) => Outcome::Failed(format!("the store failed: {e}")),
        }
    };
    let meta = match meta {
        Ok(m) => m,
        Err(e) => return Outcome::Failed(e),
    };
    // No photo: 404, or (as Graph sometimes answers) metadata without an etag.
    let Some((etag, content_type)) = meta.and_then(|m| {
        m.media_etag
            .filter(|e| !e.trim().is_empty())
            .map(|e| (e, m.media_content_type))
    }) else {
        return clear().await;
    };
    if !full && ext.photo_etag.as_deref() == Some(etag.as_str()) {
        return Outcome::Unchanged;
    }
    if dry_run {
        return Outcome::Fetched;
    }
    let bytes = match client.photo_bytes(user).await {
        Ok(Some(b)) => b,
        // Removed between the two reads.
        Ok(None) => return clear().await,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let avatar = Avatar {
        content_type: content_type
            .filter(|c| c.starts_with("image/"))
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
        etag,
        bytes: bytes.to_vec(),
    };
    match store.set_avatar(site, user, Some(&avatar)).await {
        Ok(()) => Outcome::Fetched,
        // The users job removed the extension meanwhile: nothing to keep the photo for.
        Err(store::StoreError::UnknownExtension { .. }) => Outcome::Without,
        Err(e) => Outcome::Failed(format!("the store failed: {e}")),
    }
}
