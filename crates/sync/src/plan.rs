//! From Graph users to extension records, and the outbound caller ID rule.

use config::DidRange;
use directory::{Extension, ExtensionNumber, PhoneKind, PhoneNumber, Region, SiteId, E164};
use graph::models::User;

/// The outbound caller ID for an office phone: its E.164 form when it lies inside one of the
/// site's direct-dial ranges (base followed by an extension in `first..=last`), else none —
/// a number outside the ranges is not ours to present.
pub fn caller_id(office: Option<&PhoneNumber>, ranges: &[DidRange]) -> Option<E164> {
    let e164 = office?.e164.as_ref()?;
    let text = e164.as_str();
    ranges
        .iter()
        .any(|r| {
            text.strip_prefix(r.base.as_str())
                .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|rest| rest.parse::<u32>().ok())
                .is_some_and(|n| (r.first..=r.last).contains(&n))
        })
        .then(|| e164.clone())
}

/// The extension record of `user` with `number`, numbers read in `region`.
pub fn extension_for(
    site: &SiteId,
    user: &User,
    number: ExtensionNumber,
    enabled: bool,
    region: Option<Region>,
    ranges: &[DidRange],
    photo_etag: Option<String>,
) -> Extension {
    let office = user
        .business_phones
        .as_ref()
        .and_then(|p| p.iter().find(|s| !s.trim().is_empty()))
        .map(|raw| PhoneNumber::parse(raw, PhoneKind::Business, region));
    let mobile = user
        .mobile_phone
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|raw| PhoneNumber::parse(raw, PhoneKind::Mobile, region));
    let display_name = user
        .display_name
        .clone()
        .or_else(|| user.user_principal_name.clone())
        .unwrap_or_else(|| user.id.clone());
    Extension {
        site: site.clone(),
        user_id: user.id.clone(),
        number,
        display_name,
        given_name: user.given_name.clone(),
        surname: user.surname.clone(),
        email: user.mail.clone(),
        department: user.department.clone(),
        job_title: user.job_title.clone(),
        outbound_caller_id: caller_id(office.as_ref(), ranges),
        mobile,
        enabled,
        photo_etag,
    }
}

/// One line of the plan, e.g. `create 100 Ann Lee (ann@contoso.com)`.
pub fn line(verb: &str, ext: &Extension) -> String {
    match &ext.email {
        Some(mail) => format!(
            "{verb} {} {} ({mail})",
            ext.number.as_str(),
            ext.display_name
        ),
        None => format!(
            "{verb} {} {} [{}]",
            ext.number.as_str(),
            ext.display_name,
            ext.user_id
        ),
    }
}
