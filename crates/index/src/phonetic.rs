//! Sounds-alike codes: Kölner Phonetik (German names: Meier, Maier, Mayer and Meyer share one
//! code) and a Metaphone-type code (English names: Catherine and Kathryn, Smith and Smyth).
//! Both take folded text (see [`crate::text::fold`]) and ignore anything but `a`–`z`.

/// The Kölner Phonetik code of `word` (digits; empty when the word has no letters).
pub fn koelner(word: &str) -> String {
    let letters: Vec<u8> = word.bytes().filter(u8::is_ascii_lowercase).collect();
    let mut raw: Vec<u8> = Vec::with_capacity(letters.len() * 2);
    for (i, &c) in letters.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| letters[p]);
        let next = letters.get(i + 1).copied();
        let code: &[u8] = match c {
            b'a' | b'e' | b'i' | b'j' | b'o' | b'u' | b'y' => b"0",
            b'h' => b"",
            b'b' => b"1",
            b'p' => {
                if next == Some(b'h') {
                    b"3"
                } else {
                    b"1"
                }
            }
            b'd' | b't' => {
                if matches!(next, Some(b'c' | b's' | b'z')) {
                    b"8"
                } else {
                    b"2"
                }
            }
            b'f' | b'v' | b'w' => b"3",
            b'g' | b'k' | b'q' => b"4",
            b'c' => {
                let hard = if i == 0 {
                    matches!(
                        next,
                        Some(b'a' | b'h' | b'k' | b'l' | b'o' | b'q' | b'r' | b'u' | b'x')
                    )
                } else {
                    matches!(next, Some(b'a' | b'h' | b'k' | b'o' | b'q' | b'u' | b'x'))
                        && !matches!(prev, Some(b's' | b'z'))
                };
                if hard {
                    b"4"
                } else {
                    b"8"
                }
            }
            b'x' => {
                if matches!(prev, Some(b'c' | b'k' | b'q')) {
                    b"8"
                } else {
                    b"48"
                }
            }
            b'l' => b"5",
            b'm' | b'n' => b"6",
            b'r' => b"7",
            b's' | b'z' => b"8",
            _ => b"",
        };
        raw.extend_from_slice(code);
    }
    raw.dedup();
    raw.iter()
        .enumerate()
        .filter(|&(i, &d)| i == 0 || d != b'0')
        .map(|(_, &d)| char::from(d))
        .collect()
}

/// How long a [`metaphone`] code may grow: long enough to tell most surnames apart.
const METAPHONE_MAX: usize = 6;

/// A Metaphone code of `word` (upper-case letters, `0` for "th"; empty when the word has no
/// letters), after Lawrence Philips' original rules.
pub fn metaphone(word: &str) -> String {
    let mut w: Vec<u8> = word
        .bytes()
        .filter(u8::is_ascii_lowercase)
        .map(|b| b.to_ascii_uppercase())
        .collect();
    // Silent or changed first letters.
    match w.as_slice() {
        [b'A', b'E', ..]
        | [b'G', b'N', ..]
        | [b'K', b'N', ..]
        | [b'P', b'N', ..]
        | [b'W', b'R', ..] => {
            w.remove(0);
        }
        [b'X', ..] => w[0] = b'S',
        [b'W', b'H', ..] => {
            w.remove(1);
        }
        _ => {}
    }
    let at = |i: isize| -> u8 {
        if i < 0 {
            0
        } else {
            w.get(i as usize).copied().unwrap_or(0)
        }
    };
    let vowel = |c: u8| matches!(c, b'A' | b'E' | b'I' | b'O' | b'U');
    let mut out = String::new();
    for i in 0..w.len() as isize {
        if out.len() >= METAPHONE_MAX {
            break;
        }
        let c = at(i);
        let (prev, next, after) = (at(i - 1), at(i + 1), at(i + 2));
        // Doubled letters sound once (except C: "acc" is "aks").
        if c == prev && c != b'C' {
            continue;
        }
        let code: &str = match c {
            // A vowel sounds only at the start.
            b'A' if i == 0 => "A",
            b'E' if i == 0 => "E",
            b'I' if i == 0 => "I",
            b'O' if i == 0 => "O",
            b'U' if i == 0 => "U",
            b'A' | b'E' | b'I' | b'O' | b'U' => "",
            b'B' => {
                if prev == b'M' && next == 0 {
                    ""
                } else {
                    "B"
                }
            }
            b'C' => {
                if next == b'I' && after == b'A' {
                    "X"
                } else if next == b'H' {
                    if prev == b'S' {
                        "K"
                    } else {
                        "X"
                    }
                } else if matches!(next, b'I' | b'E' | b'Y') {
                    if prev == b'S' {
                        ""
                    } else {
                        "S"
                    }
                } else {
                    "K"
                }
            }
            b'D' => {
                if next == b'G' && matches!(after, b'E' | b'Y' | b'I') {
                    "J"
                } else {
                    "T"
                }
            }
            b'G' => {
                // Silent in -GH- before a consonant, and in -GN / -GNED at the end.
                let silent_gh = next == b'H' && !(after == 0 || vowel(after));
                let silent_gn =
                    next == b'N' && (after == 0 || (after == b'E' && at(i + 3) == b'D'));
                if silent_gh || silent_gn {
                    ""
                } else if matches!(next, b'I' | b'E' | b'Y') && prev != b'G' {
                    "J"
                } else {
                    "K"
                }
            }
            b'H' => {
                if matches!(prev, b'C' | b'S' | b'P' | b'T' | b'G') || (vowel(prev) && !vowel(next))
                {
                    ""
                } else {
                    "H"
                }
            }
            b'K' => {
                if prev == b'C' {
                    ""
                } else {
                    "K"
                }
            }
            b'P' => {
                if next == b'H' {
                    "F"
                } else {
                    "P"
                }
            }
            b'Q' => "K",
            b'S' => {
                if next == b'H' || (next == b'I' && matches!(after, b'O' | b'A')) {
                    "X"
                } else {
                    "S"
                }
            }
            b'T' => {
                if next == b'I' && matches!(after, b'O' | b'A') {
                    "X"
                } else if next == b'H' {
                    "0"
                } else if next == b'C' && after == b'H' {
                    ""
                } else {
                    "T"
                }
            }
            b'V' => "F",
            // W and Y sound only before a vowel.
            b'W' if vowel(next) => "W",
            b'Y' if vowel(next) => "Y",
            b'W' | b'Y' => "",
            b'X' => "KS",
            b'Z' => "S",
            b'F' => "F",
            b'J' => "J",
            b'L' => "L",
            b'M' => "M",
            b'N' => "N",
            b'R' => "R",
            _ => "",
        };
        out.push_str(code);
    }
    out.truncate(METAPHONE_MAX);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::fold;

    fn k(s: &str) -> String {
        koelner(&fold(s))
    }

    #[test]
    fn koelner_known_codes() {
        // The examples of the algorithm's description.
        // Raw digits 60550750206880022; doubles merged and inner zeros dropped.
        assert_eq!(k("Müller-Lüdenscheidt"), "65752682");
        assert_eq!(k("Wikipedia"), "3412");
        assert_eq!(k("Breschnew"), "17863");
        for name in ["Meier", "Maier", "Mayer", "Meyer"] {
            assert_eq!(k(name), "67", "{name}");
        }
        assert_eq!(k("Schmidt"), "862");
        assert_eq!(k("Schmitt"), "862");
        assert_eq!(k("Schmied"), "862");
        assert_eq!(k("Müller"), k("Mueller"));
        assert_eq!(k("Müller"), k("Muller"));
        assert_eq!(k("Christoph"), "47823");
        assert_eq!(k("Xaver"), "4837");
        assert_eq!(k(""), "");
        assert_ne!(k("Meier"), k("Müller"));
    }

    #[test]
    fn metaphone_known_codes() {
        let m = |s: &str| metaphone(&fold(s));
        assert_eq!(m("Catherine"), "K0RN");
        assert_eq!(m("Kathryn"), "K0RN");
        assert_eq!(m("Smith"), "SM0");
        assert_eq!(m("Smyth"), "SM0");
        assert_eq!(m("Stephen"), "STFN");
        assert_eq!(m("Steven"), "STFN");
        assert_eq!(m("Knight"), "NT");
        assert_eq!(m("Wright"), "RT");
        assert_eq!(m("Phone"), "FN");
        assert_eq!(m("Thumb"), "0M");
        assert_eq!(m("Xavier"), "SFR");
        assert_eq!(m("Philips"), "FLPS");
        assert_eq!(m("Filips"), "FLPS");
        assert_eq!(m(""), "");
        assert_ne!(m("Smith"), m("Jones"));
    }
}
