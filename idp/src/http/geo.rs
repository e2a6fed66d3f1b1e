//! Where a client address is: the country and the point a trusted proxy's headers state, or,
//! for whatever they leave out, a MaxMind-format database (`LANYARD_GEOIP_DATABASE`). Headers
//! are believed only from a trusted proxy (anyone can send them); the database answers for the
//! resolved client IP (`http::client_ip`), so behind proxies it looks up the real client.

use crate::session::travel::GeoPoint;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::Path;

/// An opened `.mmdb` file (read into memory once at start).
pub struct GeoIpDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIpDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeoIpDb({})", self.reader.metadata().database_type)
    }
}

/// What a lookup found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoFix {
    pub country: Option<String>,
    pub point: Option<GeoPoint>,
}

/// The parts of a GeoIP2 / GeoLite2 City or Country record that Lanyard reads. Every field is
/// optional in those databases (an anycast range has a country but no location).
#[derive(Deserialize)]
struct Record {
    country: Option<Country>,
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Country {
    iso_code: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

/// An ISO 3166-1 alpha-2 code, upper-cased; anything else is unknown.
pub fn parse_country(raw: &str) -> Option<String> {
    let c = raw.trim();
    (c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic())).then(|| c.to_ascii_uppercase())
}

/// Latitude and longitude header values in decimal degrees; anything else is unknown.
pub fn parse_point(lat: &str, lon: &str) -> Option<GeoPoint> {
    GeoPoint::new(lat.trim().parse().ok()?, lon.trim().parse().ok()?)
}

impl GeoIpDb {
    /// Open the file; an unreadable or malformed file is a start-up error naming it.
    pub fn open(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let reader = maxminddb::Reader::from_source(bytes)
            .map_err(|e| format!("{}: not a MaxMind database: {e}", path.display()))?;
        Ok(Self { reader })
    }

    /// The country and location of an address. An address the database does not cover, or a
    /// record it cannot decode, is unknown (logged once per lookup at debug level).
    pub fn lookup(&self, ip: IpAddr) -> GeoFix {
        let found = self.reader.lookup(ip).and_then(|r| r.decode::<Record>());
        let rec = match found {
            Ok(Some(r)) => r,
            Ok(None) => return GeoFix::default(),
            Err(e) => {
                tracing::debug!(error = %e, "geoip lookup failed");
                return GeoFix::default();
            }
        };
        GeoFix {
            country: rec
                .country
                .and_then(|c| c.iso_code)
                .and_then(|c| parse_country(&c)),
            point: rec.location.and_then(|l| match (l.latitude, l.longitude) {
                (Some(a), Some(o)) => GeoPoint::new(a, o),
                _ => None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_validated() {
        assert_eq!(parse_country(" de "), Some("DE".into()));
        assert_eq!(parse_country("DEU"), None);
        assert_eq!(parse_country("X1"), None);
        assert_eq!(
            parse_point("52.52", " 13.405"),
            GeoPoint::new(52.52, 13.405)
        );
        assert_eq!(parse_point("91", "0"), None);
        assert_eq!(parse_point("north", "0"), None);
        assert_eq!(parse_point("NaN", "0"), None);
    }

    #[test]
    fn a_file_that_is_not_a_database_names_itself() {
        let p = std::env::temp_dir().join(format!("lanyard-not-mmdb-{}", std::process::id()));
        std::fs::write(&p, b"hello").unwrap();
        let e = GeoIpDb::open(&p).unwrap_err();
        assert!(e.contains("not a MaxMind database"), "{e}");
        let _ = std::fs::remove_file(&p);
    }
}
