//! Fair shares of the delivery slots: at most `per_destination` deliveries in flight per
//! destination on a node, a destination being the origin of a URI target (scheme, host, port:
//! RFC 6454 §4), so every logout URI on one slow or dead host shares that host's share
//! (ADR 0016). Mail recipients are their own destination (they all go through one relay).

use std::collections::{BTreeSet, HashMap};

/// The destination a delivery target counts against: the origin of an http(s) URI with the
/// scheme's default port made explicit (RFC 6454 §4: `https://rp.example` and
/// `https://RP.example:443/x` are one origin); any other target (a mail recipient) as it is.
pub fn destination_of(target: &str) -> String {
    match url::Url::parse(target) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {
            match (u.host_str(), u.port_or_known_default()) {
                (Some(host), Some(port)) => format!("{}://{host}:{port}", u.scheme()),
                _ => target.to_string(),
            }
        }
        _ => target.to_string(),
    }
}

/// One claim's view of the load per destination: what this node has in flight already, plus
/// what the claim has taken so far.
#[derive(Debug)]
pub struct FairShare {
    load: HashMap<String, usize>,
    /// Every target seen (in flight, taken or passed over), to leave the full ones out of the
    /// next select.
    known: BTreeSet<String>,
    per_destination: usize,
}

impl FairShare {
    /// `in_flight`: deliveries in flight on this node, by target.
    pub fn new(in_flight: &HashMap<String, usize>, per_destination: usize) -> Self {
        let mut load: HashMap<String, usize> = HashMap::new();
        for (target, n) in in_flight {
            *load.entry(destination_of(target)).or_default() += n;
        }
        Self {
            load,
            known: in_flight.keys().cloned().collect(),
            per_destination,
        }
    }

    /// The scheduling decision for one due candidate: claim it unless its destination already
    /// has its share in flight. Either way the target is remembered.
    pub fn decide_admit(&mut self, target: &str) -> bool {
        self.known.insert(target.to_string());
        self.load.get(&destination_of(target)).copied().unwrap_or(0) < self.per_destination
    }

    /// The candidate was claimed: it counts against its destination from now on.
    pub fn take(&mut self, target: &str) {
        *self.load.entry(destination_of(target)).or_default() += 1;
    }

    /// A provisional [`take`](Self::take) whose claim did not hold (another node claimed the row
    /// first): the slot is free again.
    pub fn release(&mut self, target: &str) {
        if let Some(n) = self.load.get_mut(&destination_of(target)) {
            *n = n.saturating_sub(1);
        }
    }

    /// Whether any destination is at its limit.
    pub fn any_full(&self) -> bool {
        self.load.values().any(|n| *n >= self.per_destination)
    }

    /// The targets known so far whose destination is at its limit (sorted, for a stable query).
    pub fn full_targets(&self) -> Vec<String> {
        self.known
            .iter()
            .filter(|t| {
                self.load.get(&destination_of(t)).copied().unwrap_or(0) >= self.per_destination
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_is_the_origin_of_a_uri() {
        assert_eq!(
            destination_of("https://RP.example/bc"),
            "https://rp.example:443"
        );
        assert_eq!(
            destination_of("https://rp.example:443/other?x=1"),
            "https://rp.example:443"
        );
        assert_eq!(
            destination_of("http://127.0.0.1:9000/bc"),
            "http://127.0.0.1:9000"
        );
        // Another port or scheme is another origin.
        assert_ne!(
            destination_of("https://rp.example:8443/bc"),
            destination_of("https://rp.example/bc")
        );
        assert_ne!(
            destination_of("http://rp.example/bc"),
            destination_of("https://rp.example/bc")
        );
        // Mail recipients are their own destination.
        assert_eq!(destination_of("alice@acme.test"), "alice@acme.test");
    }

    #[test]
    fn two_uris_on_one_host_share_its_limit() {
        let busy = HashMap::from([("https://dead.example/a".to_string(), 1)]);
        let mut share = FairShare::new(&busy, 2);
        // One more to the host, through its other URI, then the host is full for both.
        assert!(share.decide_admit("https://dead.example/b"));
        share.take("https://dead.example/b");
        assert!(!share.decide_admit("https://dead.example/a"));
        assert!(!share.decide_admit("https://dead.example/b"));
        assert!(!share.decide_admit("https://dead.example:443/c"));
        // Another host is not affected.
        assert!(share.decide_admit("https://healthy.example/bc"));
        share.take("https://healthy.example/bc");
        assert_eq!(
            share.full_targets(),
            vec![
                "https://dead.example/a".to_string(),
                "https://dead.example/b".to_string(),
                "https://dead.example:443/c".to_string(),
            ]
        );
    }

    #[test]
    fn load_in_flight_counts_per_origin_across_targets() {
        let busy = HashMap::from([
            ("https://dead.example/a".to_string(), 1),
            ("https://dead.example/b".to_string(), 1),
            ("alice@acme.test".to_string(), 1),
        ]);
        let mut share = FairShare::new(&busy, 2);
        assert!(!share.decide_admit("https://dead.example/c"));
        assert!(share.decide_admit("alice@acme.test"));
        assert!(share.decide_admit("bob@acme.test"));
        assert_eq!(share.full_targets().len(), 3, "{:?}", share.full_targets());
    }

    #[test]
    fn the_limit_is_a_limit_not_a_target() {
        let mut share = FairShare::new(&HashMap::new(), 1);
        assert!(share.decide_admit("https://rp.example/bc"));
        assert!(share.full_targets().is_empty());
        assert!(!share.any_full());
        share.take("https://rp.example/bc");
        assert!(!share.decide_admit("https://rp.example/bc"));
        assert!(share.any_full());
    }

    #[test]
    fn a_released_take_frees_its_slot_and_never_goes_below_zero() {
        let mut share = FairShare::new(&HashMap::new(), 1);
        share.take("https://rp.example/a");
        assert!(!share.decide_admit("https://rp.example/b"));
        share.release("https://rp.example/a");
        assert!(share.decide_admit("https://rp.example/b"));
        share.release("https://rp.example/a");
        share.take("https://rp.example/b");
        assert!(!share.decide_admit("https://rp.example/a"));
    }
}
