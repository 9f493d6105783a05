//! Traffic-state settings: the MARZ site classes, their built-in defaults and the
//! class a road's free-flow speed implies.

/// Lane counts a site class gives density thresholds for; registry sensors have 1..=8 lanes.
pub const MAX_LANES: usize = 8;

/// Built-in site class of roads with a free-flow speed up to 50 km/h.
pub const SITE_CLASS_URBAN: &str = "urban";
/// Built-in site class of roads with a free-flow speed above 50 and up to 80 km/h.
pub const SITE_CLASS_ARTERIAL: &str = "arterial";
/// Built-in site class of roads with a free-flow speed above 80 km/h.
pub const SITE_CLASS_MOTORWAY: &str = "motorway";

/// MARZ 2004 density thresholds k1 / k2 (veh/km, whole cross-section) by lane count 1..=8,
/// as set by the bsvrz `MQMarzParameterSetter`: 20/50 for one lane, 30/60 for two, 40/70
/// for three, 50/80 for four and more.
pub(crate) const MARZ_K1_VEH_KM: [f64; MAX_LANES] =
    [20.0, 30.0, 40.0, 50.0, 50.0, 50.0, 50.0, 50.0];
pub(crate) const MARZ_K2_VEH_KM: [f64; MAX_LANES] =
    [50.0, 60.0, 70.0, 80.0, 80.0, 80.0, 80.0, 80.0];

/// Traffic-state settings: the site classes whose thresholds decide MARZ states Z1–Z4.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficConfig {
    /// Every site class, sorted by name: the built-in `arterial`, `motorway` and `urban`
    /// (each replaced by a configured table of the same name) plus the configured ones.
    pub site_classes: Vec<SiteClass>,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            site_classes: SiteClass::built_in().to_vec(),
        }
    }
}

impl TrafficConfig {
    /// Returns the position of the class called `name` in [`Self::site_classes`].
    pub fn site_class_index(&self, name: &str) -> Option<usize> {
        self.site_classes
            .iter()
            .position(|class| class.name == name)
    }

    /// Returns the class called `name`.
    pub fn site_class(&self, name: &str) -> Option<&SiteClass> {
        self.site_classes.iter().find(|class| class.name == name)
    }
}

/// MARZ 2004 thresholds of one kind of road (`[traffic.site_classes.<name>]`).
///
/// A window with space-mean speed v and density k is free (Z1) at v ≥ v2 and k ≤ k1, dense
/// (Z2) at v ≥ v2 and k1 < k ≤ k2, slow (Z3) at v1 ≤ v < v2 and k ≤ k2 and jammed (Z4) at
/// v < v1 and k > k2 (see `stadtpuls_processing::marz`). Always 0 < v1 < v2 and
/// 0 < k1 < k2 for every lane count.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteClass {
    /// Name used by the registry column `site_class`, `^[a-z0-9_-]+$`.
    pub name: String,
    /// Below this space-mean speed traffic is stop-and-go (Z4 candidate), km/h.
    pub v1_kmh: f64,
    /// At or above this space-mean speed traffic flows (Z1 or Z2), km/h.
    pub v2_kmh: f64,
    /// Density up to which flowing traffic is free, veh/km over the whole cross-section;
    /// entry `i` applies to `i + 1` lanes.
    pub k1_veh_km: [f64; MAX_LANES],
    /// Density above which traffic is jammed (Z4 candidate), veh/km; entry `i` applies to
    /// `i + 1` lanes.
    pub k2_veh_km: [f64; MAX_LANES],
}

impl SiteClass {
    /// Returns the built-in classes, sorted by name.
    ///
    /// They are site defaults for cities without their own calibration, not norms. The
    /// motorway speeds v1 30 / v2 80 km/h and the density table (20/50 veh/km for one
    /// lane up to 50/80 for four and more) are the MARZ 2004 defaults of the bsvrz
    /// parameter setter. Urban (v1 15 / v2 35) and arterial (v1 20 / v2 50) scale the
    /// speed thresholds to 50 and 70 km/h roads: v2 at about 70 % of the free-flow speed,
    /// as 80 is of a motorway's ~115, and v1 at about 30 %, below which urban traffic is
    /// queuing at signals rather than slow. They keep the MARZ density table: density
    /// thresholds express how many vehicles a cross-section holds, which depends on its
    /// lanes more than on its speed limit.
    pub fn built_in() -> [SiteClass; 3] {
        let class = |name: &str, v1_kmh: f64, v2_kmh: f64| SiteClass {
            name: name.to_owned(),
            v1_kmh,
            v2_kmh,
            k1_veh_km: MARZ_K1_VEH_KM,
            k2_veh_km: MARZ_K2_VEH_KM,
        };
        [
            class(SITE_CLASS_ARTERIAL, 20.0, 50.0),
            class(SITE_CLASS_MOTORWAY, 30.0, 80.0),
            class(SITE_CLASS_URBAN, 15.0, 35.0),
        ]
    }

    /// Returns the density thresholds `(k1, k2)` in veh/km for a cross-section of `lanes`
    /// lanes; 0 lanes counts as one, more than [`MAX_LANES`] as that many.
    pub fn density_thresholds(&self, lanes: u8) -> (f64, f64) {
        let index = usize::from(lanes.clamp(1, MAX_LANES as u8)) - 1;
        (self.k1_veh_km[index], self.k2_veh_km[index])
    }
}

/// Returns the built-in site class of a road with this free-flow speed: up to 50 km/h
/// `urban`, up to 80 km/h `arterial`, above `motorway`.
///
/// The bounds follow German speed limits: 50 in towns, 70–80 on arterials and rural
/// roads, more only on motorways and expressways.
pub fn derived_site_class(free_flow_kmh: f64) -> &'static str {
    if free_flow_kmh <= 50.0 {
        SITE_CLASS_URBAN
    } else if free_flow_kmh <= 80.0 {
        SITE_CLASS_ARTERIAL
    } else {
        SITE_CLASS_MOTORWAY
    }
}
