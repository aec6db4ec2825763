//! One publication: PUBLISH with SIP-ETag/SIP-If-Match, refreshed before expiry, recovered
//! after 412 (the server lost it) and raised after 423 (Min-Expires).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{
    min_expires, permanent, refresh_delay, rejected, retry_wait, AgentEvent, Published, Shared,
};
use crate::message::Method;
use crate::pidf::Presence;
use crate::ua::{CallLeg, SipError};

pub(super) enum PubCmd {
    Update(Presence, oneshot::Sender<Result<Published, SipError>>),
    Refresh(oneshot::Sender<Result<Published, SipError>>),
    Remove(oneshot::Sender<Result<(), SipError>>),
}

struct Publication {
    leg: CallLeg,
    etag: Option<String>,
    expires: u32,
    presence: Option<Presence>,
}

impl Shared {
    /// One PUBLISH exchange with the body (`with_body`) or as a refresh, handling 423 and
    /// 412; returns the accepted publication or the failure.
    async fn publish_once(
        &self,
        extension: &str,
        p: &mut Publication,
        with_body: bool,
    ) -> Result<Published, SipError> {
        let mut recovered = false;
        let mut with_body = with_body || p.etag.is_none() || self.config.refresh_with_body;
        for _ in 0..4 {
            let mut headers = vec![
                ("Event", "presence".to_string()),
                ("Expires", p.expires.to_string()),
            ];
            if let Some(etag) = &p.etag {
                headers.push(("SIP-If-Match", etag.clone()));
            }
            let body = match (&p.presence, with_body) {
                (Some(presence), true) => Some(presence.to_pidf(&p.leg.uri)),
                _ => None,
            };
            let resp = self
                .ua
                .request(
                    &mut p.leg,
                    Method::Publish,
                    &headers,
                    body.as_deref()
                        .map(|b| ("application/pidf+xml", b.as_bytes())),
                )
                .await?;
            match resp.status {
                200..=299 => {
                    let etag = resp
                        .headers
                        .get("SIP-ETag")
                        .ok_or(SipError::Protocol {
                            method: "PUBLISH".into(),
                            what: "SIP-ETag",
                        })?
                        .to_string();
                    let expires = resp
                        .headers
                        .get("Expires")
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(p.expires);
                    p.etag = Some(etag.clone());
                    self.emit(AgentEvent::Published {
                        extension: extension.to_string(),
                        etag: etag.clone(),
                        expires,
                        recovered,
                    });
                    return Ok(Published { etag, expires });
                }
                412 => {
                    // the server lost our publication (expired, restarted): start afresh
                    tracing::info!(extension, "PUBLISH got 412; publishing afresh");
                    p.etag = None;
                    with_body = true;
                    recovered = true;
                }
                423 => match min_expires(&resp) {
                    Some(min) if min > p.expires => p.expires = min,
                    _ => return Err(rejected("PUBLISH", &p.leg.uri, &resp)),
                },
                _ => return Err(rejected("PUBLISH", &p.leg.uri, &resp)),
            }
        }
        Err(SipError::Protocol {
            method: "PUBLISH".into(),
            what: "an acceptable answer after 412/423 retries",
        })
    }
}

pub(super) async fn run_publication(
    shared: Arc<Shared>,
    extension: String,
    mut cmds: mpsc::UnboundedReceiver<PubCmd>,
) {
    let aor = shared.ua.aor(&extension);
    let mut p = Publication {
        leg: CallLeg::new(&aor),
        etag: None,
        expires: shared.config.publish_expires,
        presence: None,
    };
    // when to refresh next (None: nothing published yet)
    let mut next: Option<tokio::time::Instant> = None;
    let mut failures = 0u32;
    loop {
        let sleep = async {
            match next {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let (result, reply) = tokio::select! {
            cmd = cmds.recv() => match cmd {
                None => return,
                Some(PubCmd::Update(presence, reply)) => {
                    p.presence = Some(presence);
                    (shared.publish_once(&extension, &mut p, true).await, Some(reply))
                }
                Some(PubCmd::Refresh(reply)) => {
                    (shared.publish_once(&extension, &mut p, false).await, Some(reply))
                }
                Some(PubCmd::Remove(reply)) => {
                    let r = remove_publication(&shared, &mut p).await;
                    let _ = reply.send(r);
                    return;
                }
            },
            _ = sleep => (shared.publish_once(&extension, &mut p, false).await, None),
        };
        match &result {
            Ok(published) => {
                failures = 0;
                next = Some(tokio::time::Instant::now() + refresh_delay(published.expires));
            }
            Err(e) => {
                let retrying = !permanent(e);
                shared.emit(AgentEvent::PublishFailed {
                    extension: extension.clone(),
                    error: e.to_string(),
                    retrying,
                });
                if !retrying {
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                    return;
                }
                // keep the etag: if the server lost the publication the retry meets 412
                // and publishes afresh; if not, no duplicate publication is created
                next = Some(
                    tokio::time::Instant::now() + retry_wait(e, failures, shared.config.max_retry),
                );
                failures += 1;
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
    }
}

async fn remove_publication(shared: &Shared, p: &mut Publication) -> Result<(), SipError> {
    let Some(etag) = p.etag.clone() else {
        return Ok(());
    };
    let headers = [
        ("Event", "presence".to_string()),
        ("Expires", "0".to_string()),
        ("SIP-If-Match", etag),
    ];
    let resp = shared
        .ua
        .request(&mut p.leg, Method::Publish, &headers, None)
        .await?;
    match resp.status {
        // 412: already gone
        200..=299 | 412 => Ok(()),
        _ => Err(rejected("PUBLISH", &p.leg.uri, &resp)),
    }
}
