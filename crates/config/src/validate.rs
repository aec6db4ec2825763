//! Turns the loose file shape into the validated model: ranges, formats, cross-field rules, and
//! reading the files that `*_file` keys name.

use crate::error::ConfigError;
use crate::model::*;
use crate::raw::*;
use crate::secret::{read_secret_file, read_text_file, Secret};
use directory::{DiallingPlan, ExtensionRange, NumberForm, Region};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

/// Default authority (Entra ID, global cloud).
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
/// Default Graph endpoint (global cloud, v1.0).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
/// Default store: a SQLite file in the working directory.
pub const DEFAULT_STORE_URL: &str = "sqlite://pbx365.db";

/// Context for one validation pass: where relative files live, and warnings gathered on the way.
pub(crate) struct Validator<'a> {
    pub base_dir: &'a Path,
    /// Whether `site[i].tenant.client_secret` came from the file (forbidden) per site index.
    pub secret_in_file: Vec<bool>,
    /// Whether `site[i].presence.password` came from the file (forbidden) per site index.
    pub presence_password_in_file: Vec<bool>,
    pub warnings: Vec<String>,
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

fn not_set() -> String {
    "(not set)".to_owned()
}

impl Validator<'_> {
    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
    }

    pub fn store(&mut self, raw: RawStore) -> Result<Store, ConfigError> {
        let url = raw.url.unwrap_or_else(|| DEFAULT_STORE_URL.to_owned());
        let ok = ["sqlite://", "sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| url.starts_with(p) && url.len() > p.len());
        if !ok {
            return Err(ConfigError::invalid(
                "store.url",
                q(&url),
                "sqlite://FILE or postgres://USER@HOST/DB",
            ));
        }
        let key_file = raw.key_file.map(|f| self.resolve(&f));
        Ok(Store { url, key_file })
    }

    pub fn sites(&mut self, raw: Vec<RawSite>) -> Result<Vec<Site>, ConfigError> {
        if raw.is_empty() {
            return Err(ConfigError::invalid(
                "site",
                not_set(),
                "at least one [[site]] table",
            ));
        }
        let mut names = BTreeSet::new();
        let mut sites = Vec::with_capacity(raw.len());
        for (i, s) in raw.into_iter().enumerate() {
            let site = self.site(i, s)?;
            if !names.insert(site.name.clone()) {
                return Err(ConfigError::invalid(
                    format!("site[{i}].name"),
                    q(&site.name),
                    "a name no other site uses",
                ));
            }
            sites.push(site);
        }
        Ok(sites)
    }

    fn site(&mut self, i: usize, raw: RawSite) -> Result<Site, ConfigError> {
        let p = format!("site[{i}]");
        let name = raw.name;
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(ConfigError::invalid(
                format!("{p}.name"),
                q(&name),
                "1 to 64 letters, digits, '-' or '_'",
            ));
        }
        let tenant = self.tenant(&p, i, raw.tenant)?;
        let extensions = extensions(&p, raw.extensions)?;
        let dialling = dialling(&p, raw.dialling, &extensions)?;
        let users = users(&p, raw.users)?;
        let deprovisioning = deprovisioning(&p, raw.deprovisioning)?;
        let guards = guards(&p, raw.guards)?;
        let sources = Sources {
            users: raw.sources.users.unwrap_or(true),
            personal_contacts: raw.sources.personal_contacts.unwrap_or(true),
            shared_mailboxes: raw.sources.shared_mailboxes.unwrap_or(true),
            org_contacts: raw.sources.org_contacts.unwrap_or(true),
        };
        let shared_mailboxes = upn_list(&format!("{p}.shared_mailboxes"), raw.shared_mailboxes)?;
        if sources.shared_mailboxes && shared_mailboxes.is_empty() {
            self.warnings.push(format!(
                "{p}.sources.shared_mailboxes is on but {p}.shared_mailboxes lists no mailbox; \
                 the company phonebook gets no shared-mailbox contacts"
            ));
        }
        let photos = Photos {
            schedule: photo_schedule(&p, raw.photos.schedule)?,
        };
        let directory = crate::serve::site_directory(&p, raw.directory)?;
        let presence = match raw.presence {
            None => None,
            Some(rp) => Some(crate::presence_bridge::validate(
                &p,
                i,
                rp,
                self.presence_password_in_file
                    .get(i)
                    .copied()
                    .unwrap_or(false),
                self.base_dir,
                &mut self.warnings,
            )?),
        };
        Ok(Site {
            name,
            tenant,
            dialling,
            users,
            extensions,
            deprovisioning,
            guards,
            sources,
            shared_mailboxes,
            photos,
            directory,
            presence,
        })
    }

    fn tenant(&mut self, p: &str, i: usize, raw: RawTenant) -> Result<Tenant, ConfigError> {
        let p = format!("{p}.tenant");
        let tenant_id = guid(&format!("{p}.tenant_id"), &raw.tenant_id)?;
        let client_id = guid(&format!("{p}.client_id"), &raw.client_id)?;
        if self.secret_in_file.get(i).copied().unwrap_or(false) {
            return Err(ConfigError::invalid(
                format!("{p}.client_secret"),
                "[redacted]",
                format!(
                    "no secret in the file: use client_secret_file = \"PATH\" or the variable \
                     PBX365_SITE__{i}__TENANT__CLIENT_SECRET"
                ),
            ));
        }
        let given: Vec<&str> = [
            raw.client_secret_file
                .as_ref()
                .map(|_| "client_secret_file"),
            raw.client_secret.as_ref().map(|_| "client_secret"),
            raw.certificate_file
                .as_ref()
                .or(raw.private_key_file.as_ref())
                .map(|_| "certificate_file + private_key_file"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let one_of = "exactly one credential: client_secret_file, the client_secret variable, \
                      or certificate_file with private_key_file";
        let credential = match (
            raw.client_secret_file,
            raw.client_secret,
            raw.certificate_file,
            raw.private_key_file,
        ) {
            (Some(file), None, None, None) => {
                let key = format!("{p}.client_secret_file");
                let (secret, warning) = read_secret_file(&key, &self.resolve(&file))?;
                self.warnings.extend(warning);
                Credential::ClientSecret(secret)
            }
            (None, Some(secret), None, None) => {
                if secret.trim().is_empty() {
                    return Err(ConfigError::invalid(
                        format!("{p}.client_secret"),
                        "\"\"",
                        "the client secret (it is empty)",
                    ));
                }
                Credential::ClientSecret(Secret::new(secret))
            }
            (None, None, Some(cert), Some(key_file)) => {
                let cert_key = format!("{p}.certificate_file");
                let (pem, warning) = read_text_file(&cert_key, &self.resolve(&cert))?;
                drop(warning); // a certificate is public
                if !pem.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(ConfigError::invalid(
                        cert_key,
                        q(&cert.display().to_string()),
                        "a PEM file with a -----BEGIN CERTIFICATE----- block",
                    ));
                }
                let key_key = format!("{p}.private_key_file");
                let (key_pem, warning) = read_secret_file(&key_key, &self.resolve(&key_file))?;
                self.warnings.extend(warning);
                if !key_pem.expose().contains("PRIVATE KEY-----") {
                    return Err(ConfigError::invalid(
                        key_key,
                        q(&key_file.display().to_string()),
                        "a PEM file with a PRIVATE KEY block",
                    ));
                }
                Credential::Certificate {
                    certificate_pem: pem,
                    private_key_pem: key_pem,
                }
            }
            (None, None, Some(_), None) => {
                return Err(ConfigError::invalid(
                    format!("{p}.private_key_file"),
                    not_set(),
                    "the certificate's private key file (certificate_file is set)",
                ))
            }
            (None, None, None, Some(_)) => {
                return Err(ConfigError::invalid(
                    format!("{p}.certificate_file"),
                    not_set(),
                    "the certificate file (private_key_file is set)",
                ))
            }
            (None, None, None, None) => {
                return Err(ConfigError::invalid(
                    format!("{p}.client_secret_file"),
                    not_set(),
                    one_of,
                ))
            }
            _ => return Err(ConfigError::invalid(p.clone(), given.join(" and "), one_of)),
        };
        let authority_url = self.url(
            &format!("{p}.authority_url"),
            raw.authority_url
                .as_deref()
                .unwrap_or(DEFAULT_AUTHORITY_URL),
        )?;
        let graph_url = self.url(
            &format!("{p}.graph_url"),
            raw.graph_url.as_deref().unwrap_or(DEFAULT_GRAPH_URL),
        )?;
        let ca = match raw.ca_file {
            None => None,
            Some(file) => {
                let key = format!("{p}.ca_file");
                let path = self.resolve(&file);
                let (pem, _) = read_text_file(&key, &path)?;
                if !pem.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(ConfigError::invalid(
                        key,
                        q(&file.display().to_string()),
                        "a PEM file with at least one -----BEGIN CERTIFICATE----- block",
                    ));
                }
                Some(CaFile { path, pem })
            }
        };
        Ok(Tenant {
            tenant_id,
            client_id,
            credential,
            authority_url,
            graph_url,
            ca,
        })
    }

    fn url(&mut self, key: &str, value: &str) -> Result<String, ConfigError> {
        let expected = "an http:// or https:// URL such as https://graph.microsoft.com/v1.0";
        let (scheme, rest) = value
            .split_once("://")
            .ok_or_else(|| ConfigError::invalid(key, q(value), expected))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if !matches!(scheme, "http" | "https")
            || host.is_empty()
            || value.contains(char::is_whitespace)
            || rest.contains(['?', '#'])
        {
            return Err(ConfigError::invalid(key, q(value), expected));
        }
        if scheme == "http" {
            let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
            if !matches!(hostname, "127.0.0.1" | "localhost" | "[::1]") {
                self.warnings.push(format!(
                    "{key} uses plain http to {host}: tokens would cross the network unencrypted"
                ));
            }
        }
        Ok(value.trim_end_matches('/').to_owned())
    }
}

fn guid(key: &str, value: &str) -> Result<Uuid, ConfigError> {
    let expected = "a GUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6";
    match Uuid::try_parse(value) {
        Ok(u) if !u.is_nil() && value.len() == 36 => Ok(u),
        _ => Err(ConfigError::invalid(key, q(value), expected)),
    }
}

fn digits(key: &str, value: &Text, min: usize, max: usize) -> Result<String, ConfigError> {
    let v = &value.0;
    if v.len() < min || v.len() > max || !v.bytes().all(|b| b.is_ascii_digit()) {
        let expected = if min == max {
            format!("a string of {min} digit(s)")
        } else {
            format!("a string of {min} to {max} digits")
        };
        return Err(ConfigError::invalid(key, q(v), expected));
    }
    Ok(v.clone())
}

fn extensions(p: &str, raw: RawExtensions) -> Result<Extensions, ConfigError> {
    let p = format!("{p}.extensions");
    if !(2..=8).contains(&raw.length) {
        return Err(ConfigError::invalid(
            format!("{p}.length"),
            raw.length.to_string(),
            "a number of digits from 2 to 8",
        ));
    }
    let length = raw.length as u8;
    let (lo, hi) = digit_bounds(length);
    if raw.first_number < lo || raw.first_number > hi {
        return Err(ConfigError::invalid(
            format!("{p}.first_number"),
            raw.first_number.to_string(),
            format!("a number with {length} digits (extensions.length), from {lo} to {hi}"),
        ));
    }
    let quarantine_days = match raw.quarantine_days {
        None => 30,
        Some(d) if (0..=3650).contains(&d) => d as u32,
        Some(d) => {
            return Err(ConfigError::invalid(
                format!("{p}.quarantine_days"),
                d.to_string(),
                "a number of days from 0 to 3650",
            ))
        }
    };
    Ok(Extensions {
        first_number: raw.first_number as u32,
        length,
        quarantine_days,
    })
}

/// The smallest and largest number with `length` digits (no leading zero).
fn digit_bounds(length: u8) -> (i64, i64) {
    let lo = 10_i64.pow(u32::from(length) - 1);
    (lo, lo * 10 - 1)
}

fn dialling(p: &str, raw: RawDialling, ext: &Extensions) -> Result<Dialling, ConfigError> {
    let p = format!("{p}.dialling");
    let c = raw.country.trim();
    if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ConfigError::invalid(
            format!("{p}.country"),
            q(&raw.country),
            "an ISO 3166-1 alpha-2 country code such as \"DE\" or \"US\"",
        ));
    }
    let country = c.to_ascii_uppercase();
    let region = Region::new(&country).map_err(|_| {
        ConfigError::invalid(
            format!("{p}.country"),
            q(&raw.country),
            "an ISO 3166-1 alpha-2 country code with a known numbering plan, such as \"DE\" or \
             \"US\"",
        )
    })?;
    let defaults = DiallingPlan::for_region(region);
    let opt = |key: &str, v: Option<Text>, min, max| {
        v.map(|v| digits(&format!("{p}.{key}"), &v, min, max))
            .transpose()
    };
    let international_prefix = opt("international_prefix", raw.international_prefix, 2, 4)?
        .unwrap_or(defaults.international_prefix);
    let national_prefix =
        opt("national_prefix", raw.national_prefix, 0, 2)?.unwrap_or(defaults.national_prefix);
    let area_code = opt("area_code", raw.area_code, 1, 6)?;
    if let Some(area) = &area_code {
        if !national_prefix.is_empty() && area.starts_with(&national_prefix) {
            return Err(ConfigError::invalid(
                format!("{p}.area_code"),
                q(area),
                format!(
                    "the area code without the national prefix {national_prefix:?} (\"{}\" \
                     rather than \"{area}\")",
                    &area[national_prefix.len()..]
                ),
            ));
        }
    }
    let outside_line_prefix = opt("outside_line_prefix", raw.outside_line_prefix, 1, 2)?;
    let extension_lengths = extension_lengths(&p, raw.extension_lengths, ext)?;
    let extension_ranges = extension_ranges(&p, raw.extension_ranges, &extension_lengths, ext)?;
    let number_form = match raw.number_form {
        None => NumberForm::default(),
        Some(v) => NumberForm::parse(&v).ok_or_else(|| {
            ConfigError::invalid(
                format!("{p}.number_form"),
                q(&v),
                "one of \"dialable\" (what a phone of the site dials), \"e164\" or \"both\"",
            )
        })?,
    };
    let mut did_ranges: Vec<DidRange> = Vec::new();
    for (j, r) in raw.did_ranges.into_iter().enumerate() {
        let rp = format!("{p}.did_ranges[{j}]");
        for (key, v) in [("first", r.first), ("last", r.last)] {
            if length_of(v).is_none_or(|l| !extension_lengths.contains(&l)) {
                return Err(ConfigError::invalid(
                    format!("{rp}.{key}"),
                    v.to_string(),
                    extension_expected(&extension_lengths, ext),
                ));
            }
        }
        if length_of(r.first) != length_of(r.last) {
            return Err(ConfigError::invalid(
                format!("{rp}.last"),
                r.last.to_string(),
                format!("an extension with as many digits as first ({})", r.first),
            ));
        }
        if r.first > r.last {
            return Err(ConfigError::invalid(
                format!("{rp}.last"),
                r.last.to_string(),
                format!("a number not below first ({})", r.first),
            ));
        }
        let ext_len = length_of(r.first).unwrap_or(ext.length);
        let base = &r.base.0;
        let base_digits = base.strip_prefix('+').unwrap_or("");
        let max_base = 15 - usize::from(ext_len);
        if base_digits.is_empty()
            || base_digits.len() > max_base
            || !base_digits.bytes().all(|b| b.is_ascii_digit())
            || base_digits.starts_with('0')
        {
            return Err(ConfigError::invalid(
                format!("{rp}.base"),
                q(base),
                format!(
                    "an E.164 prefix: '+', country code, then digits, at most {max_base} digits \
                     so that base + a {ext_len}-digit extension fits in 15"
                ),
            ));
        }
        let company = match r.company {
            None => None,
            Some(name) if !name.trim().is_empty() && name.trim().chars().count() <= 256 => {
                Some(name.trim().to_owned())
            }
            Some(name) => {
                return Err(ConfigError::invalid(
                    format!("{rp}.company"),
                    q(&name),
                    "the company's name (1 to 256 characters), or leave the key out",
                ))
            }
        };
        let (first, last) = (r.first as u32, r.last as u32);
        if let Some(k) = did_ranges
            .iter()
            .position(|o| first <= o.last && o.first <= last)
        {
            return Err(ConfigError::invalid(
                format!("{rp}.first"),
                first.to_string(),
                format!("a range that does not overlap {p}.did_ranges[{k}]"),
            ));
        }
        did_ranges.push(DidRange {
            base: base.clone(),
            first,
            last,
            company,
        });
    }
    Ok(Dialling {
        country,
        region,
        area_code,
        outside_line_prefix,
        international_prefix,
        national_prefix,
        extension_length: ext.length,
        extension_lengths,
        extension_ranges,
        number_form,
        did_ranges,
    })
}

/// The number of digits of `v` when it is a positive number (extensions have no leading 0).
fn length_of(v: i64) -> Option<u8> {
    (1..=99_999_999)
        .contains(&v)
        .then(|| v.to_string().len() as u8)
}

/// What an extension number in a range must look like, in words.
fn extension_expected(lengths: &[u8], ext: &Extensions) -> String {
    match lengths {
        [only] if *only == ext.length => {
            let (lo, hi) = digit_bounds(*only);
            format!("an extension with {only} digits (extensions.length), from {lo} to {hi}")
        }
        _ => {
            let list: Vec<String> = lengths.iter().map(u8::to_string).collect();
            format!(
                "an extension with {} digits (dialling.extension_lengths)",
                list.join(" or ")
            )
        }
    }
}

fn extension_lengths(
    p: &str,
    raw: Option<Vec<i64>>,
    ext: &Extensions,
) -> Result<Vec<u8>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(vec![ext.length]);
    };
    let key = format!("{p}.extension_lengths");
    let mut lengths = Vec::with_capacity(raw.len());
    for (i, l) in raw.iter().enumerate() {
        if !(2..=8).contains(l) {
            return Err(ConfigError::invalid(
                format!("{key}[{i}]"),
                l.to_string(),
                "a number of digits from 2 to 8",
            ));
        }
        lengths.push(*l as u8);
    }
    lengths.sort_unstable();
    lengths.dedup();
    if !lengths.contains(&ext.length) {
        return Err(ConfigError::invalid(
            key,
            format!("{raw:?}"),
            format!(
                "a list of digit counts that includes extensions.length ({}), so that allocated \
                 extensions are recognised as internal",
                ext.length
            ),
        ));
    }
    Ok(lengths)
}

fn extension_ranges(
    p: &str,
    raw: Vec<RawExtensionRange>,
    lengths: &[u8],
    ext: &Extensions,
) -> Result<Vec<ExtensionRange>, ConfigError> {
    let mut ranges = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let rp = format!("{p}.extension_ranges[{i}]");
        for (key, v) in [("first", r.first), ("last", r.last)] {
            if length_of(v).is_none_or(|l| !lengths.contains(&l)) {
                return Err(ConfigError::invalid(
                    format!("{rp}.{key}"),
                    v.to_string(),
                    extension_expected(lengths, ext),
                ));
            }
        }
        if r.first > r.last {
            return Err(ConfigError::invalid(
                format!("{rp}.last"),
                r.last.to_string(),
                format!("a number not below first ({})", r.first),
            ));
        }
        ranges.push(ExtensionRange {
            first: r.first as u64,
            last: r.last as u64,
        });
    }
    let first = u64::from(ext.first_number);
    if !ranges.is_empty() && !ranges.iter().any(|r| r.contains(first)) {
        return Err(ConfigError::invalid(
            format!("{p}.extension_ranges"),
            format!("{} range(s)", ranges.len()),
            format!(
                "ranges that include extensions.first_number ({first}), so that allocated \
                 extensions are recognised as internal"
            ),
        ));
    }
    Ok(ranges)
}

fn upn(key: &str, value: &str) -> Result<String, ConfigError> {
    let ok = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !value.contains(char::is_whitespace)
        }
        None => false,
    };
    if !ok {
        return Err(ConfigError::invalid(
            key,
            q(value),
            "a user principal name such as alice@contoso.com",
        ));
    }
    Ok(value.to_ascii_lowercase())
}

/// Validates a UPN list: lower-cased, no duplicates, sorted.
fn upn_list(key: &str, values: Vec<String>) -> Result<Vec<String>, ConfigError> {
    let mut seen = BTreeSet::new();
    for (j, v) in values.iter().enumerate() {
        let k = format!("{key}[{j}]");
        let u = upn(&k, v)?;
        if !seen.insert(u) {
            return Err(ConfigError::invalid(k, q(v), "a UPN not already listed"));
        }
    }
    Ok(seen.into_iter().collect())
}

fn users(p: &str, raw: RawUsers) -> Result<UserSelection, ConfigError> {
    let p = format!("{p}.users");
    let scope = match (&raw.group_id, &raw.licence_sku_id) {
        (Some(g), None) => UserScope::Group(guid(&format!("{p}.group_id"), g)?),
        (None, Some(l)) => UserScope::Licence(guid(&format!("{p}.licence_sku_id"), l)?),
        (None, None) => {
            return Err(ConfigError::invalid(
                format!("{p}.group_id"),
                not_set(),
                "the id of the group whose members become extensions, or licence_sku_id",
            ))
        }
        (Some(_), Some(l)) => {
            return Err(ConfigError::invalid(
                format!("{p}.licence_sku_id"),
                q(l),
                "not set when group_id is set (choose the group or the licence)",
            ))
        }
    };
    let include_upns = upn_list(&format!("{p}.include_upns"), raw.include_upns)?;
    let exclude_upns = upn_list(&format!("{p}.exclude_upns"), raw.exclude_upns)?;
    if let Some(both) = include_upns.iter().find(|u| exclude_upns.contains(u)) {
        return Err(ConfigError::invalid(
            format!("{p}.exclude_upns"),
            q(both),
            "a UPN that include_upns does not also list",
        ));
    }
    let mut department_groups = Vec::new();
    for (j, g) in raw.department_groups.iter().enumerate() {
        let id = guid(&format!("{p}.department_groups[{j}]"), g)?;
        if !department_groups.contains(&id) {
            department_groups.push(id);
        }
    }
    department_groups.sort();
    let disabled = match raw.disabled.as_deref() {
        None | Some("skip") => DisabledUsers::Skip,
        Some("disable") => DisabledUsers::Disable,
        Some(other) => {
            return Err(ConfigError::invalid(
                format!("{p}.disabled"),
                q(other),
                "\"skip\" or \"disable\"",
            ))
        }
    };
    Ok(UserSelection {
        scope,
        include_upns,
        exclude_upns,
        department_groups,
        guests: raw.guests,
        include_shared_mailboxes: raw.include_shared_mailboxes,
        include_rooms: raw.include_rooms,
        include_equipment: raw.include_equipment,
        include_resource_accounts: raw.include_resource_accounts,
        disabled,
    })
}

fn deprovisioning(p: &str, raw: RawDeprovisioning) -> Result<Deprovisioning, ConfigError> {
    let p = format!("{p}.deprovisioning");
    let policy = raw.policy.as_deref().unwrap_or("disable");
    let days_key = format!("{p}.days");
    match (policy, raw.days) {
        ("delete_after_days", Some(d)) if (1..=3650).contains(&d) => {
            Ok(Deprovisioning::DeleteAfterDays(d as u32))
        }
        ("delete_after_days", Some(d)) => Err(ConfigError::invalid(
            days_key,
            d.to_string(),
            "a number of days from 1 to 3650",
        )),
        ("delete_after_days", None) => Err(ConfigError::invalid(
            days_key,
            not_set(),
            "the number of days before deletion (policy = \"delete_after_days\")",
        )),
        ("disable" | "keep", Some(d)) => Err(ConfigError::invalid(
            days_key,
            d.to_string(),
            "no days unless policy = \"delete_after_days\"",
        )),
        ("disable", None) => Ok(Deprovisioning::Disable),
        ("keep", None) => Ok(Deprovisioning::Keep),
        (other, _) => Err(ConfigError::invalid(
            format!("{p}.policy"),
            q(other),
            "\"disable\", \"delete_after_days\" or \"keep\"",
        )),
    }
}

fn guards(p: &str, raw: RawGuards) -> Result<Guards, ConfigError> {
    let p = format!("{p}.guards");
    let percent = raw.mass_deletion_percent.unwrap_or(10);
    if !(1..=100).contains(&percent) {
        return Err(ConfigError::invalid(
            format!("{p}.mass_deletion_percent"),
            percent.to_string(),
            "a percentage from 1 to 100",
        ));
    }
    let min = raw.mass_deletion_min.unwrap_or(20);
    if !(0..=i64::from(u32::MAX)).contains(&min) {
        return Err(ConfigError::invalid(
            format!("{p}.mass_deletion_min"),
            min.to_string(),
            "a number of extensions, 0 or more",
        ));
    }
    Ok(Guards {
        mass_deletion_percent: percent as u8,
        mass_deletion_min: min as u32,
    })
}

fn photo_schedule(p: &str, raw: Option<String>) -> Result<PhotoSchedule, ConfigError> {
    let key = format!("{p}.photos.schedule");
    let expected = "\"nightly\", \"off\", or an interval of at least 15 minutes such as \
                    \"30m\", \"6h\" or \"2d\"";
    let Some(v) = raw else {
        return Ok(PhotoSchedule::Nightly);
    };
    match v.as_str() {
        "nightly" => return Ok(PhotoSchedule::Nightly),
        "off" => return Ok(PhotoSchedule::Off),
        _ => {}
    }
    let bad = || ConfigError::invalid(&key, q(&v), expected);
    let (num, unit) = v.split_at(v.len().saturating_sub(1));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(bad)?;
    if !(900..=30 * 86_400).contains(&secs) {
        return Err(bad());
    }
    Ok(PhotoSchedule::Every(Duration::from_secs(secs)))
}
