//! The DATEX II rows of "Bad input and what it gets" (`docs/input.md`): each kind of bad
//! DATEX II input, through the pipeline step of a city whose topic is configured
//! `format = "datex2"`, gets its dead letter and moves both its counters by exactly one —
//! `stadtpuls_events_rejected_total{city,kind,reason}` and
//! `stadtpuls_feed_observations_rejected_total{city,format,reason}` — while the good
//! records around it are accepted.
//!
//! City `aachen` is this test's own, so the other tests of the binary never move its labels.

use std::sync::Arc;

use stadtpuls_config::FeedFormat;
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_ingest::decode::feed::FeedTopics;
use stadtpuls_ingest::metrics::{EVENTS_REJECTED, FEED_REJECTED};
use stadtpuls_ingest::pipeline::{Limits, Pipeline, PipelineOptions, RawMessage};
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

use super::NOW;

const DATEX: &str = "aachen.datex2";
/// A conventional topic, configured for nothing: native unless a header says otherwise.
const NATIVE: &str = "sensors.aachen.parking";

fn pipeline() -> Pipeline {
    let mut catalog = Catalog::with_cities(&["aachen"], UnknownSensors::Reject);
    catalog.add_facility(0, "aachen-p1", Some(560));
    catalog.add_traffic(0, "a4-km12", 2, 100.0);
    let mut feeds = FeedTopics::default();
    feeds.insert(DATEX, 0, "aachen", FeedFormat::Datex2);
    let mut ids = ExternalIds::default();
    ids.insert(0, "P1", "aachen-p1", None);
    ids.insert(0, "A4.12", "a4-km12", None);
    let spec = WindowSpec::tumbling(&[60_000], 30_000, 600_000, TimestampSemantics::IntervalEnd);
    let limits = Limits {
        max_message_bytes: 8192,
        max_future_ms: 300_000,
        max_clock_jump_ms: 150_000,
    };
    let options = PipelineOptions {
        update_live: false,
        ..PipelineOptions::default()
    };
    Pipeline::from_parts(
        catalog,
        &spec,
        &ParkingSpec::default(),
        limits,
        Arc::new(LiveState::new(0)),
        options,
    )
    .with_feeds(feeds, ids)
}

/// A record of Aachen's shape at 2026-11-24T00:50:00Z (01:50 local, `+01:00`), `ns2:` prefix.
fn record(id: &str, occupancy: &str) -> String {
    format!(
        r#"<ns2:parkingRecordStatus xsi:type="ns2:ParkingSiteStatus"><ns2:parkingRecordReference id="{id}" targetClass="ParkingRecord" version="1"/><ns2:parkingStatusOriginTime>2026-11-24T01:50:00.1234567+01:00</ns2:parkingStatusOriginTime><ns2:parkingOccupancy>{occupancy}</ns2:parkingOccupancy><ns2:parkingSiteOpeningStatus>open</ns2:parkingSiteOpeningStatus></ns2:parkingRecordStatus>"#
    )
}

fn counts(capacity: u32, vacant: u32) -> String {
    format!(
        "<ns2:parkingNumberOfSpacesOverride>{capacity}</ns2:parkingNumberOfSpacesOverride><ns2:parkingNumberOfVacantSpaces>{vacant}</ns2:parkingNumberOfVacantSpaces>"
    )
}

/// A status publication of `records`, as MDM Aachen wraps it.
fn document(records: &[String]) -> String {
    format!(
        r#"<ns2:d2LogicalModel xmlns:ns2="http://datex2.eu/schema/2/2_0" modelBaseVersion="2"><ns2:payloadPublication xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="ns2:GenericPublication"><ns2:genericPublicationExtension><ns2:parkingStatusPublication>{}</ns2:parkingStatusPublication></ns2:genericPublicationExtension></ns2:payloadPublication></ns2:d2LogicalModel>"#,
        records.concat()
    )
}

/// A measured-data publication of site `A4.12` with a flow of `rate` veh/h on index 1.
fn measured(rate: &str) -> String {
    format!(
        r#"<d2LogicalModel xmlns="http://datex2.eu/schema/2/2_0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><payloadPublication xsi:type="MeasuredDataPublication"><siteMeasurements><measurementSiteReference id="A4.12" version="1"/><measurementTimeDefault>2026-11-24T00:50:00Z</measurementTimeDefault><measuredValue index="1"><measuredValue><basicData xsi:type="TrafficFlow"><vehicleFlow><vehicleFlowRate>{rate}</vehicleFlowRate></vehicleFlow></basicData></measuredValue></measuredValue></siteMeasurements></payloadPublication></d2LogicalModel>"#
    )
}

struct Case {
    what: &'static str,
    topic: &'static str,
    header: Option<FeedFormat>,
    payload: String,
    accepted: usize,
    /// (element index, reason, text the detail must hold)
    refused: Vec<(Option<usize>, RejectReason, &'static str)>,
}

fn case(
    what: &'static str,
    payload: String,
    accepted: usize,
    refused: Vec<(Option<usize>, RejectReason, &'static str)>,
) -> Case {
    Case {
        what,
        topic: DATEX,
        header: None,
        payload,
        accepted,
        refused,
    }
}

fn cases() -> Vec<Case> {
    use RejectReason::*;
    let good = document(&[record("P1", &counts(560, 412))]);
    vec![
        case("a good record", good.clone(), 1, vec![]),
        case(
            "broken XML",
            good.replace("</ns2:parkingOccupancy>", "</ns2:parkingOccupanc>"),
            0,
            vec![(None, Malformed, "invalid XML")],
        ),
        case(
            "wrong namespace",
            good.replace(
                "http://datex2.eu/schema/2/2_0",
                "http://datex2.eu/schema/1_0/1_0",
            ),
            0,
            vec![(None, Malformed, "not DATEX II")],
        ),
        case(
            "record without a vacant count",
            document(&[record(
                "P1",
                "<ns2:parkingNumberOfVehicles>148</ns2:parkingNumberOfVehicles>",
            )]),
            0,
            vec![(Some(0), Malformed, "no `parkingNumberOfVacantSpaces`")],
        ),
        case(
            "occupancy above 100 %",
            document(&[record(
                "P1",
                &(counts(560, 412) + "<ns2:parkingOccupancy>126.4</ns2:parkingOccupancy>"),
            )]),
            0,
            vec![(Some(0), OccupancyOutOfRange, "126.4")],
        ),
        case(
            "more vacant than the capacity",
            document(&[record("P1", &counts(560, 600))]),
            0,
            vec![(Some(0), InvalidParking, "")],
        ),
        case(
            "DOCTYPE with entity expansion",
            format!(
                "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>{}",
                good.replace(">412<", ">&lol2;<")
            ),
            0,
            vec![(None, Malformed, "DOCTYPE")],
        ),
        case(
            "external entity reference",
            good.replace(">412<", ">&xxe;<"),
            0,
            vec![(None, Malformed, "`&xxe;`")],
        ),
        case(
            "unmapped record id",
            document(&[record("P77", &counts(560, 412))]),
            0,
            vec![(Some(0), UnknownSensor, "`P77`")],
        ),
        case(
            "impossible timestamp",
            good.replace("2026-11-24T01:50", "2026-11-31T01:50"),
            0,
            vec![(Some(0), Malformed, "2026-11-31")],
        ),
        case(
            "one bad record among good ones",
            document(&[
                record("P1", &counts(560, 412)),
                record("P1", &counts(560, 900)),
                record("P1", &counts(560, 410)),
            ]),
            2,
            vec![(Some(1), InvalidParking, "")],
        ),
        case(
            "a status publication too large",
            document(&vec![record("P1", &counts(560, 412)); 40]),
            0,
            vec![(None, Oversized, "")],
        ),
        case("a measured flow", measured("720"), 1, vec![]),
        case(
            "a flow that is not a number",
            measured("many"),
            0,
            vec![(Some(0), Malformed, "vehicleFlowRate")],
        ),
        case(
            "a lane without flow data (NDW's negative rate)",
            measured("-1"),
            0,
            vec![(Some(0), NoObservation, "no flow of the lane has data")],
        ),
        Case {
            topic: NATIVE,
            header: Some(FeedFormat::Datex2),
            ..case(
                "DATEX II by content-type on a native topic",
                good.clone(),
                1,
                vec![],
            )
        },
    ]
}

#[test]
fn every_bad_datex2_input_gets_its_reason_and_both_counters() {
    for case in cases() {
        let what = case.what;
        let kind = if case.payload.contains("siteMeasurements") {
            "traffic"
        } else {
            "parking"
        };
        let counters = |reason: RejectReason| {
            let events = EVENTS_REJECTED
                .with_label_values(&["aachen", kind, reason.as_str()])
                .get();
            let feed = FEED_REJECTED
                .with_label_values(&["aachen", "datex2", reason.as_str()])
                .get();
            (events, feed)
        };
        let before: Vec<_> = case.refused.iter().map(|r| counters(r.1)).collect();
        let message = RawMessage {
            source: 0,
            topic: Arc::from(case.topic),
            partition: 0,
            offset: 7,
            key: None,
            payload: case.payload.clone().into_bytes().into(),
            format: case.header,
        };
        let out = pipeline().process(&[message], NOW).expect("process");
        let letters: Vec<_> = out
            .dead_letters
            .iter()
            .map(|d| (d.index, d.reason))
            .collect();
        let expected: Vec<_> = case.refused.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(letters, expected, "{what}: {:?}", out.dead_letters);
        assert_eq!(out.accepted, case.accepted, "{what}");
        for ((refusal, letter), before) in case.refused.iter().zip(&out.dead_letters).zip(before) {
            assert!(
                letter.detail.contains(refusal.2),
                "{what}: {}",
                letter.detail
            );
            let (events, feed) = counters(refusal.1);
            assert_eq!(events, before.0 + 1, "{what}: events counter");
            assert_eq!(feed, before.1 + 1, "{what}: feed counter");
        }
    }
}
