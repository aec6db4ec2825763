//! What a users job reads from Graph: the users' delta round and the selection's base set.

use crate::error::SyncError;
use crate::select::USER_SELECT;
use config::UserScope;
use graph::delta::{DeltaChange, DeltaOptions, DeltaOutcome, DeltaRound};
use graph::models::User;
use graph::GraphClient;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};

/// The result of a users delta round.
#[derive(Debug)]
pub struct UsersRound {
    /// Users created or changed (all users when the round was full), by id.
    pub users: HashMap<String, User>,
    /// Users deleted or gone from the directory.
    pub gone: BTreeSet<String>,
    /// The link the next round starts from.
    pub delta_link: String,
    /// Whether Graph dropped the stored token, so this round read everything again.
    pub reset: bool,
}

/// Runs a `/users/delta` round from `token` (or from scratch), starting over once when Graph
/// dropped the token.
pub async fn users_round(
    client: &GraphClient,
    token: Option<&str>,
) -> Result<UsersRound, SyncError> {
    let initial = format!("/users/delta?$select={USER_SELECT}");
    let mut outcome = DeltaRound::<User>::new(client, &initial, token, DeltaOptions::default())
        .run()
        .await?;
    let mut reset = false;
    if let DeltaOutcome::Reset { restart_url } = &outcome {
        reset = true;
        outcome = DeltaRound::<User>::new(client, restart_url, None, DeltaOptions::default())
            .run()
            .await?;
    }
    let (changes, delta_link) = match outcome {
        DeltaOutcome::Complete {
            changes,
            delta_link,
        } => (changes, delta_link),
        DeltaOutcome::Reset { .. } => {
            return Err(SyncError::Graph(graph::GraphError::Invalid(
                "Graph dropped the users delta state twice in a row; try again later".into(),
            )))
        }
    };
    let mut users = HashMap::new();
    let mut gone = BTreeSet::new();
    for c in changes {
        match c {
            DeltaChange::Upsert(u) if u.deleted_date_time.is_some() => {
                gone.insert(u.id);
            }
            DeltaChange::Upsert(u) => {
                users.insert(u.id.clone(), u);
            }
            DeltaChange::Removed { id, .. } => {
                gone.insert(id);
            }
        }
    }
    Ok(UsersRound {
        users,
        gone,
        delta_link,
        reset,
    })
}

/// A directory object as member lists return it.
#[derive(Deserialize)]
struct Member {
    id: String,
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
}

/// The ids of the selection's base set: the group's transitive user members, or the holders
/// of the licence.
pub async fn base_set(
    client: &GraphClient,
    scope: UserScope,
) -> Result<BTreeSet<String>, SyncError> {
    Ok(match scope {
        UserScope::Group(g) => {
            let members: Vec<Member> = client
                .get_all_pages(&format!(
                    "/groups/{g}/transitiveMembers?$select=id&$top=999"
                ))
                .await?;
            members
                .into_iter()
                .filter(|m| {
                    m.odata_type
                        .as_deref()
                        .is_none_or(|t| t == "#microsoft.graph.user")
                })
                .map(|m| m.id)
                .collect()
        }
        UserScope::Licence(sku) => {
            let all: Vec<User> = client
                .get_all_pages("/users?$select=id,assignedLicenses&$top=999")
                .await?;
            let sku = sku.to_string();
            all.into_iter()
                .filter(|u| {
                    u.assigned_licenses
                        .as_ref()
                        .is_some_and(|l| l.iter().any(|a| a.sku_id.eq_ignore_ascii_case(&sku)))
                })
                .map(|u| u.id)
                .collect()
        }
    })
}
