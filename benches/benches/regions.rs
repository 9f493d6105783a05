//! The regional parking view (`processing/src/region.rs`) as
//! `GET /v1/regions/{region}/parking` computes it per request: nine cities of 60
//! facilities each (540 in all: car parks, P+R sites and on-street zones), every one
//! reported, a tenth of them stale, read from the live view and rolled up overall, by
//! kind and per city. The JSON rendering of the ~20 resulting numbers is not included.
//! The target is ≤ 2 ms.
//!
//! Beside it, the region's DATEX II 2.3 `ParkingStatusPublication` over the same 540
//! facilities, as `GET /v1/regions/{region}/datex2/parking-status` computes it per
//! request: levels copied out of the live view, region-wide ids, `ETag` and the document
//! (`processing/src/publish/region.rs`, rendered by `publish::datex2`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::publish::datex2::parking_status;
use stadtpuls_processing::publish::region::{Member, RegionFacilities, publisher};
use stadtpuls_processing::publish::{FacilityFacts, Publication, live_revision};
use stadtpuls_processing::region::{FacilityKind, MemberFacilities, MemberFacility, parking_now};
use stadtpuls_processing::window::parking::FacilityLive;

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;
const CITIES: [&str; 9] = [
    "karlsruhe",
    "mannheim",
    "freiburg",
    "ulm",
    "konstanz",
    "friedrichshafen",
    "ettlingen",
    "heidelberg",
    "pforzheim",
];
const PER_CITY: usize = 60;

/// The live view, each city's members for the parking view and its facilities' static
/// facts for the publication.
fn network() -> (LiveState, Vec<MemberFacilities>, Vec<Vec<FacilityFacts>>) {
    let live = LiveState::new(6 * 3_600_000);
    let mut members = Vec::new();
    let mut facts = Vec::new();
    for city in CITIES {
        let facilities: Vec<(String, String, bool)> = (0..PER_CITY)
            .map(|i| {
                let name = if i % 6 == 0 {
                    format!("P+R Bahnhof {i}")
                } else {
                    format!("Parkhaus Nr. {i}")
                };
                (format!("{city}-p-{i:03}"), name, i % 10 == 9)
            })
            .collect();
        for (i, (id, _, _)) in facilities.iter().enumerate() {
            let total = 100 + (i as u32 % 9) * 50;
            let age = if i % 10 == 0 {
                3_600_000
            } else {
                (i as i64 % 300) * 1_000
            };
            live.set_facility(
                city,
                id,
                FacilityLive::new(i as u32 % total, Some(total), NOW - age),
            );
        }
        facts.push(
            facilities
                .iter()
                .enumerate()
                .map(|(i, (id, name, on_street))| FacilityFacts {
                    id: id.clone(),
                    name: Some(name.clone()),
                    lat: 48.39 + i as f64 * 1e-4,
                    lon: 9.98 + i as f64 * 1e-4,
                    capacity: Some(100 + (i as u32 % 9) * 50),
                    on_street: *on_street,
                    facility_type: None,
                    external_ids: Vec::new(),
                })
                .collect(),
        );
        members.push(MemberFacilities::new(
            city,
            facilities
                .iter()
                .map(|(id, name, on_street)| MemberFacility {
                    id: id.clone(),
                    kind: FacilityKind::of_facility(None, Some(name.as_str()), *on_street),
                    shared: None,
                }),
        ));
    }
    (live, members, facts)
}

fn regions(c: &mut Criterion) {
    let (live, members, facts) = network();
    let members: Vec<&MemberFacilities> = members.iter().collect();
    let facilities = members.iter().map(|m| m.facilities.len()).sum::<usize>();
    let mut group = c.benchmark_group("regions");
    group.throughput(Throughput::Elements(facilities as u64));
    group.bench_function("parking_9_cities_540", |b| {
        b.iter(|| black_box(parking_now(&live, black_box(&members), NOW, 900_000)))
    });
    let publisher = publisher("network");
    let publication = Publication {
        city: &publisher,
        published_at: NOW,
        static_since: NOW - 86_400_000,
        stale_after_ms: 900_000,
    };
    group.bench_function("datex2_status_9_cities_540", |b| {
        b.iter(|| {
            let region = RegionFacilities::new(
                CITIES
                    .iter()
                    .zip(&facts)
                    .map(|(city, facilities)| Member {
                        city,
                        facilities,
                        levels: live.facilities(city),
                    })
                    .collect(),
            );
            let facilities = region.published();
            let revision = live_revision(&publication, &facilities);
            black_box((
                revision,
                parking_status(&publication, black_box(&facilities)),
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, regions);
criterion_main!(benches);
