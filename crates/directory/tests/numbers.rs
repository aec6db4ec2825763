//! The dialling plan against the numbering plans of 14 countries: every row of
//! `numbers.table` (written by hand, see its header) goes through the public
//! [`DiallingPlan`] interface — `parse`, `to_e164`, `dialable` and `display`.

use directory::{
    Dialled, DiallingPlan, DidBlock, ExtensionNumber, ExtensionRange, NumberForm, NumberInputError,
    PhoneKind, PhoneNumber, Region, E164,
};
use std::collections::BTreeSet;

const TABLE: &str = include_str!("numbers.table");

/// A site: country, area code, outside-line prefix, extension lengths, DID blocks.
fn plan(
    country: &str,
    area: Option<&str>,
    outside: Option<&str>,
    lengths: &[u8],
    blocks: &[(&str, u64, u64)],
) -> DiallingPlan {
    let mut plan = DiallingPlan::for_region(Region::new(country).expect("known region"));
    plan.area_code = area.map(str::to_owned);
    plan.outside_line_prefix = outside.map(str::to_owned);
    plan.extension_lengths = lengths.to_vec();
    plan.did_blocks = blocks
        .iter()
        .map(|&(base, first, last)| DidBlock {
            base: base.to_owned(),
            first,
            last,
            company: Some(format!("{country} company")),
        })
        .collect();
    plan
}

fn site(name: &str) -> DiallingPlan {
    match name {
        "berlin" => plan(
            "DE",
            Some("30"),
            Some("0"),
            &[3],
            &[("+49301234", 100, 299)],
        ),
        "munich" => {
            let mut p = plan("DE", Some("89"), None, &[2, 4], &[]);
            p.extension_ranges = vec![
                ExtensionRange {
                    first: 10,
                    last: 99,
                },
                ExtensionRange {
                    first: 2000,
                    last: 2999,
                },
            ];
            p
        }
        "vienna" => plan("AT", Some("1"), Some("0"), &[3], &[("+43159876", 100, 199)]),
        "zurich" => plan("CH", None, Some("0"), &[3], &[]),
        "london" => plan(
            "GB",
            Some("20"),
            Some("9"),
            &[4],
            &[("+44207946", 6000, 6999)],
        ),
        "paris" => plan("FR", None, Some("0"), &[4], &[("+3314200", 1000, 1999)]),
        "rome" => plan("IT", None, Some("0"), &[3], &[("+39061234", 100, 199)]),
        "madrid" => plan("ES", None, Some("0"), &[3], &[]),
        "amsterdam" => plan("NL", Some("20"), Some("0"), &[3], &[]),
        "washington" => plan(
            "US",
            Some("202"),
            Some("9"),
            &[4],
            &[("+1202555", 1000, 1999)],
        ),
        "toronto" => plan("CA", Some("416"), Some("9"), &[3], &[]),
        "sydney" => plan(
            "AU",
            Some("2"),
            Some("0"),
            &[4],
            &[("+6129876", 5000, 5999)],
        ),
        "warsaw" => plan("PL", None, Some("0"), &[3], &[]),
        "stockholm" => plan("SE", Some("8"), Some("0"), &[3], &[]),
        "tokyo" => plan("JP", Some("3"), Some("0"), &[3], &[]),
        other => panic!("numbers.table names an unknown site {other:?}"),
    }
}

struct Row<'a> {
    line: usize,
    site: &'a str,
    input: String,
    parse: &'a str,
    e164: &'a str,
    dialable: &'a str,
    display: &'a str,
}

fn rows() -> Vec<Row<'static>> {
    let mut rows = Vec::new();
    for (i, line) in TABLE.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(cols.len(), 6, "numbers.table:{line_no}: six columns");
        let input = cols[1];
        let input = match input.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(quoted) => quoted.to_owned(),
            None => input.to_owned(),
        };
        rows.push(Row {
            line: line_no,
            site: cols[0],
            input,
            parse: cols[2],
            e164: cols[3],
            dialable: cols[4],
            display: cols[5],
        });
    }
    rows
}

fn describe(r: &Result<Dialled, NumberInputError>) -> String {
    match r {
        Ok(Dialled::External(e)) => e.as_str().to_owned(),
        Ok(Dialled::Internal(x)) => format!("ext {x}"),
        Err(NumberInputError::Empty) => "empty".into(),
        Err(NumberInputError::NotANumber(_)) => "not a number".into(),
        Err(NumberInputError::Invalid(_)) => "invalid".into(),
    }
}

#[test]
fn every_row_of_the_table() {
    let rows = rows();
    let mut failures = Vec::new();
    let mut countries = BTreeSet::new();
    let (mut dialables, mut displays) = (0, 0);
    for row in &rows {
        let plan = site(row.site);
        countries.insert(plan.region.as_str().to_owned());
        let at = format!("numbers.table:{} {} {:?}", row.line, row.site, row.input);
        let parsed = plan.parse(&row.input);
        let got = describe(&parsed);
        if got != row.parse {
            failures.push(format!("{at}: parse gave {got}, expected {}", row.parse));
            continue;
        }
        let expected_e164 = match &parsed {
            Ok(Dialled::External(e)) => {
                if !row.e164.is_empty() {
                    failures.push(format!("{at}: e164 column is only for extensions"));
                }
                Some(e.as_str().to_owned())
            }
            Ok(Dialled::Internal(_)) => (row.e164 != "invalid").then(|| row.e164.to_owned()),
            Err(_) => None,
        };
        let to_e164 = plan.to_e164(&row.input);
        match (&expected_e164, &to_e164) {
            (Some(want), Ok(got)) if got.as_str() == want => {}
            (None, Err(_)) => {}
            _ => {
                failures.push(format!(
                    "{at}: to_e164 gave {to_e164:?}, expected {expected_e164:?}"
                ));
                continue;
            }
        }
        let Ok(number) = to_e164 else { continue };
        if !row.dialable.is_empty() {
            dialables += 1;
            let got = plan.dialable(&number);
            if got != row.dialable {
                failures.push(format!(
                    "{at}: dialable gave {got:?}, expected {:?}",
                    row.dialable
                ));
            }
        }
        if !row.display.is_empty() {
            displays += 1;
            let got = plan.display(&number);
            if got != row.display {
                failures.push(format!(
                    "{at}: display gave {got:?}, expected {:?}",
                    row.display
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows wrong:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    assert!(rows.len() >= 200, "only {} cases", rows.len());
    assert!(countries.len() >= 10, "only countries {countries:?}");
    assert!(dialables >= 60 && displays >= 50, "{dialables} {displays}");
    eprintln!(
        "{} cases over {} countries ({}), {dialables} dialable and {displays} display checks",
        rows.len(),
        countries.len(),
        countries.into_iter().collect::<Vec<_>>().join(" ")
    );
}

fn e(s: &str) -> E164 {
    E164::new(s).expect("valid E.164 in the test")
}

#[test]
fn each_country_gets_its_own_prefixes() {
    // International and national (trunk) prefixes from the national plans.
    for (country, intl, national) in [
        ("DE", "00", "0"),
        ("AT", "00", "0"),
        ("CH", "00", "0"),
        ("GB", "00", "0"),
        ("FR", "00", "0"),
        ("NL", "00", "0"),
        ("IT", "00", ""),
        ("ES", "00", ""),
        ("PL", "00", ""),
        ("US", "011", "1"),
        ("CA", "011", "1"),
        ("AU", "0011", "0"),
        ("JP", "010", "0"),
        ("SE", "00", "0"),
        ("RU", "810", "8"),
    ] {
        let plan = DiallingPlan::for_region(Region::new(country).unwrap());
        assert_eq!(plan.international_prefix, intl, "{country}");
        assert_eq!(plan.national_prefix, national, "{country}");
    }
}

#[test]
fn number_forms_for_ldap_and_xml() {
    let plan = site("berlin");
    let n = e("+49891234567");
    assert_eq!(plan.forms(&n, NumberForm::Dialable), ["00891234567"]);
    assert_eq!(plan.forms(&n, NumberForm::E164), ["+49891234567"]);
    assert_eq!(
        plan.forms(&n, NumberForm::Both),
        ["00891234567", "+49891234567"]
    );
    // An own DID: the bare extension, or its E.164 form.
    let did = e("+49301234123");
    assert_eq!(plan.forms(&did, NumberForm::Both), ["123", "+49301234123"]);
    assert_eq!(NumberForm::default(), NumberForm::Dialable);
    for form in [NumberForm::Dialable, NumberForm::E164, NumberForm::Both] {
        assert_eq!(NumberForm::parse(form.as_str()), Some(form));
    }
    assert_eq!(NumberForm::parse(" E164 "), Some(NumberForm::E164));
    assert_eq!(NumberForm::parse("national"), None);
}

#[test]
fn did_blocks_map_both_ways_and_name_the_company() {
    let plan = site("berlin");
    let ext = ExtensionNumber::new("123").unwrap();
    let did = plan.did_of(&ext).unwrap();
    assert_eq!(did, e("+49301234123"));
    assert_eq!(plan.extension_of(&did), Some(ext));
    // The main number (the base) and an unused DID belong to the block, but to no extension.
    let main = e("+49301234000");
    assert_eq!(plan.extension_of(&main), None);
    assert_eq!(
        plan.block_of(&main).and_then(|b| b.company.as_deref()),
        Some("DE company")
    );
    assert_eq!(plan.extension_of(&e("+49301234300")), None);
    assert_eq!(plan.block_of(&e("+49309999999")), None);
    // "+49301234" followed by "0123" is not extension 123.
    assert_eq!(plan.extension_of(&e("+493012340123")), None);
}

#[test]
fn errors_keep_what_was_typed() {
    let plan = site("berlin");
    assert_eq!(
        plan.parse("tbd"),
        Err(NumberInputError::NotANumber("tbd".into()))
    );
    let err = plan.parse("12").unwrap_err();
    assert_eq!(err, NumberInputError::Invalid("12".into()));
    assert!(err.to_string().contains("\"12\""), "{err}");
    assert_eq!(plan.to_e164("   "), Err(NumberInputError::Empty));
    // A long paste is refused quickly and whole.
    let long = "1".repeat(10_000);
    assert_eq!(plan.parse(&long), Err(NumberInputError::Invalid(long)));
}

#[test]
fn a_number_from_a_contact_with_the_site_rules() {
    let plan = site("berlin");
    let n = PhoneNumber::parse_for_site("0 030 1234567 ext. 9", PhoneKind::Business, &plan);
    assert_eq!(n.raw, "0 030 1234567 ext. 9");
    assert_eq!(n.e164, Some(e("+49301234567")));
    let local = PhoneNumber::parse_for_site("1234567", PhoneKind::Home, &plan);
    assert_eq!(local.e164, Some(e("+49301234567")));
    // The region-only reading cannot know the area code.
    let region_only = PhoneNumber::parse("1234567", PhoneKind::Home, Some(plan.region));
    assert_eq!(region_only.e164, None);
    let ext = PhoneNumber::parse_for_site("150", PhoneKind::Business, &plan);
    assert_eq!(ext.e164, Some(e("+49301234150")));
    let no_did = PhoneNumber::parse_for_site("999", PhoneKind::Business, &plan);
    assert!(no_did.is_invalid());
}

#[test]
fn the_plan_round_trips_through_json_and_old_json_still_reads() {
    let plan = site("munich");
    let json = serde_json::to_string(&plan).unwrap();
    let back: DiallingPlan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
    // A plan stored before extension ranges existed.
    let old = r#"{"region":"DE","area_code":"30","outside_line_prefix":"0",
        "international_prefix":"00","national_prefix":"0","extension_lengths":[3],
        "did_blocks":[]}"#;
    let old: DiallingPlan = serde_json::from_str(old).unwrap();
    assert!(old.extension_ranges.is_empty());
    assert_eq!(
        old.parse("123"),
        Ok(Dialled::Internal(ExtensionNumber::new("123").unwrap()))
    );
}
