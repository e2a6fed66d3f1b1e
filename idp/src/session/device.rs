//! A device as people read it: the browser and operating system a user agent names, and the
//! label shown for a device on every page. PURE.
//!
//! `woothee` answers `UNKNOWN` for what it does not recognise (curl, a bot, a new browser), and
//! devices recorded before this module stored that as `UNKNOWN UNKNOWN` / `UNKNOWN`: both are
//! treated as "not known", so no page ever says "UNKNOWN UNKNOWN on UNKNOWN".

/// Whether a stored or parsed part says nothing (`UNKNOWN`, `unknown`, empty).
fn unknown(part: &str) -> bool {
    let p = part.trim();
    p.is_empty()
        || p.split_whitespace()
            .all(|w| w.eq_ignore_ascii_case("unknown"))
}

/// Browser family with major version (`Chrome 120`) and operating system (`Linux`) of a user
/// agent; an empty string for a part that is not recognised.
pub fn browser_and_os(user_agent: &str) -> (String, String) {
    let Some(r) = woothee::parser::Parser::new().parse(user_agent) else {
        return (String::new(), String::new());
    };
    let browser = if unknown(r.name) {
        String::new()
    } else if unknown(r.version) {
        r.name.to_string()
    } else {
        format!("{} {}", r.name, r.version)
    };
    let os = if unknown(r.os) {
        String::new()
    } else {
        r.os.to_string()
    };
    (browser, os)
}

/// The label of a device: the name its user gave it, else "browser on OS" with what is known.
pub fn label(name: Option<&str>, browser: &str, os: &str) -> String {
    if let Some(n) = name.map(str::trim).filter(|n| !n.is_empty()) {
        return n.to_string();
    }
    let browser = browser.trim().trim_end_matches(" UNKNOWN");
    match (unknown(browser), unknown(os)) {
        (false, false) => format!("{browser} on {}", os.trim()),
        (false, true) => browser.to_string(),
        (true, false) => format!("A browser on {}", os.trim()),
        (true, true) => "Unknown device".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_say_only_what_is_known() {
        assert_eq!(
            label(Some("Work laptop"), "Chrome 120", "Linux"),
            "Work laptop"
        );
        assert_eq!(
            label(Some("  "), "Chrome 120", "Linux"),
            "Chrome 120 on Linux"
        );
        assert_eq!(label(None, "Chrome 120", "Linux"), "Chrome 120 on Linux");
        assert_eq!(label(None, "Chrome 120", "UNKNOWN"), "Chrome 120");
        assert_eq!(label(None, "Chrome UNKNOWN", ""), "Chrome");
        assert_eq!(label(None, "UNKNOWN", "Linux"), "A browser on Linux");
        // What woothee-era rows and unparsable agents stored.
        assert_eq!(label(None, "UNKNOWN UNKNOWN", "UNKNOWN"), "Unknown device");
        assert_eq!(label(None, "unknown", "unknown"), "Unknown device");
        assert_eq!(label(None, "", ""), "Unknown device");
    }

    #[test]
    fn user_agents_parse_to_browser_and_os_or_nothing() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        let (b, o) = browser_and_os(chrome);
        assert!(b.starts_with("Chrome 120"), "{b}");
        assert_eq!(o, "Linux");
        for odd in ["", "curl/8.5.0", "\u{1}", "lanyard-test-client"] {
            let (b, o) = browser_and_os(odd);
            assert!(
                !b.contains("UNKNOWN") && !o.contains("UNKNOWN"),
                "{odd:?}: {b} / {o}"
            );
            assert_ne!(label(None, &b, &o), "UNKNOWN UNKNOWN on UNKNOWN");
        }
    }
}
