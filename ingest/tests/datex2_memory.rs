//! The streaming and memory test of the DATEX II decoder: NDW's national `trafficspeed`
//! publication (50.8 MB of XML on one line, 19,587 sites, inside a SOAP envelope) decodes
//! with a working memory of a few hundred kilobytes — no tree of the document — while its
//! three mapped sites are accepted and every other site is refused as `unknown_sensor`.
//!
//! Its own binary: the allocator below counts every allocation of the process, so no other
//! test may run beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};

use stadtpuls_ingest::decode::datex2::decode_document;
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_ingest::decode::native::Sinks;
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;

/// Counts live heap bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// 2025-08-15T22:00:00Z, twelve minutes after the publication.
const NOW: i64 = 1_755_295_200_000;
const MB: f64 = 1024.0 * 1024.0;

#[test]
fn ndw_trafficspeed_decodes_in_bounded_memory() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/feeds/datex2/verkeersdrukte_trafficspeed.xml.gz"
    );
    let gz = std::fs::read(path).expect("fixture");
    let mut xml = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut xml)
        .expect("gunzip");
    assert_eq!(xml.len(), 50_776_011);

    let mut catalog = Catalog::with_cities(&["nl"], UnknownSensors::Reject);
    let mut external = ExternalIds::default();
    for site in [
        "PZH01_MST_0065_00",
        "PZH01_MST_0029-00",
        "PZH01_MST_0629_00",
    ] {
        catalog.add_traffic(0, &format!("nl-{site}"), 16, 100.0);
        external.insert(0, site, &format!("nl-{site}"), None);
    }
    // The refusals' vector reserved up front, so its growth by doubling (old and new
    // buffer live at once) does not count as the decoder's working memory.
    let (mut traffic, mut parking, mut rejected) = (
        TrafficBatchBuilder::default(),
        ParkingBatchBuilder::default(),
        Vec::with_capacity(80_000),
    );
    let bounds = TimeBounds {
        now: NOW,
        max_future_ms: 300_000,
    };

    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let accepted = {
        let mut sinks = Sinks {
            catalog: &mut catalog,
            traffic: &mut traffic,
            parking: &mut parking,
            rejected: &mut rejected,
        };
        decode_document(&xml, 0, "nl", &external, bounds, &mut sinks)
    };
    let elapsed = started.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let retained = LIVE.load(Ordering::Relaxed).saturating_sub(before);

    let unknown = rejected
        .iter()
        .filter(|r| r.rejection.reason == RejectReason::UnknownSensor)
        .count();
    let mut reasons = std::collections::BTreeMap::new();
    for r in &rejected {
        *reasons.entry(r.rejection.reason.as_str()).or_insert(0) += 1;
    }
    let letters: usize = rejected
        .iter()
        .map(|r| r.payload.capacity() + r.rejection.detail.capacity())
        .sum();
    eprintln!(
        "NDW trafficspeed: {} bytes, {accepted} accepted, {} refused ({reasons:?}) in {elapsed:?}; \
         heap: peak {:.1} MB above the input, {:.1} MB retained (refusals {:.1} MB with their element bytes, \
         Vec<Rejected> {:.1} MB, builders), working memory {:.2} MB",
        xml.len(),
        rejected.len(),
        peak as f64 / MB,
        retained as f64 / MB,
        letters as f64 / MB,
        (rejected.capacity() * std::mem::size_of_val(&rejected[0])) as f64 / MB,
        peak.saturating_sub(retained) as f64 / MB,
    );
    // The three sites are mapped by their bare ids, so each index is its own lane (the
    // lane-by-lane reading through a site table is tests/datex2_ndw_lanes.rs). Site 0065:
    // flows 0, 120, 0, 0, 0, 120 veh/h on indices 1–6 → lanes 1–6, 2 vehicles a minute
    // where 120 veh/h; its speeds on indices 7–12 have no flow of their index.
    assert!(
        accepted >= 6,
        "{:?}",
        rejected
            .iter()
            .find(|r| r.rejection.reason != RejectReason::UnknownSensor)
    );
    assert_eq!(traffic.len(), accepted);
    assert!(unknown > 19_000, "every unmapped site refused: {unknown}");
    // What the decoder holds besides its output: one record, its reader state — never
    // the document. (The output is the refusals' dead letters and the accepted rows.)
    assert!(
        peak.saturating_sub(retained) < 1024 * 1024,
        "working memory {peak} peak vs {retained} retained"
    );
}
