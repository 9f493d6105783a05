//! The standard outputs (`processing/src/publish/`): a city's DATEX II 2.3
//! `ParkingStatusPublication` for 500 facilities, as `GET /v1/cities/{city}/datex2/parking-status`
//! renders it per request (every facility reported, a tenth of them stale, names to
//! escape). The target is ≤ 5 ms.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stadtpuls_processing::publish::datex2::{parking_status, parking_table};
use stadtpuls_processing::publish::{Publication, PublishedFacility, live_revision};
use stadtpuls_processing::window::parking::{FacilityLive, ParkingStatus, Trend};

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;
const FACILITIES: usize = 500;

fn city() -> (Vec<String>, Vec<String>, Vec<FacilityLive>) {
    let ids = (0..FACILITIES).map(|i| format!("ulm-p-{i:04}")).collect();
    let names = (0..FACILITIES)
        .map(|i| format!("Parkhaus Nr. {i} \"Am Münster\" & Söhne"))
        .collect();
    let levels = (0..FACILITIES)
        .map(|i| {
            let total = 100 + (i as u32 % 9) * 50;
            let age = if i % 10 == 0 {
                3_600_000
            } else {
                (i as i64 % 300) * 1_000
            };
            let mut level = FacilityLive::new(i as u32 % total, Some(total), NOW - age);
            level.status = Some(ParkingStatus::SpacesAvailable);
            level.trend = Some(Trend::Stable);
            level
        })
        .collect();
    (ids, names, levels)
}

fn publish(c: &mut Criterion) {
    let (ids, names, levels) = city();
    let facilities: Vec<PublishedFacility<'_>> = (0..FACILITIES)
        .map(|i| PublishedFacility {
            id: &ids[i],
            name: Some(&names[i]),
            lat: 48.39 + i as f64 * 1e-4,
            lon: 9.98 + i as f64 * 1e-4,
            capacity: levels[i].total,
            on_street: false,
            level: Some(levels[i]),
        })
        .collect();
    let publication = Publication {
        city: "ulm",
        published_at: NOW,
        static_since: NOW - 86_400_000,
        stale_after_ms: 900_000,
    };
    let mut group = c.benchmark_group("publish");
    group.throughput(Throughput::Elements(FACILITIES as u64));
    group.bench_function("datex2_status_500", |b| {
        b.iter(|| black_box(parking_status(&publication, black_box(&facilities))))
    });
    group.bench_function("datex2_table_500", |b| {
        b.iter(|| black_box(parking_table(&publication, black_box(&facilities))))
    });
    group.bench_function("live_revision_500", |b| {
        b.iter(|| black_box(live_revision(&publication, black_box(&facilities))))
    });
    group.finish();
}

criterion_group!(benches, publish);
criterion_main!(benches);
