//! The fixture table of `e2e_fixtures.rs`: every file of `ingest/tests/fixtures/feeds/`,
//! in the time order of its observations, with the values a person reads in it, and the
//! registry that maps the files' ids (the same for both cities).

use super::common::datex2::{AACHEN_STATUS, STUTTGART_STATUS};

/// Which feed of a city a file goes to: one topic per family, each in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Fiware,
    Parkapi,
    Datex2,
    /// TTN uplinks of Nwave sensors (`codec = "nwave-nps"`).
    TtnNwave,
    /// TTN uplinks of Bosch sensors (`codec = "bosch-pls"`).
    TtnBosch,
}

impl Family {
    /// The `format` of its feed, and the metrics' `format` label.
    pub fn format(self) -> &'static str {
        match self {
            Self::Fiware => "fiware",
            Self::Parkapi => "parkapi",
            Self::Datex2 => "datex2",
            Self::TtnNwave | Self::TtnBosch => "ttn",
        }
    }
}

/// What the API and the history show of a file.
#[derive(Debug, Clone)]
pub enum Expect {
    /// (registry facility, free, total): a facility's counts, or a zone of one spot
    /// (free 1 = the spot is free, 0 = occupied).
    Levels(Vec<(String, u64, u64)>),
    /// (registry traffic sensor, vehicles): the vehicles the file reports for the sensor;
    /// files of one window add up.
    Vehicles(Vec<(&'static str, u64)>),
    /// Nothing to see, and why.
    Nothing(&'static str),
}

/// One fixture: its path below `ingest/tests/fixtures/feeds/`, its family, the edits
/// made before sending it (to both cities alike) and what it shows.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub file: &'static str,
    pub family: Family,
    pub edits: Vec<(&'static str, &'static str)>,
    pub expect: Expect,
}

fn fixture(file: &'static str, family: Family, expect: Expect) -> Fixture {
    Fixture {
        file,
        family,
        edits: Vec::new(),
        expect,
    }
}

fn levels(levels: &[(&str, u64, u64)]) -> Expect {
    Expect::Levels(
        levels
            .iter()
            .map(|(id, free, total)| ((*id).to_owned(), *free, *total))
            .collect(),
    )
}

/// The device id every ThingsBoard uplink carries.
const EUI: &str = "\"dev_eui\": \"1000000000000001\"";
const STATIC: &str = "a static table: `stadtpuls registry import` reads it (tests/e2e_onboarding.rs); \
     the pipeline refuses it whole as malformed";

/// Every fixture, in time order (the static tables carry no observation time).
pub fn fixtures() -> Vec<Fixture> {
    use Family::*;
    let fiware = |file, expect| fixture(file, Fiware, expect);
    let traffic = || Expect::Vehicles(vec![("va-1", 197)]);
    let porto = || levels(&[("trindade", 132, 414)]);
    let velarde = || levels(&[("velarde", 3, 6)]);
    let disabled = || levels(&[("velarde-disabled", 1, 2)]);
    let spot = || levels(&[("velarde-zone", 1, 1)]);
    let no_time = "keyValues without any time (no observedAt, dateObserved or dateModified): \
         refused as malformed, the same entity's normalized forms carry the values";
    let aachen: Vec<(String, u64, u64)> = AACHEN_STATUS
        .iter()
        .map(|(record, free, total)| (format!("aachen-{record}"), *free, *total))
        .collect();
    let stuttgart: Vec<(String, u64, u64)> = STUTTGART_STATUS
        .iter()
        .map(|(record, free)| (format!("stuttgart-{record}"), *free, 2000))
        .collect();
    let mut table = vec![
        fixture(
            "datex2/parkapi-sources_aachen-static.xml",
            Datex2,
            Expect::Nothing(STATIC),
        ),
        fixture(
            "datex2/parkapi-sources_friedrichshafen-sensors-static.xml",
            Datex2,
            Expect::Nothing(STATIC),
        ),
        fixture(
            "datex2/parkapi-sources_stuttgart-static.xml",
            Datex2,
            Expect::Nothing(STATIC),
        ),
        fixture(
            "datex2/parkapi-sources_vrs_bondorf-static.xml",
            Datex2,
            Expect::Nothing(STATIC),
        ),
        // NDW's measurement site table (ingest/src/import/sites/tests.rs,
        // ingest/tests/datex2_ndw_lanes.rs) and the bare record of its site, without a
        // namespace (not DATEX II to the decoder).
        fixture(
            "datex2/verkeersdrukte_MeasurementSiteTable.xml",
            Datex2,
            Expect::Nothing(STATIC),
        ),
        fixture(
            "datex2/verkeersdrukte_MeasurementSiteRecord.xml",
            Datex2,
            Expect::Nothing(
                "a bare measurementSiteRecord without a namespace: refused whole as malformed",
            ),
        ),
        // 2016-12-07 11:10–11:15, lane 1: intensity 197 in each of the four forms.
        fiware("fiware/TrafficFlowObserved/example.json", traffic()),
        fiware(
            "fiware/TrafficFlowObserved/example-normalized.json",
            traffic(),
        ),
        fiware("fiware/TrafficFlowObserved/example.jsonld", traffic()),
        fiware(
            "fiware/TrafficFlowObserved/example-normalized.jsonld",
            traffic(),
        ),
        // 2018-09-12: 6 spots, 3 available.
        fiware("fiware/OnStreetParking/example-normalized.json", velarde()),
        fiware(
            "fiware/OnStreetParking/example-normalized.jsonld",
            velarde(),
        ),
        // 2018-09-12: 2 disabled spots, 1 available.
        fiware("fiware/ParkingGroup/example-normalized.json", disabled()),
        fiware("fiware/ParkingGroup/example-normalized.jsonld", disabled()),
        fiware("fiware/ParkingGroup/example.json", Expect::Nothing(no_time)),
        fiware(
            "fiware/ParkingGroup/example.jsonld",
            Expect::Nothing(no_time),
        ),
        // 2018-09-21: spot A-13 `free`.
        fiware("fiware/ParkingSpot/example-normalized.json", spot()),
        fiware("fiware/ParkingSpot/example-normalized.jsonld", spot()),
        fiware("fiware/ParkingSpot/example.json", Expect::Nothing(no_time)),
        fiware(
            "fiware/ParkingSpot/example.jsonld",
            Expect::Nothing(no_time),
        ),
        // 2018-09-21: 132 of 414 available.
        fiware("fiware/OffStreetParking/example.json", porto()),
        fiware("fiware/OffStreetParking/example-normalized.json", porto()),
        fiware("fiware/OffStreetParking/example.jsonld", porto()),
        fiware("fiware/OffStreetParking/example-normalized.jsonld", porto()),
        // 2021-03-11 (dateModified): the keyValues forms, 3 available.
        fiware("fiware/OnStreetParking/example.json", velarde()),
        fiware("fiware/OnStreetParking/example.jsonld", velarde()),
        // ParkAPI2 pools (2021-11, 2022-03): Datteln's lots, Dresden's (Frauenkirche
        // `closed`: none free; Luisenhospital `nodata`: nothing).
        fixture(
            "parkapi/ParkAPI2_datteln-01.json",
            Parkapi,
            levels(&[("datteln-deck", 197, 207), ("datteln-haus", 63, 76)]),
        ),
        fixture(
            "parkapi/ParkAPI2_datteln-02.json",
            Parkapi,
            Expect::Nothing("Luisenhospital: `status` nodata, `num_free` null"),
        ),
        fixture(
            "parkapi/ParkAPI2_dresden-01.json",
            Parkapi,
            levels(&[("altmarkt", 154, 400), ("frauenkirche", 0, 120)]),
        ),
    ];
    // TTN (2023-05-18, then 05-19): one device per uplink, its spot alone in a zone. The
    // Nwave heartbeat and startup are the status device's next frames (no parking state).
    let ttn = |file, family, edits: &[(&'static str, &'static str)], expect| Fixture {
        file,
        family,
        edits: edits.to_vec(),
        expect,
    };
    table.extend([
        ttn(
            "ttn/thingsboard_nwave-g4-nps-sm_tts-industries_payload.json",
            TtnNwave,
            &[(EUI, "\"dev_eui\": \"1000000000000005\"")],
            levels(&[("zone-s-2", 0, 1)]),
        ),
        ttn(
            "ttn/thingsboard_nwave-g4-nps-sm_tts-community_payload.json",
            TtnNwave,
            &[],
            levels(&[("zone-s-1", 0, 1)]),
        ),
        ttn(
            "ttn/thingsboard_nwave-g4-nps-sm_tts-community_payload_1.json",
            TtnNwave,
            &[("\"f_cnt\": 10335", "\"f_cnt\": 10336")],
            Expect::Nothing("Nwave heartbeat (f_port 2): no parking state"),
        ),
        ttn(
            "ttn/thingsboard_nwave-g4-nps-sm_tts-community_payload_2.json",
            TtnNwave,
            &[("\"f_cnt\": 10335", "\"f_cnt\": 10337")],
            Expect::Nothing("Nwave startup (f_port 3): no parking state"),
        ),
        ttn(
            "ttn/thingsboard_bosch-pls_tts-community_payload_1.json",
            TtnBosch,
            &[(EUI, "\"dev_eui\": \"1000000000000002\"")],
            levels(&[("zone-d-1", 0, 1)]),
        ),
        ttn(
            "ttn/thingsboard_bosch-pls_tts-community_payload_2.json",
            TtnBosch,
            &[(EUI, "\"dev_eui\": \"1000000000000003\"")],
            levels(&[("zone-d-2", 1, 1)]),
        ),
        ttn(
            "ttn/thingsboard_bosch-pls_tts-community_payload.json",
            TtnBosch,
            &[(EUI, "\"dev_eui\": \"1000000000000004\"")],
            levels(&[("zone-d-3", 0, 1)]),
        ),
    ]);
    table.extend([
        // 2023-10-07, legacy MDM profile. Only the last minute's records: the others are
        // up to 20 months older, late for the history (see STUTTGART_STATUS).
        fixture(
            "datex2/parkapi-sources_stuttgart-realtime.xml",
            Datex2,
            Expect::Levels(stuttgart),
        ),
        // 2025-02-07: the records of the last 21 minutes (AACHEN_STATUS); P5, P13, P14
        // and P16 are days older, late for the history.
        fixture(
            "datex2/parkapi-sources_aachen-realtime.xml",
            Datex2,
            Expect::Levels(aachen),
        ),
        // 2025-05-09: P+R Bondorf, 215 of 313.
        fixture(
            "datex2/parkapi-sources_vrs_bondorf-realtime.xml",
            Datex2,
            levels(&[("bondorf", 215, 313)]),
        ),
        // 2025-06: Hofdiener 15 of 158; the list's second site has `uidx` (refused).
        fixture(
            "parkapi/park-api-v3_parking-site-item.json",
            Parkapi,
            levels(&[("hofdiener", 15, 158)]),
        ),
        fixture(
            "parkapi/park-api-v3_parking-site-list.json",
            Parkapi,
            levels(&[("hofdiener", 15, 158)]),
        ),
        // 2025-07-18 06:41: per-space sensors, one space each (a selection of the 55).
        fixture(
            "datex2/parkapi-sources_friedrichshafen-sensors-realtime.xml",
            Datex2,
            levels(&[
                ("fn-PH19", 0, 1),
                ("fn-PH21", 1, 1),
                ("fn-PH05", 0, 1),
                ("fn-PH55", 1, 1),
            ]),
        ),
        // 2025-08-15 21:48: NDW site PZH01_MST_0065_00: flows 0, 120, 0, 0, 0, 120 veh/h on
        // indices 1–6, speeds on 7–12 (72 km/h on 8 and 12); 19,586 unmapped sites. No
        // site table of it is in the fixtures; the registry maps it as one lane of five
        // length classes (flows 1–5, speeds 7–11) with the all-vehicle totals at 6 and 12
        // left out, as NDW's record of PZH01_MST_0629_00 lays out three classes: index 6
        // is the sum of 1–5 at 953 of the 965 sites of this layout with traffic, and 12
        // equals 8 here. So lane 1: 120 veh/h over a minute = 2 vehicles (a bare id, each
        // index its own lane, counted 2 and its total 6: 4).
        fixture(
            "datex2/verkeersdrukte_trafficspeed.xml.gz",
            Datex2,
            Expect::Vehicles(vec![("nl-0065", 2)]),
        ),
        // 2026-07-24 19:46–19:47, DATEX II 3, the site's own vacant counts (no capacity in
        // the file: the registry's, vacant + occupied where the file has any). NL-12_8 (326
        // vacant, 4 occupied) is refused whole: its parkingOccupancy is -30.0. NL-12_413
        // (`parkingSiteStatus` unknown, 0 vacant, 0 occupied) is taken as 0 free.
        fixture(
            "datex2/datex4j_netherlands-truckparking-status.xml",
            Datex2,
            levels(&[
                ("truck-413", 0, 10),
                ("truck-408", 29, 46),
                ("truck-421", 576, 576),
                ("truck-411", 222, 235),
                ("truck-418", 8, 8),
                ("truck-414", 0, 10),
                ("truck-409", 46, 46),
            ]),
        ),
        // 2026-07-25 08:30 +02:00: 1010 veh/h and 1420 veh/h over a minute (17, 24).
        fixture(
            "datex2/datex4j_france-speeds.xml",
            Datex2,
            Expect::Vehicles(vec![("fr-mum76", 17), ("fr-a1", 24)]),
        ),
    ]);
    table
}

/// The registry of both cities: every id a fixture names, by `external_id`; every entry
/// at the cities' centre (the registry check wants its entries within 50 km of it).
pub fn registry() -> String {
    let mut csv = String::from(
        "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
        va-1,traffic,Avenida de Salamanca,50.77,6.08,2,,,TrafficFlowObserved-Valladolid-osm-60821110;urn:ngsi-ld:TrafficFlowObserved:TrafficFlowObserved-Valladolid-osm-60821110\n\
        closer,traffic,Closer,50.77,6.08,1,,,urn:ngsi-ld:TrafficFlowObserved:closer\n\
        closer-p,parking_facility,Closer,50.77,6.08,,2,,urn:ngsi-ld:OffStreetParking:closer\n\
        trindade,parking_facility,Trindade,50.77,6.08,,400,,porto-ParkingLot-23889;urn:ngsi-ld:OffStreetParking:porto-ParkingLot-23889\n\
        velarde,parking_facility,Daoiz y Velarde,50.77,6.08,,6,,santander:daoiz_velarde_1_5;urn:ngsi-ld:OnStreetParking:santander:daoiz_velarde_1_5\n\
        velarde-disabled,parking_facility,Daoiz y Velarde (disabled),50.77,6.08,,2,,daoiz-velarde-1-5-disabled;urn:ngsi-ld:ParkingGroup:daoiz-velarde-1-5-disabled\n\
        velarde-zone,parking_facility,Daoiz y Velarde spots,50.77,6.08,,,,\n\
        velarde-3,parking_spot,A-13,50.77,6.08,,,velarde-zone,santander:daoiz_velarde_1_5:3;urn:ngsi-ld:ParkingSpot:santander:daoiz_velarde_1_5:3\n\
        hofdiener,parking_facility,Parkhaus Hofdiener,50.77,6.08,,158,,12717250\n\
        datteln-deck,parking_facility,Parkdeck StadtGalerie,50.77,6.08,,207,,datteln-parkdeck-stadtgalerie\n\
        datteln-haus,parking_facility,Parkhaus StadtGalerie,50.77,6.08,,76,,datteln-parkhaus-stadtgalerie\n\
        luisenhospital,parking_facility,Luisenhospital,50.77,6.08,,70,,aachen-parkplatz-luisenhospital\n\
        altmarkt,parking_facility,Altmarkt,50.77,6.08,,400,,dresdenaltmarkt\n\
        frauenkirche,parking_facility,An der Frauenkirche,50.77,6.08,,120,,dresdenanderfrauenkirche\n\
        bondorf,parking_facility,P+R Bondorf,50.77,6.08,,313,,1035\n\
        nl-0065,traffic,PZH01_MST_0065_00,50.77,6.08,1,,,PZH01_MST_0065_00#1=1;PZH01_MST_0065_00#2=1;PZH01_MST_0065_00#3=1;PZH01_MST_0065_00#4=1;PZH01_MST_0065_00#5=1;PZH01_MST_0065_00#7=1;PZH01_MST_0065_00#8=1;PZH01_MST_0065_00#9=1;PZH01_MST_0065_00#10=1;PZH01_MST_0065_00#11=1\n\
        fr-mum76,traffic,MUM76.h1,50.77,6.08,1,,,MUM76.h1\n\
        fr-a1,traffic,A0001011200,50.77,6.08,1,,,A0001011200\n",
    );
    for (spot, eui) in [("s-1", 1), ("s-2", 5), ("d-1", 2), ("d-2", 3), ("d-3", 4)] {
        csv.push_str(&format!(
            "zone-{spot},parking_facility,Zone {spot},50.77,6.08,,,,\n\
             {spot},parking_spot,{spot},50.77,6.08,,,zone-{spot},{eui_id}\n",
            eui_id = 1_000_000_000_000_000u64 + eui
        ));
    }
    for (record, _, _) in AACHEN_STATUS {
        csv.push_str(&format!(
            "aachen-{record},parking_facility,Aachen {record},50.77,6.08,,1000,,{record}\n"
        ));
    }
    for (record, _) in STUTTGART_STATUS {
        csv.push_str(&format!(
            "stuttgart-{record},parking_facility,Stuttgart {record},50.77,6.08,,2000,,{record}\n"
        ));
    }
    for record in ["PH19", "PH21", "PH05", "PH55"] {
        csv.push_str(&format!(
            "fn-{record},parking_facility,Friedrichshafen {record},50.77,6.08,,1,,{record}\n"
        ));
    }
    for (site, capacity) in [
        ("413", 10),
        ("408", 46),
        ("421", 576),
        ("411", 235),
        ("418", 8),
        ("414", 10),
        ("409", 46),
        ("8", 330),
    ] {
        csv.push_str(&format!(
            "truck-{site},parking_facility,NL-12_{site},50.77,6.08,,{capacity},,NL-12_{site}\n"
        ));
    }
    csv
}
