//! The DATEX II decoder (`ingest/src/decode/datex2.rs`) on one core: a measured-data
//! publication shaped like NDW's (per site, flows and speeds on indexed values) and an
//! MDM parking status publication shaped like Aachen's, every id mapped; throughput in
//! observations. The issue's target is ≥ 200k observations/s.
//!
//! On a shared machine, `STADTPULS_BENCH_CPU_TIME=1` times each run by the CPU time of
//! its thread instead of the wall clock (`stadtpuls_benches::cpu_time`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stadtpuls_benches::cpu_time;
use stadtpuls_ingest::decode::datex2::decode_document;
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_ingest::decode::native::Sinks;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;
const SITES: usize = 1_000;
const LANES: usize = 4;
const FACILITIES: usize = 2_000;

/// `SITES` sites, each with `LANES` flow values and `LANES` speed values.
fn measured() -> String {
    let mut doc = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><SOAP:Envelope xmlns:SOAP="http://schemas.xmlsoap.org/soap/envelope/"><SOAP:Body><d2LogicalModel xmlns="http://datex2.eu/schema/2/2_0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><payloadPublication xsi:type="MeasuredDataPublication" lang="nl"><publicationTime>2026-11-24T00:59:00Z</publicationTime>"#,
    );
    for site in 0..SITES {
        doc.push_str(&format!(
            r#"<siteMeasurements><measurementSiteReference id="SITE_{site:05}" version="1" targetClass="MeasurementSiteRecord"/><measurementTimeDefault>2026-11-24T00:58:00Z</measurementTimeDefault>"#
        ));
        for lane in 1..=LANES {
            doc.push_str(&format!(
                r#"<measuredValue index="{lane}"><measuredValue><basicData xsi:type="TrafficFlow"><vehicleFlow numberOfInputValuesUsed="12"><vehicleFlowRate>{}</vehicleFlowRate></vehicleFlow></basicData></measuredValue></measuredValue><measuredValue index="{lane}"><measuredValue><basicData xsi:type="TrafficSpeed"><averageVehicleSpeed numberOfInputValuesUsed="12"><speed>{}</speed></averageVehicleSpeed></basicData></measuredValue></measuredValue>"#,
                600 + site % 7 * 60,
                80 + lane * 5
            ));
        }
        doc.push_str("</siteMeasurements>");
    }
    doc.push_str("</payloadPublication></d2LogicalModel></SOAP:Body></SOAP:Envelope>");
    doc
}

/// `FACILITIES` parking site status records in Aachen's shape.
fn parking() -> String {
    let mut doc = String::from(
        r#"<ns2:d2LogicalModel xmlns:ns2="http://datex2.eu/schema/2/2_0" modelBaseVersion="2"><ns2:payloadPublication xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="ns2:GenericPublication"><ns2:genericPublicationExtension><ns2:parkingStatusPublication>"#,
    );
    for p in 0..FACILITIES {
        doc.push_str(&format!(
            r#"<ns2:parkingRecordStatus xsi:type="ns2:ParkingSiteStatus"><ns2:parkingRecordReference id="P{p}" targetClass="ParkingRecord" version="1"/><ns2:parkingStatusOriginTime>2026-11-24T00:55:34.176Z</ns2:parkingStatusOriginTime><ns2:parkingOccupancy><ns2:parkingNumberOfSpacesOverride>560</ns2:parkingNumberOfSpacesOverride><ns2:parkingNumberOfVacantSpaces>{}</ns2:parkingNumberOfVacantSpaces><ns2:parkingNumberOfOccupiedSpaces>148</ns2:parkingNumberOfOccupiedSpaces><ns2:parkingOccupancy>26.43</ns2:parkingOccupancy><ns2:parkingOccupancyTrend>stable</ns2:parkingOccupancyTrend></ns2:parkingOccupancy><ns2:parkingSiteStatus>spacesAvailable</ns2:parkingSiteStatus><ns2:parkingSiteOpeningStatus>open</ns2:parkingSiteOpeningStatus></ns2:parkingRecordStatus>"#,
            p % 412
        ));
    }
    doc.push_str("</ns2:parkingStatusPublication></ns2:genericPublicationExtension></ns2:payloadPublication></ns2:d2LogicalModel>");
    doc
}

fn registry() -> (Catalog, ExternalIds) {
    let mut catalog = Catalog::with_cities(&["nl"], UnknownSensors::Reject);
    let mut external = ExternalIds::default();
    for site in 0..SITES {
        let id = format!("SITE_{site:05}");
        catalog.add_traffic(0, &format!("s{site}"), LANES as u8, 100.0);
        external.insert(0, &id, &format!("s{site}"), None);
    }
    for p in 0..FACILITIES {
        catalog.add_facility(0, &format!("f{p}"), Some(560));
        external.insert(0, &format!("P{p}"), &format!("f{p}"), None);
    }
    (catalog, external)
}

fn run(catalog: &mut Catalog, external: &ExternalIds, doc: &[u8], expected: usize) -> usize {
    let (mut traffic, mut parking, mut rejected) = (
        TrafficBatchBuilder::default(),
        ParkingBatchBuilder::default(),
        Vec::new(),
    );
    let mut sinks = Sinks {
        catalog,
        traffic: &mut traffic,
        parking: &mut parking,
        rejected: &mut rejected,
    };
    let bounds = TimeBounds {
        now: NOW,
        max_future_ms: 300_000,
    };
    let accepted = decode_document(doc, 0, "nl", external, bounds, &mut sinks);
    assert_eq!(accepted, expected, "{:?}", rejected.first());
    accepted
}

fn datex2(c: &mut Criterion) {
    let (catalog, external) = registry();
    let measured = measured();
    let parking = parking();
    let cpu = cpu_time::wanted();
    let mut group = c.benchmark_group("datex2");
    group.sample_size(10);
    group.throughput(Throughput::Elements((SITES * LANES) as u64));
    group.bench_function("measured_4k_values", |b| {
        b.iter_custom(|iters| {
            cpu_time::timed(
                cpu,
                iters,
                || catalog.clone(),
                |catalog| run(catalog, &external, measured.as_bytes(), SITES * LANES),
            )
        });
    });
    group.throughput(Throughput::Elements(FACILITIES as u64));
    group.bench_function("parking_status_2k_records", |b| {
        b.iter_custom(|iters| {
            cpu_time::timed(
                cpu,
                iters,
                || catalog.clone(),
                |catalog| run(catalog, &external, parking.as_bytes(), FACILITIES),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, datex2);
criterion_main!(benches);
