//! Geography: great-circle distances, zones, and what lies in them.
//!
//! - [`haversine_m`]: distance between two positions on the mean-radius sphere;
//! - [`ZoneIndex`]: which of a city's zone polygons contain a position (an R-tree over
//!   bounding boxes, then an exact point-in-polygon test);
//! - [`CityZoneMap`]: every registry sensor and facility assigned to its zones, built
//!   once at start-up;
//! - [`rollup`]: traffic and parking of a zone from the live view;
//! - [`nearby`]: facilities around a position across all cities.
//!
//! Zone polygons arrive as plain coordinates from `stadtpuls-config` (which reads the
//! files); nothing here does I/O. Positions are WGS 84 degrees; polygons are treated as
//! planar in lon/lat, which at city scale (a few km) misplaces a boundary by far less
//! than a sensor's own position error.

mod index;
pub mod nearby;
pub mod rollup;
mod zones;

pub use index::ZoneIndex;
pub use zones::{CityZoneMap, ZoneMembers};

/// Mean earth radius R₁ = (2a + b) / 3 of GRS 80, metres: the sphere that best fits the
/// ellipsoid on average (the same as `geo`'s haversine uses).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Returns the great-circle distance in metres between (`lat1`, `lon1`) and
/// (`lat2`, `lon2`), in degrees, by the haversine formula on a sphere of radius
/// R = [`EARTH_RADIUS_M`] = 6 371 008.8 m:
///
/// ```text
/// a = sin²(Δφ/2) + cos φ₁ · cos φ₂ · sin²(Δλ/2)
/// d = 2R · asin(√a)
/// ```
///
/// with φ the latitudes and λ the longitudes in radians. Against the ellipsoid the error
/// is at most ~0.5 %, far below what a parking search or a plausibility check needs;
/// `a` is clamped to 1 so rounding cannot make `asin` undefined for antipodes.
///
/// ```
/// use stadtpuls_processing::geo::haversine_m;
/// // one degree of latitude is R·π/180 ≈ 111 195 m
/// assert!((haversine_m(48.0, 9.0, 49.0, 9.0) - 111_195.08).abs() < 0.01);
/// ```
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let half_d_phi = (lat2 - lat1).to_radians() / 2.0;
    let half_d_lambda = (lon2 - lon1).to_radians() / 2.0;
    let a = half_d_phi.sin().powi(2) + phi1.cos() * phi2.cos() * half_d_lambda.sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.min(1.0).sqrt().asin()
}

#[cfg(test)]
mod tests {
    use geo::{Distance, Haversine, Point};

    use super::*;

    /// Karlsruhe centre (49.0094, 8.4044) to Ettlingen centre (48.9413, 8.4075), by hand:
    ///
    /// Δφ = −0.0681° = −0.00118857 rad, Δλ = 0.0031° = 0.0000541052 rad
    /// sin²(Δφ/2) = (−0.000594285)² = 3.531742e-7
    /// cos φ₁ · cos φ₂ · sin²(Δλ/2) = 0.655935 · 0.656832 · (0.0000270526)² = 3.1531e-10
    /// a = 3.534895e-7, √a = 0.000594550, asin(√a) = 0.000594550
    /// d = 2 · 6 371 008.8 · 0.000594550 = 7 575.76 m
    #[test]
    fn karlsruhe_to_ettlingen_by_hand() {
        let d = haversine_m(49.0094, 8.4044, 48.9413, 8.4075);
        assert!((d - 7_575.76).abs() < 0.01, "{d}");
        assert_eq!(d, haversine_m(48.9413, 8.4075, 49.0094, 8.4044));
        assert_eq!(haversine_m(49.0094, 8.4044, 49.0094, 8.4044), 0.0);
    }

    #[test]
    fn agrees_with_geo_haversine() {
        let pairs = [
            ((47.6603, 9.1758), (47.6542, 9.4797)),
            ((49.4875, 8.4660), (47.9959, 7.8522)),
            ((0.0, 0.0), (0.0, 180.0)),
        ];
        for ((lat1, lon1), (lat2, lon2)) in pairs {
            let ours = haversine_m(lat1, lon1, lat2, lon2);
            let theirs = Haversine.distance(Point::new(lon1, lat1), Point::new(lon2, lat2));
            assert!(
                (ours - theirs).abs() < 1e-6 * theirs.max(1.0),
                "{ours} vs {theirs}"
            );
        }
    }

    #[test]
    fn antipodes_are_half_the_circumference() {
        let d = haversine_m(0.0, 0.0, 0.0, 180.0);
        assert!(
            (d - std::f64::consts::PI * EARTH_RADIUS_M).abs() < 1e-6,
            "{d}"
        );
    }
}
