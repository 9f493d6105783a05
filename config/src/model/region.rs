//! A region: several cities seen as one (`[[regions]]`), with the traffic sensors that
//! mark the roads crossing its city borders.

/// One `[[regions]]` entry, validated: its cities are configured cities, its corridor
/// sensors belong to them (that they are traffic sensors of their city's registry is
/// checked when the registries are loaded, [`crate::Config::load_registries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionConfig {
    /// Short id, `^[a-z0-9-]+$`, 1..=64 chars, unique among the regions; the `{region}`
    /// of `/v1/regions/{region}/…` and the `region` column of the SQL table `regions`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Member city ids, in the order written, each once; at least one.
    pub cities: Vec<String>,
    /// Traffic sensors on roads that cross a member city's border, in the order
    /// written, each once; may be empty (the region's traffic view is then empty).
    pub corridors: Vec<Corridor>,
}

/// A corridor sensor: written `"<city>/<sensor id>"` in `corridors`, the city one of
/// the region's members.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Corridor {
    /// The member city whose registry lists the sensor.
    pub city: String,
    /// The traffic sensor's registry id.
    pub sensor: String,
}

impl RegionConfig {
    /// The corridor sensors of member `city`, in the order written.
    pub fn corridors_of<'a>(&'a self, city: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.corridors
            .iter()
            .filter(move |c| c.city == city)
            .map(|c| c.sensor.as_str())
    }
}
