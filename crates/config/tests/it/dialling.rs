//! `[site.dialling]`: defaults per country, the plan the binary builds from it, and every
//! dialling key's error.

use crate::{assert_invalid, load, load_with, minimal_with, MINIMAL};
use config::NumberForm;

fn with_dialling(extra: &str) -> String {
    minimal_with(
        "area_code = \"30\"\n",
        &format!("area_code = \"30\"\n{extra}\n"),
    )
}

fn e(s: &str) -> directory::E164 {
    directory::E164::new(s).expect("valid E.164 in the test")
}

#[test]
fn prefixes_default_to_the_country_plan() {
    for (country, area, intl, national) in [
        ("DE", "30", "00", "0"),
        ("US", "202", "011", "1"),
        ("CA", "416", "011", "1"),
        ("AU", "2", "0011", "0"),
        ("JP", "3", "010", "0"),
        ("GB", "20", "00", "0"),
    ] {
        let text = minimal_with("country = \"de\"", &format!("country = \"{country}\""))
            .replace("area_code = \"30\"", &format!("area_code = \"{area}\""));
        let c = load(&text).unwrap_or_else(|e| panic!("{country}: {e}"));
        let d = &c.sites[0].dialling;
        assert_eq!(d.international_prefix, intl, "{country}");
        assert_eq!(d.national_prefix, national, "{country}");
        assert_eq!(d.region.as_str(), country);
    }
    // Italy and Spain have no national prefix; no area code either.
    for country in ["IT", "ES"] {
        let text = minimal_with("country = \"de\"", &format!("country = \"{country}\""))
            .replace("area_code = \"30\"\n", "");
        let c = load(&text).expect("loads");
        assert_eq!(c.sites[0].dialling.national_prefix, "", "{country}");
        assert_eq!(c.sites[0].dialling.area_code, None);
    }
}

#[test]
fn defaults_of_the_new_keys() {
    let c = load(MINIMAL).expect("loads");
    let d = &c.sites[0].dialling;
    assert_eq!(d.extension_lengths, vec![3]);
    assert!(d.extension_ranges.is_empty());
    assert_eq!(d.number_form, NumberForm::Dialable);
}

#[test]
fn the_plan_from_the_file_reads_and_writes_numbers() {
    let text = with_dialling(
        "outside_line_prefix = \"0\"\n\
         extension_lengths = [3, 4]\n\
         number_form = \"both\"\n\
         [[site.dialling.extension_ranges]]\nfirst = 100\nlast = 299\n\
         [[site.dialling.extension_ranges]]\nfirst = 2000\nlast = 2999\n\
         [[site.dialling.did_ranges]]\nbase = \"+49301234\"\nfirst = 100\nlast = 299\n\
         company = \"  Example GmbH \"\n",
    );
    let c = load(&text).expect("loads");
    let d = &c.sites[0].dialling;
    assert_eq!(d.extension_lengths, vec![3, 4]);
    assert_eq!(d.number_form, NumberForm::Both);
    assert_eq!(d.did_ranges[0].company.as_deref(), Some("Example GmbH"));
    let plan = d.plan();
    // Outside-line prefix, area code and DIDs all come from the file.
    assert_eq!(plan.to_e164("0 030 1234567").unwrap(), e("+49301234567"));
    assert_eq!(plan.to_e164("1234567").unwrap(), e("+49301234567"));
    assert_eq!(plan.to_e164("150").unwrap(), e("+49301234150"));
    assert_eq!(
        plan.parse("2500").unwrap(),
        directory::Dialled::Internal(directory::ExtensionNumber::new("2500").unwrap())
    );
    // 4 digits outside the ranges: not an extension.
    assert!(!matches!(
        plan.parse("5000"),
        Ok(directory::Dialled::Internal(_))
    ));
    assert_eq!(
        plan.forms(&e("+49891234567"), d.number_form),
        ["00891234567", "+49891234567"]
    );
    assert_eq!(plan.forms(&e("+49301234150"), d.number_form)[0], "150");
    let main = e("+49301234000");
    assert_eq!(
        plan.block_of(&main).and_then(|b| b.company.as_deref()),
        Some("Example GmbH")
    );
}

#[test]
fn us_plan_from_the_file() {
    let text = minimal_with("country = \"de\"", "country = \"US\"").replace(
        "area_code = \"30\"",
        "area_code = \"202\"\noutside_line_prefix = \"9\"",
    );
    let text = text
        .replace("first_number = 100", "first_number = 1000")
        .replace("length = 3", "length = 4");
    let plan = load(&text).expect("loads").sites[0].dialling.plan();
    assert_eq!(plan.to_e164("9 1 202 456 1111").unwrap(), e("+12024561111"));
    assert_eq!(plan.dialable(&e("+442079460958")), "9011442079460958");
    assert_eq!(plan.dialable(&e("+12024561111")), "912024561111");
}

#[test]
fn number_form_is_one_of_three() {
    assert_invalid(
        load(&with_dialling("number_form = \"national\"")),
        "site[0].dialling.number_form",
        "\"national\"",
        "one of \"dialable\" (what a phone of the site dials), \"e164\" or \"both\"",
    );
    let c = load(&with_dialling("number_form = \"E164\"")).expect("any case");
    assert_eq!(c.sites[0].dialling.number_form, NumberForm::E164);
}

#[test]
fn area_code_without_the_national_prefix() {
    assert_invalid(
        load(&minimal_with("area_code = \"30\"", "area_code = \"030\"")),
        "site[0].dialling.area_code",
        "\"030\"",
        "the area code without the national prefix \"0\" (\"30\" rather than \"030\")",
    );
}

#[test]
fn country_needs_a_known_numbering_plan() {
    assert_invalid(
        load(&minimal_with("country = \"de\"", "country = \"XX\"")),
        "site[0].dialling.country",
        "\"XX\"",
        "an ISO 3166-1 alpha-2 country code with a known numbering plan, such as \"DE\" or \"US\"",
    );
}

#[test]
fn extension_lengths_must_hold_the_allocated_length() {
    assert_invalid(
        load(&with_dialling("extension_lengths = [4, 5]")),
        "site[0].dialling.extension_lengths",
        "[4, 5]",
        "a list of digit counts that includes extensions.length (3), so that allocated \
         extensions are recognised as internal",
    );
    assert_invalid(
        load(&with_dialling("extension_lengths = [3, 12]")),
        "site[0].dialling.extension_lengths[1]",
        "12",
        "a number of digits from 2 to 8",
    );
}

#[test]
fn extension_ranges_are_checked() {
    assert_invalid(
        load(&with_dialling(
            "[[site.dialling.extension_ranges]]\nfirst = 200\nlast = 299\n",
        )),
        "site[0].dialling.extension_ranges",
        "1 range(s)",
        "ranges that include extensions.first_number (100), so that allocated extensions are \
         recognised as internal",
    );
    assert_invalid(
        load(&with_dialling(
            "[[site.dialling.extension_ranges]]\nfirst = 100\nlast = 1999\n",
        )),
        "site[0].dialling.extension_ranges[0].last",
        "1999",
        "an extension with 3 digits (extensions.length), from 100 to 999",
    );
    assert_invalid(
        load(&with_dialling(
            "[[site.dialling.extension_ranges]]\nfirst = 199\nlast = 100\n",
        )),
        "site[0].dialling.extension_ranges[0].last",
        "100",
        "a number not below first (199)",
    );
}

#[test]
fn did_ranges_with_several_lengths() {
    assert_invalid(
        load(&with_dialling(
            "extension_lengths = [3, 4]\n\
             [[site.dialling.did_ranges]]\nbase = \"+49301234\"\nfirst = 100\nlast = 1999\n",
        )),
        "site[0].dialling.did_ranges[0].last",
        "1999",
        "an extension with as many digits as first (100)",
    );
    assert_invalid(
        load(&with_dialling(
            "extension_lengths = [3, 4]\n\
             [[site.dialling.did_ranges]]\nbase = \"+49301234\"\nfirst = 10000\nlast = 10099\n",
        )),
        "site[0].dialling.did_ranges[0].first",
        "10000",
        "an extension with 3 or 4 digits (dialling.extension_lengths)",
    );
    let c = load(&with_dialling(
        "extension_lengths = [3, 4]\n\
         [[site.dialling.did_ranges]]\nbase = \"+4930123\"\nfirst = 1000\nlast = 1999\n",
    ))
    .expect("a 4-digit DID range");
    let plan = c.sites[0].dialling.plan();
    assert_eq!(plan.to_e164("1500").unwrap(), e("+49301231500"));
}

#[test]
fn company_must_be_a_name() {
    assert_invalid(
        load(&with_dialling(
            "[[site.dialling.did_ranges]]\nbase = \"+49301234\"\nfirst = 100\nlast = 199\n\
             company = \"  \"\n",
        )),
        "site[0].dialling.did_ranges[0].company",
        "\"  \"",
        "the company's name (1 to 256 characters), or leave the key out",
    );
}

#[test]
fn dialling_keys_from_the_environment() {
    let c = load_with(
        MINIMAL,
        [
            ("PBX365_SITE__0__DIALLING__NUMBER_FORM", "e164"),
            ("PBX365_SITE__0__DIALLING__EXTENSION_LENGTHS", "[3, 4]"),
            ("PBX365_SITE__0__DIALLING__OUTSIDE_LINE_PREFIX", "0"),
        ],
    )
    .expect("loads");
    let d = &c.sites[0].dialling;
    assert_eq!(d.number_form, NumberForm::E164);
    assert_eq!(d.extension_lengths, vec![3, 4]);
    assert_eq!(d.plan().outside_line_prefix.as_deref(), Some("0"));
}

#[test]
fn unknown_dialling_key_is_named() {
    let err = load(&with_dialling("number_format = \"both\"")).unwrap_err();
    assert_eq!(err.key(), Some("site[0].dialling.number_format"));
}
