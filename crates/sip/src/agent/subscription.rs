//! One subscription: SUBSCRIBE, NOTIFYs routed to it by dialog, refreshes to the remote
//! target before expiry, and a new subscription after termination, 481 or time-outs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{min_expires, permanent, refresh_delay, rejected, retry_wait, AgentEvent, Shared};
use crate::dialog_info::{DialogHistory, DialogInfo};
use crate::header::{NameAddr, SubscriptionState};
use crate::message::{CSeq, Method, Request};
use crate::pidf::Presence;
use crate::state::EventPackage;
use crate::transport::lock;
use crate::ua::{CallLeg, SipError};

pub(super) enum SubCmd {
    Stop(oneshot::Sender<Result<(), SipError>>),
}

pub(super) type DialogMap =
    Arc<Mutex<HashMap<(String, String), mpsc::UnboundedSender<crate::message::Request>>>>;

/// Removes the dialog's NOTIFY route when a subscription attempt ends.
struct DialogGuard {
    dialogs: DialogMap,
    key: (String, String),
}

impl Drop for DialogGuard {
    fn drop(&mut self) {
        lock(&self.dialogs).remove(&self.key);
    }
}

enum SubEnd {
    /// Subscribe again after this long.
    Retry(Duration, String),
    /// Stop for good.
    Stop(String),
    /// Unsubscribed on request.
    Done,
}

pub(super) async fn run_subscription(
    shared: Arc<Shared>,
    extension: String,
    package: EventPackage,
    mut cmds: mpsc::UnboundedReceiver<SubCmd>,
    first: oneshot::Sender<Result<u32, SipError>>,
) {
    let mut first = Some(first);
    let mut failures = 0u32;
    // kept across re-subscriptions: a call outlives a lost subscription
    let mut history = DialogHistory::default();
    loop {
        let end = subscribe_dialog(
            &shared,
            &extension,
            package,
            &mut cmds,
            &mut first,
            &mut failures,
            &mut history,
        )
        .await;
        let (wait, reason) = match end {
            SubEnd::Done => return,
            SubEnd::Stop(reason) => {
                shared.emit(AgentEvent::SubscriptionLost {
                    extension: extension.clone(),
                    package,
                    reason,
                    retrying: false,
                });
                return;
            }
            SubEnd::Retry(wait, reason) => (wait, reason),
        };
        shared.emit(AgentEvent::SubscriptionLost {
            extension: extension.clone(),
            package,
            reason,
            retrying: true,
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            cmd = cmds.recv() => match cmd {
                Some(SubCmd::Stop(reply)) => { let _ = reply.send(Ok(())); return; }
                None => return,
            },
        }
    }
}

/// One subscription dialog from the initial SUBSCRIBE to its end.
async fn subscribe_dialog(
    shared: &Shared,
    extension: &str,
    package: EventPackage,
    cmds: &mut mpsc::UnboundedReceiver<SubCmd>,
    first: &mut Option<oneshot::Sender<Result<u32, SipError>>>,
    failures: &mut u32,
    history: &mut DialogHistory,
) -> SubEnd {
    let max_retry = shared.config.max_retry;
    let mut leg = CallLeg::new(&shared.ua.aor(extension));
    let (notify_tx, mut notifies) = mpsc::unbounded_channel();
    let key = (leg.call_id.clone(), leg.local_tag.clone());
    lock(&shared.dialogs).insert(key.clone(), notify_tx);
    let _guard = DialogGuard {
        dialogs: shared.dialogs.clone(),
        key,
    };
    let mut expires = shared.config.subscribe_expires;
    let result = send_subscribe(shared, &mut leg, package, &mut expires, true).await;
    let report_first = |first: &mut Option<oneshot::Sender<Result<u32, SipError>>>,
                        r: Result<u32, SipError>| {
        if let Some(tx) = first.take() {
            let _ = tx.send(r);
        }
    };
    let granted = match result {
        Ok(granted) => granted,
        Err(e) => {
            let reason = e.to_string();
            let stop = permanent(&e);
            let wait = retry_wait(&e, *failures, max_retry);
            report_first(first, Err(e));
            *failures += 1;
            return if stop {
                SubEnd::Stop(reason)
            } else {
                SubEnd::Retry(wait, reason)
            };
        }
    };
    *failures = 0;
    report_first(first, Ok(granted));
    shared.emit(AgentEvent::Subscribed {
        extension: extension.to_string(),
        package,
        expires: granted,
    });
    let mut refresh_at = tokio::time::Instant::now() + refresh_delay(granted);
    let mut last_cseq: Option<u32> = None;
    loop {
        tokio::select! {
            cmd = cmds.recv() => {
                let reply = cmd.map(|SubCmd::Stop(reply)| reply);
                let r = send_subscribe(shared, &mut leg, package, &mut 0, false).await;
                if let Some(reply) = reply {
                    let _ = reply.send(r.map(|_| ()));
                }
                return SubEnd::Done;
            }
            _ = tokio::time::sleep_until(refresh_at) => {
                match send_subscribe(shared, &mut leg, package, &mut expires, false).await {
                    Ok(granted) => {
                        shared.emit(AgentEvent::Subscribed {
                            extension: extension.to_string(),
                            package,
                            expires: granted,
                        });
                        refresh_at = tokio::time::Instant::now() + refresh_delay(granted);
                    }
                    Err(e) if permanent(&e) => return SubEnd::Stop(e.to_string()),
                    // 481 (the server forgot the dialog, e.g. restarted), time-out…: new dialog
                    Err(e) => return SubEnd::Retry(Duration::ZERO, format!("refresh failed: {e}")),
                }
            }
            notify = notifies.recv() => {
                let Some(notify) = notify else {
                    return SubEnd::Retry(Duration::ZERO, "NOTIFY route closed".into());
                };
                // retransmitted and reordered NOTIFYs carry an old CSeq
                let cseq = notify.cseq().map(|c: CSeq| c.seq);
                if matches!((cseq, last_cseq), (Some(c), Some(last)) if c <= last) {
                    continue;
                }
                last_cseq = cseq.or(last_cseq);
                match on_notify(shared, extension, package, &notify, &mut leg, history) {
                    NotifyOutcome::End(end) => return end,
                    NotifyOutcome::Expires(Some(e)) => {
                        // the notifier may shorten the subscription
                        let at = tokio::time::Instant::now() + refresh_delay(e);
                        refresh_at = refresh_at.min(at);
                    }
                    NotifyOutcome::Expires(None) => {}
                }
            }
        }
    }
}

enum NotifyOutcome {
    /// The subscription goes on; the notifier stated this many seconds left.
    Expires(Option<u32>),
    /// The notifier ended it.
    End(SubEnd),
}

/// Reports the state a NOTIFY carries and reads its `Subscription-State`.
fn on_notify(
    shared: &Shared,
    extension: &str,
    package: EventPackage,
    notify: &Request,
    leg: &mut CallLeg,
    history: &mut DialogHistory,
) -> NotifyOutcome {
    // a NOTIFY can move the remote target (RFC 6665 §4.1.2.2)
    if let Some(contact) = notify
        .headers
        .get("Contact")
        .and_then(|v| NameAddr::parse(v).ok())
    {
        leg.uri = contact.uri;
    }
    let body = notify.body_text();
    tracing::trace!(extension, ?package, %body, "NOTIFY received");
    let state = match package {
        EventPackage::Presence => Presence::parse(&body).map(|p| p.pbx_state()),
        EventPackage::Dialog => DialogInfo::parse(&body).map(|d| history.settle(d).pbx_state()),
    };
    match state {
        Ok(state) => shared.emit(AgentEvent::State {
            extension: extension.to_string(),
            package,
            state,
        }),
        Err(e) => tracing::warn!(extension, error = %e, "unreadable NOTIFY body ignored"),
    }
    let header = notify.headers.get("Subscription-State");
    match header.map(SubscriptionState::parse) {
        Some(Ok(SubscriptionState::Terminated {
            reason,
            retry_after,
        })) => {
            let why = format!(
                "terminated by the server ({})",
                reason.as_deref().unwrap_or("no reason")
            );
            let wait =
                |default: u64| Duration::from_secs(retry_after.map(u64::from).unwrap_or(default));
            NotifyOutcome::End(match reason.as_deref() {
                // RFC 6665 §4.1.3: do not subscribe again
                Some("rejected" | "noresource" | "invariant") => SubEnd::Stop(why),
                // subscribe again at once
                None | Some("deactivated" | "timeout") => SubEnd::Retry(wait(0), why),
                // probation, giveup, unknown: later
                Some(_) => SubEnd::Retry(wait(5), why),
            })
        }
        Some(Ok(
            SubscriptionState::Active { expires } | SubscriptionState::Pending { expires },
        )) => NotifyOutcome::Expires(expires),
        _ => NotifyOutcome::Expires(None),
    }
}

/// Sends SUBSCRIBE (initial: out of dialog, establishing it; otherwise a refresh or, with
/// `expires == 0`, the end) and returns the granted expiry; handles 423 once.
async fn send_subscribe(
    shared: &Shared,
    leg: &mut CallLeg,
    package: EventPackage,
    expires: &mut u32,
    initial: bool,
) -> Result<u32, SipError> {
    for _ in 0..2 {
        let headers = [
            ("Event", package.as_str().to_string()),
            ("Expires", expires.to_string()),
            ("Accept", package.content_type().to_string()),
        ];
        let resp = shared
            .ua
            .request(leg, Method::Subscribe, &headers, None)
            .await?;
        match resp.status {
            200..=299 => {
                if initial {
                    if let Some(to) = resp.headers.get("To") {
                        leg.to = to.to_string();
                    }
                    if let Some(contact) = resp
                        .headers
                        .get("Contact")
                        .and_then(|v| NameAddr::parse(v).ok())
                    {
                        // in-dialog requests go to the remote target (the Contact of the 2xx)
                        leg.uri = contact.uri;
                    }
                    leg.route = resp
                        .headers
                        .get_all("Record-Route")
                        .map(str::to_string)
                        .collect();
                    leg.route.reverse();
                }
                return Ok(resp
                    .headers
                    .get("Expires")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(*expires));
            }
            423 => match min_expires(&resp) {
                Some(min) if min > *expires => *expires = min,
                _ => return Err(rejected("SUBSCRIBE", &leg.uri, &resp)),
            },
            _ => return Err(rejected("SUBSCRIBE", &leg.uri, &resp)),
        }
    }
    Err(SipError::Protocol {
        method: "SUBSCRIBE".into(),
        what: "an acceptable answer after 423",
    })
}
