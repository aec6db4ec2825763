//! Outlook calendar → PBX status, for users without Teams presence or for sites that want
//! calendar rules to win: busy/tentative/out-of-office blocks from `getSchedule` and automatic
//! replies become a configured PBX state. [`calendar_state`] is the pure rule;
//! [`CalendarReader`] reads a chunk of users per call through Graph.

use chrono::{DateTime, Duration as TimeDelta, Utc};
use graph::calendar::{AutomaticRepliesSetting, ScheduleItem, MAX_SCHEDULES};
use graph::{GraphClient, GraphError, TokenInfo};
use sip::PbxState;
use std::time::Duration;

/// Which PBX state each kind of calendar time maps to (`None`: that kind sets nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRules {
    /// A busy meeting covers now (default: do not disturb).
    pub busy: Option<PbxState>,
    /// A tentative meeting covers now (default: as busy).
    pub tentative: Option<PbxState>,
    /// Out of office: an `oof` block or automatic replies active now (default: away).
    pub out_of_office: Option<PbxState>,
    /// Calendar state replaces Teams' for every user, not only those without Teams presence.
    pub calendar_wins: bool,
    /// How often a chunk of users' calendars is read.
    pub poll_every: Duration,
}

impl Default for CalendarRules {
    fn default() -> CalendarRules {
        CalendarRules {
            busy: Some(PbxState::Dnd),
            tentative: Some(PbxState::Dnd),
            out_of_office: Some(PbxState::Away),
            calendar_wins: false,
            poll_every: Duration::from_secs(60),
        }
    }
}

/// The kind of a calendar block, as `getSchedule` reports its `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BlockKind {
    /// Free, working elsewhere or unknown: sets nothing.
    Free,
    /// A tentatively accepted meeting.
    Tentative,
    /// A meeting.
    Busy,
    /// Out of office.
    OutOfOffice,
}

impl BlockKind {
    /// Reads Graph's `freeBusyStatus` (case-insensitively; unknown values are free).
    pub fn from_graph(status: &str) -> BlockKind {
        match status.to_ascii_lowercase().as_str() {
            "tentative" => BlockKind::Tentative,
            "busy" => BlockKind::Busy,
            "oof" => BlockKind::OutOfOffice,
            _ => BlockKind::Free,
        }
    }
}

/// One block of time in a calendar, `[start, end)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Start (inclusive).
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
    /// What kind of time it is.
    pub kind: BlockKind,
}

impl Block {
    /// The block Graph reported, or `None` when its times are not readable UTC.
    pub fn from_graph(item: &ScheduleItem) -> Option<Block> {
        Some(Block {
            start: item.start.to_utc()?,
            end: item.end.to_utc()?,
            kind: BlockKind::from_graph(&item.status),
        })
    }

    fn covers(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && now < self.end
    }
}

/// The PBX state a calendar asks for at `now`: out of office (an `oof` block or automatic
/// replies active now) outranks busy, which outranks tentative; `None` when nothing covers
/// `now` or the covering kind maps to nothing.
pub fn calendar_state(
    rules: &CalendarRules,
    now: DateTime<Utc>,
    blocks: &[Block],
    automatic_replies: Option<&AutomaticRepliesSetting>,
) -> Option<PbxState> {
    let mut kind = blocks
        .iter()
        .filter(|b| b.covers(now))
        .map(|b| b.kind)
        .max()
        .unwrap_or(BlockKind::Free);
    if automatic_replies.is_some_and(|r| r.active_at(now)) {
        kind = BlockKind::OutOfOffice;
    }
    // A higher kind that maps to nothing falls back to the next lower kind that is present.
    let present = |k: BlockKind| {
        k <= kind && (k == kind || blocks.iter().any(|b| b.covers(now) && b.kind == k))
    };
    [
        (BlockKind::OutOfOffice, rules.out_of_office),
        (BlockKind::Busy, rules.busy),
        (BlockKind::Tentative, rules.tentative),
    ]
    .into_iter()
    .find_map(|(k, state)| if present(k) { state } else { None })
}

/// The application permissions calendar status needs (a `ReadWrite` grant also does).
pub const NEEDED_ROLES: [&str; 2] = ["Calendars.Read", "MailboxSettings.Read"];

/// Why calendar status cannot run.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// The app was not granted what reading calendars needs.
    #[error(
        "calendar status needs the Graph application permission(s) {}: grant them to the app \
         (with admin consent), or set [site.presence.calendar] enabled = false",
        missing.join(", ")
    )]
    MissingPermissions {
        /// The roles missing from the token.
        missing: Vec<String>,
    },
    /// The token could not be had.
    #[error("checking the app's permissions for calendar status: {0}")]
    Graph(#[from] GraphError),
}

/// The roles of [`NEEDED_ROLES`] the token lacks (`Calendars.ReadWrite` covers
/// `Calendars.Read`, `MailboxSettings.ReadWrite` covers `MailboxSettings.Read`).
pub fn missing_roles(info: &TokenInfo) -> Vec<&'static str> {
    NEEDED_ROLES
        .into_iter()
        .filter(|r| !info.has_role(r) && !info.has_role(&r.replace(".Read", ".ReadWrite")))
        .collect()
}

/// A user whose calendar is read: their Entra id and the SMTP address `getSchedule` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarUser {
    /// Entra object id.
    pub user_id: String,
    /// Primary SMTP address (the emulator also accepts the id).
    pub address: String,
}

/// What one read found for a user: the state their calendar asks for now (`None`: nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarReading {
    /// Entra object id.
    pub user_id: String,
    /// The mapped state, if the calendar asks for one now.
    pub state: Option<PbxState>,
}

/// Reads users' calendars in turns: each [`CalendarReader::read_next`] takes the next
/// [`MAX_SCHEDULES`] users (one `getSchedule` plus one automatic-replies read each), so a
/// poll's cost stays bounded however many users there are.
#[derive(Debug)]
pub struct CalendarReader {
    client: GraphClient,
    rules: CalendarRules,
    users: Vec<CalendarUser>,
    next: usize,
}

impl CalendarReader {
    /// A reader of `users` under `rules`, once the token shows the permissions it needs.
    pub async fn connect(
        client: GraphClient,
        rules: CalendarRules,
        users: Vec<CalendarUser>,
    ) -> Result<Self, CalendarError> {
        let info = client.token_info().await?;
        let missing = missing_roles(&info);
        if !missing.is_empty() {
            return Err(CalendarError::MissingPermissions {
                missing: missing.into_iter().map(str::to_owned).collect(),
            });
        }
        Ok(CalendarReader::new(client, rules, users))
    }

    /// A reader of `users` under `rules`, without checking permissions.
    pub fn new(client: GraphClient, rules: CalendarRules, users: Vec<CalendarUser>) -> Self {
        CalendarReader {
            client,
            rules,
            users,
            next: 0,
        }
    }

    /// How many [`CalendarReader::read_next`] calls read every user once.
    pub fn chunks(&self) -> usize {
        self.users.len().div_ceil(MAX_SCHEDULES)
    }

    /// The rules it maps with.
    pub fn rules(&self) -> &CalendarRules {
        &self.rules
    }

    /// Reads the next chunk of users at the client's clock's `now`. Users whose schedule
    /// Graph could not give (no mailbox, unreadable times) are left out of the answer rather
    /// than cleared; a failed automatic-replies read counts as replies off.
    pub async fn read_next(&mut self) -> Result<Vec<CalendarReading>, GraphError> {
        if self.users.is_empty() {
            return Ok(Vec::new());
        }
        let start = self.next.min(self.users.len());
        let end = (start + MAX_SCHEDULES).min(self.users.len());
        let chunk = self.users[start..end].to_vec();
        self.next = if end >= self.users.len() { 0 } else { end };
        let now = self.client.config().clock.now();
        let addresses: Vec<String> = chunk.iter().map(|u| u.address.clone()).collect();
        let schedules = self
            .client
            .get_schedule(
                &chunk[0].user_id,
                &addresses,
                now,
                now + TimeDelta::minutes(5),
                5,
            )
            .await?;
        let mut out = Vec::with_capacity(chunk.len());
        for user in &chunk {
            let Some(info) = schedules
                .iter()
                .find(|s| s.schedule_id.eq_ignore_ascii_case(&user.address))
            else {
                continue;
            };
            if let Some(e) = &info.error {
                tracing::debug!(user = %user.user_id, code = %e.response_code, "no calendar: {}", e.message);
                continue;
            }
            let blocks: Vec<Block> = info
                .schedule_items
                .iter()
                .filter_map(Block::from_graph)
                .collect();
            let replies = match self.client.automatic_replies(&user.user_id).await {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::debug!(user = %user.user_id, "automatic replies not read: {e}");
                    None
                }
            };
            out.push(CalendarReading {
                user_id: user.user_id.clone(),
                state: calendar_state(&self.rules, now, &blocks, replies.as_ref()),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use graph::calendar::DateTimeTimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0)
            .single()
            .expect("valid time")
    }

    fn block(from: (u32, u32), to: (u32, u32), kind: BlockKind) -> Block {
        Block {
            start: at(from.0, from.1),
            end: at(to.0, to.1),
            kind,
        }
    }

    fn replies(status: &str, from: (u32, u32), to: (u32, u32)) -> AutomaticRepliesSetting {
        AutomaticRepliesSetting {
            status: status.into(),
            scheduled_start_date_time: Some(DateTimeTimeZone::utc(at(from.0, from.1))),
            scheduled_end_date_time: Some(DateTimeTimeZone::utc(at(to.0, to.1))),
            ..Default::default()
        }
    }

    #[test]
    fn a_meeting_covering_now_maps_to_busy_and_ends_at_its_end() {
        let r = CalendarRules::default();
        let blocks = [block((9, 0), (10, 0), BlockKind::Busy)];
        assert_eq!(calendar_state(&r, at(8, 59), &blocks, None), None);
        assert_eq!(
            calendar_state(&r, at(9, 0), &blocks, None),
            Some(PbxState::Dnd)
        );
        assert_eq!(
            calendar_state(&r, at(9, 59), &blocks, None),
            Some(PbxState::Dnd)
        );
        assert_eq!(calendar_state(&r, at(10, 0), &blocks, None), None);
    }

    #[test]
    fn out_of_office_outranks_busy_outranks_tentative() {
        let r = CalendarRules {
            tentative: Some(PbxState::OnCall),
            ..CalendarRules::default()
        };
        let blocks = [
            block((9, 0), (12, 0), BlockKind::Tentative),
            block((10, 0), (11, 0), BlockKind::Busy),
            block((10, 30), (10, 45), BlockKind::OutOfOffice),
            block((9, 0), (12, 0), BlockKind::Free),
        ];
        assert_eq!(
            calendar_state(&r, at(9, 30), &blocks, None),
            Some(PbxState::OnCall)
        );
        assert_eq!(
            calendar_state(&r, at(10, 15), &blocks, None),
            Some(PbxState::Dnd)
        );
        assert_eq!(
            calendar_state(&r, at(10, 40), &blocks, None),
            Some(PbxState::Away)
        );
        assert_eq!(
            calendar_state(&r, at(11, 30), &blocks, None),
            Some(PbxState::OnCall)
        );
    }

    #[test]
    fn automatic_replies_mean_out_of_office_while_active() {
        let r = CalendarRules::default();
        let scheduled = replies("scheduled", (8, 0), (17, 0));
        assert_eq!(calendar_state(&r, at(7, 59), &[], Some(&scheduled)), None);
        assert_eq!(
            calendar_state(&r, at(12, 0), &[], Some(&scheduled)),
            Some(PbxState::Away)
        );
        assert_eq!(calendar_state(&r, at(17, 0), &[], Some(&scheduled)), None);
        let always = replies("alwaysEnabled", (0, 0), (0, 0));
        let blocks = [block((9, 0), (10, 0), BlockKind::Busy)];
        assert_eq!(
            calendar_state(&r, at(9, 30), &blocks, Some(&always)),
            Some(PbxState::Away)
        );
        let off = replies("disabled", (8, 0), (17, 0));
        assert_eq!(
            calendar_state(&r, at(9, 30), &blocks, Some(&off)),
            Some(PbxState::Dnd)
        );
    }

    #[test]
    fn a_kind_mapped_to_nothing_falls_back_to_what_else_covers_now() {
        let r = CalendarRules {
            out_of_office: None,
            tentative: None,
            ..CalendarRules::default()
        };
        let blocks = [
            block((9, 0), (10, 0), BlockKind::Busy),
            block((9, 0), (11, 0), BlockKind::OutOfOffice),
            block((11, 0), (12, 0), BlockKind::Tentative),
        ];
        assert_eq!(
            calendar_state(&r, at(9, 30), &blocks, None),
            Some(PbxState::Dnd)
        );
        assert_eq!(calendar_state(&r, at(10, 30), &blocks, None), None);
        assert_eq!(calendar_state(&r, at(11, 30), &blocks, None), None);
    }

    #[test]
    fn missing_roles_named_and_read_write_accepted() {
        let info = |roles: &[&str]| TokenInfo {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            scopes: Vec::new(),
            expires_at: at(9, 0),
            tenant_id: None,
        };
        assert_eq!(missing_roles(&info(&[])), NEEDED_ROLES.to_vec());
        assert_eq!(
            missing_roles(&info(&["Calendars.ReadWrite", "User.Read.All"])),
            vec!["MailboxSettings.Read"]
        );
        assert!(missing_roles(&info(&["calendars.read", "MailboxSettings.Read"])).is_empty());
        let e = CalendarError::MissingPermissions {
            missing: vec!["MailboxSettings.Read".into()],
        };
        assert!(
            e.to_string().contains("MailboxSettings.Read: grant them"),
            "{e}"
        );
    }

    #[test]
    fn graph_blocks_read_and_unreadable_ones_dropped() {
        let item = |status: &str, zone: &str| ScheduleItem {
            status: status.into(),
            start: DateTimeTimeZone {
                date_time: "2026-03-02T09:00:00.0000000".into(),
                time_zone: zone.into(),
            },
            end: DateTimeTimeZone {
                date_time: "2026-03-02T10:00:00.0000000".into(),
                time_zone: zone.into(),
            },
            ..Default::default()
        };
        assert_eq!(
            Block::from_graph(&item("Busy", "UTC")),
            Some(block((9, 0), (10, 0), BlockKind::Busy))
        );
        assert_eq!(
            Block::from_graph(&item("oof", "Pacific Standard Time")),
            None
        );
        assert_eq!(
            Block::from_graph(&item("workingElsewhere", "UTC")).map(|b| b.kind),
            Some(BlockKind::Free)
        );
    }
}
