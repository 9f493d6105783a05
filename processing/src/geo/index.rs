//! Which zones contain a position: an R-tree over zone bounding boxes narrows the
//! candidates, an exact point-in-polygon test decides.

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::{BoundingRect, Coord, LineString, MultiPolygon, Polygon};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};
use stadtpuls_config::{LonLat, ZonePolygon, ZoneSpec};

/// A zone's bounding box in the tree, `[lon, lat]` corners, with the zone's index.
type ZoneBox = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// The zones of one city, searchable by position.
///
/// Zone `i` is the `i`-th of the slice the index was built from. Bounding boxes prune
/// cheaply (a city has a handful to a few hundred zones, each with up to thousands of
/// vertices); only the zones whose box holds the point get the exact test.
#[derive(Debug, Clone)]
pub struct ZoneIndex {
    shapes: Vec<MultiPolygon<f64>>,
    tree: RTree<ZoneBox>,
}

impl ZoneIndex {
    /// Builds the index of `zones` (validated by the config crate: closed rings, at
    /// least one polygon each).
    pub fn new(zones: &[ZoneSpec]) -> Self {
        let shapes: Vec<MultiPolygon<f64>> = zones.iter().map(shape).collect();
        let boxes = shapes
            .iter()
            .enumerate()
            .filter_map(|(index, shape)| {
                // `None` only for an empty shape, which validation rules out; such a
                // zone would simply never match.
                let rect = shape.bounding_rect()?;
                let corners =
                    Rectangle::from_corners(rect.min().x_y().into(), rect.max().x_y().into());
                Some(GeomWithData::new(corners, index))
            })
            .collect();
        Self {
            shapes,
            tree: RTree::bulk_load(boxes),
        }
    }

    /// Returns the indices of the zones containing (`lat`, `lon`), ascending.
    ///
    /// A point on a zone's boundary counts as inside: where two districts share an edge,
    /// a sensor on it belongs to both rather than to neither. Holes are outside (their
    /// boundary, again, inside).
    ///
    /// ```
    /// use stadtpuls_config::{LonLat, ZoneKind, ZonePolygon, ZoneSpec};
    /// use stadtpuls_processing::geo::ZoneIndex;
    ///
    /// let ring = [(9.98, 48.39), (10.0, 48.39), (10.0, 48.40), (9.98, 48.40), (9.98, 48.39)]
    ///     .map(|(lon, lat)| LonLat { lon, lat })
    ///     .to_vec();
    /// let zone = ZoneSpec { id: "ulm-mitte".into(), name: "Mitte".into(), kind: ZoneKind::District,
    ///     polygons: vec![ZonePolygon { exterior: ring, holes: vec![] }] };
    /// let index = ZoneIndex::new(&[zone]);
    /// assert_eq!(index.zones_of(48.395, 9.99), vec![0]);
    /// assert!(index.zones_of(48.41, 9.99).is_empty());
    /// ```
    pub fn zones_of(&self, lat: f64, lon: f64) -> Vec<usize> {
        let coord = Coord { x: lon, y: lat };
        let mut found: Vec<usize> = self
            .tree
            .locate_all_at_point(&[lon, lat])
            .map(|candidate| candidate.data)
            .filter(|&index| {
                self.shapes
                    .get(index)
                    .is_some_and(|shape| covers(shape, &coord))
            })
            .collect();
        found.sort_unstable();
        found
    }

    /// Returns the number of zones.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Returns true when the city has no zones.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }
}

/// Tests each polygon on its own: OGC's mod-2 boundary rule for multipolygons would
/// call a point on an edge shared by two of a zone's polygons outside.
fn covers(shape: &MultiPolygon<f64>, coord: &Coord<f64>) -> bool {
    shape
        .0
        .iter()
        .any(|polygon| polygon.coordinate_position(coord) != CoordPos::Outside)
}

fn shape(zone: &ZoneSpec) -> MultiPolygon<f64> {
    MultiPolygon::new(zone.polygons.iter().map(polygon).collect())
}

fn polygon(polygon: &ZonePolygon) -> Polygon<f64> {
    Polygon::new(
        ring(&polygon.exterior),
        polygon.holes.iter().map(|hole| ring(hole)).collect(),
    )
}

fn ring(positions: &[LonLat]) -> LineString<f64> {
    positions
        .iter()
        .map(|position| Coord {
            x: position.lon,
            y: position.lat,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use stadtpuls_config::ZoneKind;

    use super::*;

    /// An axis-aligned rectangle ring, closed, counter-clockwise.
    pub(crate) fn rect(lon0: f64, lat0: f64, lon1: f64, lat1: f64) -> Vec<LonLat> {
        [
            (lon0, lat0),
            (lon1, lat0),
            (lon1, lat1),
            (lon0, lat1),
            (lon0, lat0),
        ]
        .map(|(lon, lat)| LonLat { lon, lat })
        .to_vec()
    }

    pub(crate) fn zone(id: &str, kind: ZoneKind, polygons: Vec<ZonePolygon>) -> ZoneSpec {
        ZoneSpec {
            id: id.to_owned(),
            name: id.to_owned(),
            kind,
            polygons,
        }
    }

    pub(crate) fn solid(ring: Vec<LonLat>) -> ZonePolygon {
        ZonePolygon {
            exterior: ring,
            holes: Vec::new(),
        }
    }

    /// A 2×2 "city" in made-up degrees: west district x 0..1, east district x 1..2
    /// (sharing the edge x = 1); a centre district 0.5..1.5 × 0.5..1.5 with a hole
    /// 0.9..1.1 × 0.9..1.1 (a park); a parking zone made of two squares, one in each
    /// district.
    fn city() -> ZoneIndex {
        ZoneIndex::new(&[
            zone(
                "west",
                ZoneKind::District,
                vec![solid(rect(0.0, 0.0, 1.0, 2.0))],
            ),
            zone(
                "east",
                ZoneKind::District,
                vec![solid(rect(1.0, 0.0, 2.0, 2.0))],
            ),
            zone(
                "centre",
                ZoneKind::District,
                vec![ZonePolygon {
                    exterior: rect(0.5, 0.5, 1.5, 1.5),
                    holes: vec![rect(0.9, 0.9, 1.1, 1.1)],
                }],
            ),
            zone(
                "parking",
                ZoneKind::ParkingZone,
                vec![
                    solid(rect(0.1, 0.1, 0.3, 0.3)),
                    solid(rect(1.7, 1.7, 1.9, 1.9)),
                ],
            ),
        ])
    }

    #[test]
    fn point_in_polygon_respects_holes() {
        let index = city();
        // (lat, lon): inside the centre ring but not in the park
        assert_eq!(index.zones_of(0.6, 0.6), vec![0, 2]);
        // in the park: the hole is not part of the centre district
        assert_eq!(index.zones_of(0.95, 0.95), vec![0]);
        assert_eq!(index.zones_of(1.05, 1.05), vec![1]);
    }

    #[test]
    fn multipolygon_parts_all_count() {
        let index = city();
        assert_eq!(index.zones_of(0.2, 0.2), vec![0, 3]);
        assert_eq!(index.zones_of(1.8, 1.8), vec![1, 3]);
        // between the two parts: inside the parking zone's bounding box, not its area
        assert_eq!(index.zones_of(1.0, 0.2), vec![0]);
    }

    #[test]
    fn boundaries_belong_to_both_sides() {
        let index = city();
        // on the shared edge x = 1, outside the centre district
        assert_eq!(index.zones_of(0.25, 1.0), vec![0, 1]);
        // on the park's edge: still in the centre district
        assert_eq!(index.zones_of(1.0, 0.9), vec![0, 2]);
    }

    #[test]
    fn outside_every_zone_is_empty() {
        let index = city();
        assert!(index.zones_of(2.5, 0.5).is_empty());
        assert!(index.zones_of(-0.1, 1.0).is_empty());
        assert_eq!(index.len(), 4);
        assert!(ZoneIndex::new(&[]).zones_of(0.5, 0.5).is_empty());
        assert!(ZoneIndex::new(&[]).is_empty());
    }

    /// The tree must find the same zones as testing every polygon: a 30 × 30 grid of
    /// small zones, probed at and between their corners.
    #[test]
    fn rtree_lookup_matches_a_full_scan() {
        let zones: Vec<ZoneSpec> = (0..900)
            .map(|i| {
                let (col, row) = (f64::from(i % 30), f64::from(i / 30));
                let ring = rect(
                    col * 0.01,
                    row * 0.01,
                    col * 0.01 + 0.012,
                    row * 0.01 + 0.012,
                );
                zone(&format!("z{i}"), ZoneKind::District, vec![solid(ring)])
            })
            .collect();
        let index = ZoneIndex::new(&zones);
        let scan = |lat: f64, lon: f64| -> Vec<usize> {
            let coord = Coord { x: lon, y: lat };
            (0..index.shapes.len())
                .filter(|&i| covers(&index.shapes[i], &coord))
                .collect()
        };
        for step in 0..200 {
            let lat = f64::from(step) * 0.00157;
            let lon = f64::from(step % 37) * 0.0083;
            assert_eq!(index.zones_of(lat, lon), scan(lat, lon), "({lat}, {lon})");
        }
        // overlapping squares: a point in an overlap is in four zones
        assert_eq!(index.zones_of(0.0105, 0.0105), vec![0, 1, 30, 31]);
    }
}
