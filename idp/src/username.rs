//! Usernames: the one rule that turns what a person typed into the name Lanyard stores and looks
//! up, and the skeleton that keeps two names from looking alike.
//!
//! The rule is the PRECIS `UsernameCaseMapped` profile (RFC 8265 §3.3–§3.4) over the
//! `IdentifierClass` (RFC 8264 §4.2), applied at creation *and* at every lookup, so `ALICE`,
//! full-width `ａｌｉｃｅ` and a decomposed `alice` are one account:
//!
//! 1. width mapping: full-width and half-width forms become their ordinary forms (§3.3.1 rule 1);
//! 2. case mapping: Unicode `toLowerCase` (§3.3.1 rule 3);
//! 3. normalisation: NFC (§3.3.1 rule 4);
//! 4. the result is empty-free and every code point is allowed by the `IdentifierClass`:
//!    printable ASCII, letters, digits and combining marks without a compatibility
//!    decomposition (RFC 8264 §9.1, §9.17). Controls (NUL included), format characters (zero
//!    width joiners, bidi overrides and isolates), spaces, symbols and unassigned code points
//!    are refused — stricter than the RFC for ZWJ/ZWNJ, which it allows in rare contexts.
//!
//! Two names are confusable when their UTS #39 skeletons (§4) are equal: `alice` and `аlice`
//! (Cyrillic `а`) share the skeleton `alice`. The store keeps the skeleton under a unique index
//! per tenant (migration 000013), so a look-alike is refused even when two creations race.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest username accepted, in bytes of its normalised form.
pub const MAX_LEN: usize = 128;

/// A username in its stored form, with the skeleton that finds look-alikes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    normalised: String,
    skeleton: String,
}

impl Username {
    /// The stored, compared and displayed form.
    pub fn as_str(&self) -> &str {
        &self.normalised
    }

    /// The UTS #39 skeleton: equal skeletons mean the names look alike.
    pub fn skeleton(&self) -> &str {
        &self.skeleton
    }

    pub fn into_string(self) -> String {
        self.normalised
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.normalised)
    }
}

/// Why a username is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameRejection {
    #[error("username must not be empty")]
    Empty,
    #[error("username must be at most {MAX_LEN} bytes")]
    TooLong,
    /// The code point is shown as `U+XXXX`, never raw: it may be invisible or reorder the text.
    #[error("username must not contain {what} (U+{code:04X})")]
    Disallowed { code: u32, what: &'static str },
}

/// Apply the `UsernameCaseMapped` profile (RFC 8265 §3.4): map, then enforce.
pub fn resolve_username(raw: &str) -> Result<Username, UsernameRejection> {
    let normalised = prepare(raw);
    if normalised.is_empty() {
        return Err(UsernameRejection::Empty);
    }
    if normalised.len() > MAX_LEN {
        return Err(UsernameRejection::TooLong);
    }
    if let Some((c, what)) = normalised
        .chars()
        .find_map(|c| disallowed(c).map(|w| (c, w)))
    {
        return Err(UsernameRejection::Disallowed {
            code: u32::from(c),
            what,
        });
    }
    let skeleton = skeleton(&normalised);
    Ok(Username {
        normalised,
        skeleton,
    })
}

/// The mapping steps alone (width, case, NFC): what a stored name is compared as.
fn prepare(raw: &str) -> String {
    let widened: String = raw.chars().flat_map(map_width).collect();
    widened.to_lowercase().nfc().collect()
}

/// RFC 8265 §3.3.1 rule 1: a full-width or half-width character becomes its decomposition
/// mapping. These are exactly the Halfwidth and Fullwidth Forms block and the ideographic
/// space (their decompositions are tagged `<wide>` / `<narrow>`), plus the narrow won sign.
fn map_width(c: char) -> Vec<char> {
    let cp = u32::from(c);
    if (0xFF00..=0xFFEF).contains(&cp) || cp == 0x3000 || cp == 0x20A9 {
        c.to_string().nfkc().collect()
    } else {
        vec![c]
    }
}

/// The IdentifierClass (RFC 8264 §4.2.2) refusals, named for the error.
fn disallowed(c: char) -> Option<&'static str> {
    if c.is_ascii() {
        // ASCII7 (RFC 8264 §9.11): printable ASCII is allowed; controls and space are not.
        return match c {
            '\u{21}'..='\u{7E}' => None,
            ' ' => Some("a space"),
            _ => Some("a control character"),
        };
    }
    use GeneralCategory as G;
    let category = c.general_category();
    match category {
        // LetterDigits (RFC 8264 §9.1).
        G::LowercaseLetter
        | G::UppercaseLetter
        | G::OtherLetter
        | G::DecimalNumber
        | G::ModifierLetter
        | G::NonspacingMark
        | G::SpacingMark => {
            // HasCompat (§9.17): toNFKC(cp) != cp is disallowed.
            if c.to_string().nfkc().ne(std::iter::once(c)) {
                Some("a compatibility character")
            } else {
                None
            }
        }
        G::Control => Some("a control character"),
        // Zero-width joiners, bidi marks, overrides and isolates, soft hyphens, BOM.
        G::Format => Some("an invisible or bidi-control character"),
        G::SpaceSeparator | G::LineSeparator | G::ParagraphSeparator => Some("a space"),
        G::Unassigned | G::PrivateUse | G::Surrogate => Some("an unassigned or private character"),
        _ => Some("a symbol or punctuation outside ASCII"),
    }
}

/// UTS #39 §4 skeleton of an already normalised name.
fn skeleton(normalised: &str) -> String {
    unicode_security::confusable_detection::skeleton(normalised).collect()
}

/// The stored form a typed name is looked up as, or `None` when no stored name can match it.
pub fn lookup_form(raw: &str) -> Option<String> {
    resolve_username(raw).ok().map(Username::into_string)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ok(raw: &str) -> Username {
        resolve_username(raw).unwrap()
    }

    #[test]
    fn case_is_mapped_to_lower() {
        assert_eq!(ok("ALICE").as_str(), "alice");
        assert_eq!(ok("Alice.Smith").as_str(), "alice.smith");
        assert_eq!(ok("ÉLODIE").as_str(), "élodie");
    }

    #[test]
    fn full_width_and_half_width_forms_are_mapped() {
        assert_eq!(ok("ａｌｉｃｅ").as_str(), "alice");
        assert_eq!(ok("ＡＬＩＣＥ").as_str(), "alice");
        // Half-width katakana KA becomes the ordinary KA.
        assert_eq!(ok("\u{FF76}").as_str(), "\u{30AB}");
    }

    #[test]
    fn decomposed_forms_are_composed() {
        assert_eq!(ok("e\u{301}lodie").as_str(), "\u{E9}lodie");
        assert_eq!(ok("E\u{301}LODIE").as_str(), ok("\u{E9}lodie").as_str());
    }

    #[test]
    fn ascii_punctuation_and_digits_are_kept() {
        assert_eq!(ok("a.b-c_d@e+1").as_str(), "a.b-c_d@e+1");
    }

    #[test]
    fn empty_and_too_long_names_are_refused() {
        assert_eq!(resolve_username(""), Err(UsernameRejection::Empty));
        assert_eq!(
            resolve_username(&"a".repeat(MAX_LEN + 1)),
            Err(UsernameRejection::TooLong)
        );
        assert!(resolve_username(&"a".repeat(MAX_LEN)).is_ok());
    }

    #[test]
    fn controls_spaces_and_invisible_characters_are_refused() {
        for (raw, code) in [
            ("al\u{0}ice", 0x0),
            ("al\tice", 0x9),
            ("al ice", 0x20),
            ("al\u{7F}ice", 0x7F),
            ("al\u{85}ice", 0x85),
            ("al\u{200D}ice", 0x200D),
            ("al\u{200C}ice", 0x200C),
            ("al\u{200B}ice", 0x200B),
            ("al\u{202E}ice", 0x202E),
            ("al\u{2066}ice", 0x2066),
            ("al\u{200F}ice", 0x200F),
            ("al\u{FEFF}ice", 0xFEFF),
            ("al\u{AD}ice", 0xAD),
            ("al\u{A0}ice", 0xA0),
            ("al\u{2028}ice", 0x2028),
            ("al\u{E000}ice", 0xE000),
        ] {
            match resolve_username(raw) {
                Err(UsernameRejection::Disallowed { code: c, .. }) => {
                    assert_eq!(c, code, "{raw:?}")
                }
                other => panic!("{raw:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn symbols_and_compatibility_characters_are_refused() {
        for raw in ["alice\u{2122}", "x\u{FB01}", "\u{2460}", "a\u{20AC}"] {
            assert!(
                matches!(
                    resolve_username(raw),
                    Err(UsernameRejection::Disallowed { .. })
                ),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn the_error_names_the_code_point_without_echoing_it() {
        let e = resolve_username("al\u{202E}ice").unwrap_err().to_string();
        assert!(e.contains("U+202E"), "{e}");
        assert!(!e.contains('\u{202E}'), "{e}");
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        let alice = ok("alice");
        // Cyrillic а (U+0430) and Cyrillic і (U+0456).
        assert_eq!(ok("\u{430}lice").skeleton(), alice.skeleton());
        assert_eq!(ok("al\u{456}ce").skeleton(), alice.skeleton());
        // Greek omicron beside Latin o.
        assert_eq!(ok("b\u{3BF}b").skeleton(), ok("bob").skeleton());
        assert_ne!(ok("alicia").skeleton(), alice.skeleton());
    }

    #[test]
    fn lookup_form_is_the_stored_form_or_nothing() {
        assert_eq!(lookup_form("ALICE").as_deref(), Some("alice"));
        assert_eq!(lookup_form("ａｌｉｃｅ").as_deref(), Some("alice"));
        assert_eq!(lookup_form("al\u{200D}ice"), None);
        assert_eq!(lookup_form(""), None);
    }
}
