//! UTM (northern hemisphere) → WGS84 degrees, for publications that give projected
//! coordinates: Stadt Stuttgart's MDM facility table writes ETRS89 / UTM zone 32N metres
//! (northing in `latitude`, easting in `longitude`). The inverse transverse Mercator by
//! Krüger's series to third order in n (sub-millimetre within a zone); ETRS89 and WGS84
//! differ by well under a metre, which no car park position notices.

/// Scale on the central meridian.
const K0: f64 = 0.9996;
/// WGS84 semi-major axis, metres.
const A: f64 = 6_378_137.0;
/// WGS84 flattening.
const F: f64 = 1.0 / 298.257_223_563;
/// False easting, metres.
const E0: f64 = 500_000.0;

/// (lat, lon) in degrees of (`easting`, `northing`) metres in UTM `zone` (1..=60), north.
pub(super) fn to_wgs84(zone: u8, easting: f64, northing: f64) -> (f64, f64) {
    let n = F / (2.0 - F);
    let (n2, n3) = (n * n, n * n * n);
    let big_a = A / (1.0 + n) * (1.0 + n2 / 4.0 + n2 * n2 / 64.0);
    let beta = [
        n / 2.0 - 2.0 / 3.0 * n2 + 37.0 / 96.0 * n3,
        n2 / 48.0 + n3 / 15.0,
        17.0 / 480.0 * n3,
    ];
    let delta = [
        2.0 * n - 2.0 / 3.0 * n2 - 2.0 * n3,
        7.0 / 3.0 * n2 - 8.0 / 5.0 * n3,
        56.0 / 15.0 * n3,
    ];
    let xi = northing / (K0 * big_a);
    let eta = (easting - E0) / (K0 * big_a);
    let mut xi_p = xi;
    let mut eta_p = eta;
    for (j, b) in beta.iter().enumerate() {
        let k = 2.0 * (j as f64 + 1.0);
        xi_p -= b * (k * xi).sin() * (k * eta).cosh();
        eta_p -= b * (k * xi).cos() * (k * eta).sinh();
    }
    let chi = (xi_p.sin() / eta_p.cosh()).asin();
    let mut phi = chi;
    for (j, d) in delta.iter().enumerate() {
        phi += d * (2.0 * (j as f64 + 1.0) * chi).sin();
    }
    let lambda0 = f64::from(zone) * 6.0 - 183.0;
    let lambda = lambda0 + (eta_p.sinh() / xi_p.cos()).atan().to_degrees();
    (phi.to_degrees(), lambda)
}

#[cfg(test)]
mod tests {
    use super::to_wgs84;

    #[test]
    fn the_cn_tower_example_of_the_utm_article() {
        // Wikipedia, "Universal Transverse Mercator coordinate system": the CN Tower at
        // 43°38′33.24″N 79°23′13.7″W is 17T 630084 4833438.
        let (lat, lon) = to_wgs84(17, 630_084.0, 4_833_438.0);
        assert!((lat - 43.642_567).abs() < 2e-5, "{lat}");
        assert!((lon + 79.387_139).abs() < 2e-5, "{lon}");
    }
}
