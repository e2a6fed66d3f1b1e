//! Impossible travel: a session seen at one place and, soon after, at a place farther away than
//! anyone could have travelled in between. PURE: the caller supplies the last sighting, the
//! new location and the time between them.
//!
//! Distances are great-circle distances on a sphere of the Earth's mean radius (the haversine
//! formula); the implied speed is compared with the policy's `travel_max_speed_kmh`. Locations
//! from IP geolocation are coarse (a city database is often off by tens of kilometres, and a
//! mobile carrier's address can geolocate to its gateway hundreds of kilometres away), so two
//! sightings closer than [`NOISE_FLOOR_KM`] are never impossible, however little time passed.

use crate::clock::UnixTime;
use serde::Serialize;

/// The Earth's mean radius (IUGG), in kilometres.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Below this distance two sightings are the same place as far as IP geolocation can tell.
pub const NOISE_FLOOR_KM: f64 = 200.0;

/// A point on the Earth, in decimal degrees (WGS 84, as geo headers and MaxMind databases give).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    /// A valid point: latitude in [-90, 90], longitude in [-180, 180], both finite.
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
            .then_some(GeoPoint { lat, lon })
    }

    /// Stored form: integer micro-degrees (exact on SQLite and PostgreSQL alike).
    pub fn to_micro(self) -> (i64, i64) {
        (
            (self.lat * 1e6).round() as i64,
            (self.lon * 1e6).round() as i64,
        )
    }

    pub fn from_micro(lat: i64, lon: i64) -> Option<Self> {
        Self::new(lat as f64 / 1e6, lon as f64 / 1e6)
    }
}

/// Where and when a session was last seen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sighting {
    pub point: GeoPoint,
    pub at: UnixTime,
}

/// Great-circle distance in kilometres (haversine).
pub fn haversine_km(a: GeoPoint, b: GeoPoint) -> f64 {
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = (b.lat - a.lat).to_radians();
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The verdict on a new sighting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum TravelDecision {
    /// Nothing to compare with (first sighting), or a plausible journey.
    Plausible,
    /// Farther than `max_speed_kmh` allows in the time elapsed.
    Impossible {
        distance_km: f64,
        /// The implied speed; `None` when no time at all passed.
        speed_kmh: Option<f64>,
    },
}

/// Decide whether moving from `prev` to `now_location` in `elapsed_secs` is possible at
/// `max_speed_kmh`. A negative elapsed time (clocks of two nodes disagreeing) counts as none.
pub fn decide_travel(
    prev: Option<GeoPoint>,
    now_location: GeoPoint,
    elapsed_secs: i64,
    max_speed_kmh: u32,
) -> TravelDecision {
    let Some(prev) = prev else {
        return TravelDecision::Plausible;
    };
    let distance_km = haversine_km(prev, now_location);
    if distance_km < NOISE_FLOOR_KM {
        return TravelDecision::Plausible;
    }
    let elapsed = elapsed_secs.max(0);
    let reachable_km = f64::from(max_speed_kmh) * elapsed as f64 / 3600.0;
    if distance_km <= reachable_km {
        return TravelDecision::Plausible;
    }
    TravelDecision::Impossible {
        distance_km,
        speed_kmh: (elapsed > 0).then(|| distance_km * 3600.0 / elapsed as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint::new(lat, lon).unwrap()
    }
    const BERLIN: (f64, f64) = (52.52, 13.405);
    const PARIS: (f64, f64) = (48.8566, 2.3522);
    const NEW_YORK: (f64, f64) = (40.7128, -74.006);
    const POTSDAM: (f64, f64) = (52.3906, 13.0645);

    fn at(c: (f64, f64)) -> GeoPoint {
        p(c.0, c.1)
    }

    #[test]
    fn haversine_matches_known_distances() {
        let d = haversine_km(at(BERLIN), at(PARIS));
        assert!((d - 878.0).abs() < 5.0, "{d}");
        let d = haversine_km(at(BERLIN), at(NEW_YORK));
        assert!((d - 6385.0).abs() < 10.0, "{d}");
        assert_eq!(haversine_km(at(BERLIN), at(BERLIN)), 0.0);
        // Across the antimeridian the short way round.
        let d = haversine_km(p(0.0, 179.5), p(0.0, -179.5));
        assert!((d - 111.2).abs() < 1.0, "{d}");
        // Antipodes: half the circumference, no NaN from rounding.
        let d = haversine_km(p(0.0, 0.0), p(0.0, 180.0));
        assert!((d - 20015.1).abs() < 1.0, "{d}");
    }

    #[test]
    fn a_first_sighting_is_plausible() {
        assert_eq!(
            decide_travel(None, at(NEW_YORK), 0, 1000),
            TravelDecision::Plausible
        );
    }

    #[test]
    fn berlin_to_new_york_in_an_hour_is_impossible_and_says_how_fast() {
        match decide_travel(Some(at(BERLIN)), at(NEW_YORK), 3600, 1000) {
            TravelDecision::Impossible {
                distance_km,
                speed_kmh,
            } => {
                assert!((distance_km - 6385.0).abs() < 10.0);
                assert!((speed_kmh.unwrap() - distance_km).abs() < 1e-6);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn berlin_to_new_york_after_a_flight_is_plausible() {
        // Eight hours: 800 km/h average, under a 1000 km/h limit.
        assert_eq!(
            decide_travel(Some(at(BERLIN)), at(NEW_YORK), 8 * 3600, 1000),
            TravelDecision::Plausible
        );
        // The same trip under a 500 km/h limit is not.
        assert!(matches!(
            decide_travel(Some(at(BERLIN)), at(NEW_YORK), 8 * 3600, 500),
            TravelDecision::Impossible { .. }
        ));
    }

    #[test]
    fn the_boundary_speed_itself_is_allowed() {
        let d = haversine_km(at(BERLIN), at(PARIS));
        // Exactly the time the limit needs, then a second less.
        let secs = (d / 1000.0 * 3600.0).ceil() as i64;
        assert_eq!(
            decide_travel(Some(at(BERLIN)), at(PARIS), secs, 1000),
            TravelDecision::Plausible
        );
        assert!(matches!(
            decide_travel(Some(at(BERLIN)), at(PARIS), secs - 1, 1000),
            TravelDecision::Impossible { .. }
        ));
    }

    #[test]
    fn nearby_places_are_never_impossible_geolocation_is_coarse() {
        // Berlin to Potsdam (~27 km) in no time at all.
        assert_eq!(
            decide_travel(Some(at(BERLIN)), at(POTSDAM), 0, 1),
            TravelDecision::Plausible
        );
    }

    #[test]
    fn no_time_or_a_clock_going_backwards_means_no_speed() {
        for elapsed in [0, -30] {
            match decide_travel(Some(at(BERLIN)), at(PARIS), elapsed, 1000) {
                TravelDecision::Impossible { speed_kmh, .. } => assert_eq!(speed_kmh, None),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn points_are_validated_and_stored_exactly() {
        assert_eq!(GeoPoint::new(91.0, 0.0), None);
        assert_eq!(GeoPoint::new(0.0, -180.5), None);
        assert_eq!(GeoPoint::new(f64::NAN, 0.0), None);
        let b = at(BERLIN);
        let (la, lo) = b.to_micro();
        assert_eq!((la, lo), (52_520_000, 13_405_000));
        assert_eq!(GeoPoint::from_micro(la, lo), Some(b));
        assert_eq!(GeoPoint::from_micro(95_000_000, 0), None);
    }
}
