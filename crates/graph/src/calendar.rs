//! Outlook free/busy and automatic replies: `calendar/getSchedule` (busy blocks of many
//! mailboxes in one request) and `mailboxSettings/automaticRepliesSetting`, as pbx365 reads
//! them to derive a PBX status from calendars. Times are asked for and read in UTC.

use crate::error::GraphError;
use crate::http::{GraphClient, Request};
use crate::paging::Page;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// Schedules pbx365 asks for per `getSchedule` request. Microsoft documents no hard cap but
/// throttles large requests per mailbox; 20 keeps each request small and well within it.
pub const MAX_SCHEDULES: usize = 20;

/// Graph's `dateTimeTimeZone`: a wall-clock time and the zone it is in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DateTimeTimeZone {
    /// `2024-01-02T09:00:00.0000000`.
    pub date_time: String,
    /// `UTC` for everything pbx365 asks for.
    pub time_zone: String,
}

impl DateTimeTimeZone {
    /// The UTC instant `t`, in Graph's shape.
    pub fn utc(t: DateTime<Utc>) -> DateTimeTimeZone {
        DateTimeTimeZone {
            date_time: t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            time_zone: "UTC".into(),
        }
    }

    /// The instant, when the zone is UTC (or unstated) and the time parses; `None` otherwise,
    /// since pbx365 asks Graph for UTC and does not guess other zones.
    pub fn to_utc(&self) -> Option<DateTime<Utc>> {
        let zone = self.time_zone.trim();
        if !(zone.is_empty()
            || zone.eq_ignore_ascii_case("UTC")
            || zone.eq_ignore_ascii_case("Etc/UTC"))
        {
            return None;
        }
        let s = self.date_time.trim().trim_end_matches('Z');
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
            .ok()
            .map(|t| t.and_utc())
    }
}

/// One block of a mailbox's calendar as `getSchedule` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScheduleItem {
    /// `free`, `tentative`, `busy`, `oof`, `workingElsewhere` or `unknown`.
    pub status: String,
    /// Start of the block.
    pub start: DateTimeTimeZone,
    /// End of the block.
    pub end: DateTimeTimeZone,
    /// Subject, when the caller may see it.
    pub subject: Option<String>,
    /// Whether the meeting is private.
    pub is_private: Option<bool>,
}

/// The error Graph reports for one schedule of a `getSchedule` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FreeBusyError {
    /// Human-readable message.
    pub message: String,
    /// Code such as `ErrorMailRecipientNotFound`.
    pub response_code: String,
}

/// One mailbox's free/busy answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScheduleInformation {
    /// The address or id it was asked for, as written in the request.
    pub schedule_id: String,
    /// One digit per interval: 0 free, 1 tentative, 2 busy, 3 oof, 4 working elsewhere.
    pub availability_view: String,
    /// The blocks overlapping the asked window.
    pub schedule_items: Vec<ScheduleItem>,
    /// Set when this one schedule could not be read (others still answer).
    pub error: Option<FreeBusyError>,
}

/// A mailbox's automatic-replies (out-of-office) setting.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AutomaticRepliesSetting {
    /// `disabled`, `alwaysEnabled` or `scheduled`.
    pub status: String,
    /// `none`, `contactsOnly` or `all`.
    pub external_audience: Option<String>,
    /// Reply to people inside the organisation.
    pub internal_reply_message: Option<String>,
    /// Reply to people outside.
    pub external_reply_message: Option<String>,
    /// Start of a `scheduled` window.
    pub scheduled_start_date_time: Option<DateTimeTimeZone>,
    /// End of a `scheduled` window.
    pub scheduled_end_date_time: Option<DateTimeTimeZone>,
}

impl AutomaticRepliesSetting {
    /// Whether automatic replies are being sent at `now`: always enabled, or scheduled with a
    /// window that covers `now` (a scheduled setting whose times do not parse counts as off).
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        match self.status.as_str() {
            s if s.eq_ignore_ascii_case("alwaysEnabled") => true,
            s if s.eq_ignore_ascii_case("scheduled") => {
                let start = self
                    .scheduled_start_date_time
                    .as_ref()
                    .and_then(|t| t.to_utc());
                let end = self
                    .scheduled_end_date_time
                    .as_ref()
                    .and_then(|t| t.to_utc());
                matches!((start, end), (Some(s), Some(e)) if s <= now && now < e)
            }
            _ => false,
        }
    }
}

impl GraphClient {
    /// Free/busy of `schedules` (SMTP addresses) between `start` and `end` in UTC, in slots of
    /// `interval_minutes` (Graph takes 5..=1440), read through `user`'s mailbox, in requests of
    /// [`MAX_SCHEDULES`]. Needs `Calendars.Read`. The answer keeps the order asked for.
    pub async fn get_schedule(
        &self,
        user: &str,
        schedules: &[String],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        interval_minutes: u32,
    ) -> Result<Vec<ScheduleInformation>, GraphError> {
        let mut all = Vec::with_capacity(schedules.len());
        for chunk in schedules.chunks(MAX_SCHEDULES) {
            let req = Request::post(
                format!("/users/{user}/calendar/getSchedule"),
                serde_json::json!({
                    "schedules": chunk,
                    "startTime": DateTimeTimeZone::utc(start),
                    "endTime": DateTimeTimeZone::utc(end),
                    "availabilityViewInterval": interval_minutes.clamp(5, 1440),
                }),
            )
            .header("Prefer", "outlook.timezone=\"UTC\"")
            .retry_safe();
            let page: Page<ScheduleInformation> = self.send_json(req).await?;
            all.extend(page.value);
        }
        Ok(all)
    }

    /// `user`'s automatic-replies setting. Needs `MailboxSettings.Read`.
    pub async fn automatic_replies(
        &self,
        user: &str,
    ) -> Result<AutomaticRepliesSetting, GraphError> {
        self.get_json(&format!(
            "/users/{user}/mailboxSettings/automaticRepliesSetting"
        ))
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0)
            .single()
            .expect("valid time")
    }

    fn dt(s: &str, zone: &str) -> DateTimeTimeZone {
        DateTimeTimeZone {
            date_time: s.into(),
            time_zone: zone.into(),
        }
    }

    #[test]
    fn times_read_in_utc_only() {
        assert_eq!(
            dt("2026-03-02T09:30:00.0000000", "UTC").to_utc(),
            Some(at(9, 30))
        );
        assert_eq!(dt("2026-03-02T09:30", "").to_utc(), Some(at(9, 30)));
        assert_eq!(
            dt("2026-03-02T09:30:00", "W. Europe Standard Time").to_utc(),
            None
        );
        assert_eq!(dt("yesterday", "UTC").to_utc(), None);
        assert_eq!(DateTimeTimeZone::utc(at(9, 30)).to_utc(), Some(at(9, 30)));
    }

    #[test]
    fn automatic_replies_active_when_enabled_or_scheduled_now() {
        let mut r: AutomaticRepliesSetting = serde_json::from_str(
            r#"{"status":"scheduled","scheduledStartDateTime":{"dateTime":"2026-03-02T09:00:00.0000000","timeZone":"UTC"},
                "scheduledEndDateTime":{"dateTime":"2026-03-02T10:00:00.0000000","timeZone":"UTC"},"somethingNew":1}"#,
        )
        .expect("Graph's shape");
        assert!(!r.active_at(at(8, 59)));
        assert!(r.active_at(at(9, 0)));
        assert!(!r.active_at(at(10, 0)));
        r.status = "alwaysEnabled".into();
        assert!(r.active_at(at(23, 0)));
        r.status = "disabled".into();
        assert!(!r.active_at(at(9, 30)));
    }
}
