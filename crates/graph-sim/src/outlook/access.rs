//! Mailbox access rules, checked in one place before every Outlook call, in Graph's order:
//! permission (403 `ErrorAccessDenied`), user (404 `ErrorInvalidUser`), mailbox (404
//! `MailboxNotEnabledForRESTAPI` for unlicensed users and guests), delegated callers only to
//! their own mailbox, application access policy (`App.mailbox_scope`, 403 even with the role),
//! then Outlook throttling (per app and mailbox). The returned guard holds the concurrency
//! slot for the whole request.

use crate::caller::Caller;
use crate::error::{GraphError, GraphResult};
use crate::model::MailboxKind;
use crate::state::AppState;
use crate::throttle::OutlookPermit;
use http::StatusCode;
use std::time::Duration;

/// What an Outlook operation needs from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read contacts and folders.
    ContactsRead,
    /// Create, change or delete contacts and folders.
    ContactsWrite,
    /// Free/busy (`getSchedule`).
    CalendarRead,
    /// Read mailbox settings.
    SettingsRead,
    /// Change mailbox settings.
    SettingsWrite,
    /// Send mail as the mailbox.
    MailSend,
}

impl Need {
    /// The permissions (roles or scopes, same names) that grant this need.
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            Need::ContactsRead => &["Contacts.Read", "Contacts.ReadWrite"],
            Need::ContactsWrite => &["Contacts.ReadWrite"],
            Need::CalendarRead => &[
                "Calendars.ReadBasic",
                "Calendars.Read",
                "Calendars.ReadWrite",
            ],
            Need::SettingsRead => &["MailboxSettings.Read", "MailboxSettings.ReadWrite"],
            Need::SettingsWrite => &["MailboxSettings.ReadWrite"],
            Need::MailSend => &["Mail.Send"],
        }
    }
}

/// A mailbox the caller may use, with its Outlook concurrency slot held until dropped.
#[derive(Debug)]
pub struct MailboxAccess {
    /// The owner's user id (the key of `TenantData.mailboxes`).
    pub user_id: String,
    /// The owner's userPrincipalName.
    pub upn: String,
    /// The owner's primary SMTP address (falls back to the UPN).
    pub mail: String,
    /// What kind of mailbox it is.
    pub kind: MailboxKind,
    _permit: OutlookPermit,
}

/// 404 `ErrorInvalidUser` as Outlook answers for an unknown user.
pub fn invalid_user(key: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ErrorInvalidUser",
        format!("The requested user '{key}' is invalid."),
    )
}

/// Checks everything for `need` on the mailbox of `key` (id or UPN) and takes a throttle slot.
pub async fn mailbox(
    state: &AppState,
    caller: &Caller,
    key: &str,
    need: Need,
) -> GraphResult<MailboxAccess> {
    caller.require(need.permissions(), GraphError::outlook_denied)?;
    let (user_id, upn, mail, kind) = {
        let t = state.tenant.read();
        let user = t.find_user(key).ok_or_else(|| invalid_user(key))?;
        if user.mailbox == MailboxKind::None || !t.mailboxes.contains_key(&user.id) {
            return Err(GraphError::mailbox_not_enabled());
        }
        let upn = user.user_principal_name.clone().unwrap_or_default();
        match &caller.user_id {
            Some(me) if *me != user.id => return Err(GraphError::outlook_denied()),
            Some(_) => {}
            None => {
                let scope = t
                    .apps
                    .get(&caller.app_id)
                    .and_then(|a| a.mailbox_scope.as_ref());
                if let Some(scope) = scope {
                    let inside = scope
                        .iter()
                        .any(|s| *s == user.id || s.eq_ignore_ascii_case(&upn));
                    if !inside {
                        return Err(GraphError::outlook_denied());
                    }
                }
            }
        }
        let mail = user.mail.clone().unwrap_or_else(|| upn.clone());
        (user.id.clone(), upn, mail, user.mailbox)
    };
    let permit = admit(state, &caller.app_id, &user_id).await?;
    Ok(MailboxAccess {
        user_id,
        upn,
        mail,
        kind,
        _permit: permit,
    })
}

/// Takes an Outlook throttle slot for `app` on `mailbox_user` and spends the configured
/// service time and the request's injected latency holding it.
pub async fn admit(state: &AppState, app: &str, mailbox_user: &str) -> GraphResult<OutlookPermit> {
    let (permit, service) = {
        let b = state.behaviour.read();
        (
            state.throttle.outlook(&b, app, mailbox_user)?,
            b.outlook_service_time_ms,
        )
    };
    let mut d = crate::server::take_service_delay();
    if service > 0.0 && service.is_finite() {
        d += Duration::try_from_secs_f64(service / 1000.0).unwrap_or(Duration::from_secs(3600));
    }
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
    Ok(permit)
}
