//! Word normalisation for matching: lower case, accents folded, German umlauts spelled out
//! (`ü` → `ue`, `ß` → `ss`) so that "Müller" and "Mueller" are one word, and text split into
//! words.

/// Lower-cases and folds `text` to ASCII letters and digits; everything else becomes a space.
/// Umlauts and ligatures are spelled out (`ä` → `ae`, `æ` → `ae`, `ß` → `ss`); other accents
/// are dropped (`é` → `e`).
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' => out.push(c),
            'ä' | 'æ' => out.push_str("ae"),
            'ö' | 'ø' | 'œ' | 'ő' => out.push_str("oe"),
            'ü' | 'ű' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'þ' => out.push_str("th"),
            _ => match base_letter(c) {
                Some(b) => out.push(b),
                None => out.push(' '),
            },
        }
    }
    out
}

/// The ASCII letter an accented Latin letter is written with, if it is one.
fn base_letter(c: char) -> Option<char> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' | 'đ' | 'ð' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' | 'ħ' => 'h',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ĵ' => 'j',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ō' | 'ŏ' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => 's',
        'ţ' | 'ť' | 'ŧ' | 'ț' => 't',
        'ù' | 'ú' | 'û' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ų' => 'u',
        'ŵ' => 'w',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        _ => return None,
    })
}

/// The folded words of `text`, in order (duplicates kept).
pub fn words(text: &str) -> Vec<String> {
    fold(text).split_whitespace().map(str::to_owned).collect()
}

/// The text folded and with its words joined by single spaces (for comparing whole values).
pub fn folded_value(text: &str) -> String {
    words(text).join(" ")
}

/// The digits of `text`, in order.
pub fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umlauts_and_their_spelled_out_forms_fold_alike() {
        assert_eq!(fold("Müller"), "mueller");
        assert_eq!(fold("Mueller"), "mueller");
        assert_eq!(fold("MÜLLER"), "mueller");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Jäger"), fold("Jaeger"));
        assert_eq!(fold("Öztürk"), "oeztuerk");
    }

    #[test]
    fn accents_are_dropped_and_punctuation_splits() {
        assert_eq!(fold("José"), "jose");
        assert_eq!(fold("Dvořák"), "dvorak");
        assert_eq!(fold("Łukasz"), "lukasz");
        assert_eq!(
            words("Meier-Lüdenscheidt, Hans (Sales)"),
            ["meier", "luedenscheidt", "hans", "sales"]
        );
        assert_eq!(folded_value("  Hans   MEIER "), "hans meier");
        assert!(words("—·—").is_empty());
        assert_eq!(digits("+49 (30) 123-45"), "493012345");
    }
}
