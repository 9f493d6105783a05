//! A facility its operator reports closed: a state of its own, not 0 free of a full car
//! park — in the level, in its windows, and across a checkpoint written before the
//! opening status was kept.

use stadtpuls_processing::catalog::{Catalog, EntityKey, UnknownSensors};
use stadtpuls_processing::engine::{Operator, ParkingOperator, TaskState};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::{
    OpeningStatus, ParkingBatchBuilder, ParkingObservation,
};
use stadtpuls_processing::window::parking::{ParkingSpec, ParkingStatus, out};
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};
use stadtpuls_processing::{ProcessingError, Result};

mod support;
use support::{f64_at, row, str_at, u32_at};

/// 2026-11-24T08:00:00Z, on a quarter hour.
const T0: i64 = 1_795_478_400_000;
const MIN: i64 = 60_000;

fn operator(catalog: &Catalog) -> ParkingOperator {
    let windows = WindowSpec::tumbling(
        &[MIN, 15 * MIN],
        0,
        60 * MIN,
        TimestampSemantics::IntervalEnd,
    );
    ParkingOperator::new(&windows, &ParkingSpec::default(), catalog)
}

fn count(
    city: &'static str,
    id: &'static str,
    ts: i64,
    free: i64,
    opening: Option<OpeningStatus>,
) -> ParkingObservation<'static> {
    ParkingObservation::Facility {
        city,
        id,
        ts,
        free_spaces: free,
        total_spaces: None,
        entries: None,
        exits: None,
        opening,
    }
}

fn feed(
    op: &mut ParkingOperator,
    catalog: &Catalog,
    now: i64,
    rows: &[ParkingObservation<'_>],
) -> Result<()> {
    let bounds = TimeBounds {
        now,
        max_future_ms: 0,
    };
    let mut builder = ParkingBatchBuilder::default();
    for row in rows {
        builder
            .push(catalog, None, row, bounds)
            .map_err(|r| ProcessingError::Internal(r.to_string()))?;
    }
    let batch = builder.finish(catalog)?;
    op.fold(0, now, &batch, catalog)?;
    Ok(())
}

/// A car park of 100 spaces: 30 free (70 %) from minute 1, closed from minute 5 with its
/// counter still saying 30, open again at minute 20 with 90 free. While closed it has 0
/// free, its capacity, no occupied count and no occupancy, status `closed` — not 100 %
/// `full`; the quarter's time-weighted mean covers the open minutes 1–5 only (70 %, where
/// counting the closed time as full would say (70·4 + 100·10) / 14 = 91.4 %), and its
/// fewest free is the open 30, not the closed 0.
#[test]
fn a_closed_car_park_is_closed_not_full() -> Result<()> {
    let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
    let park: EntityKey = catalog.add_facility(0, "park", Some(100));
    let mut op = operator(&catalog);
    let now = T0 + 60 * MIN;
    feed(
        &mut op,
        &catalog,
        now,
        &[count("ulm", "park", T0 + MIN, 30, None)],
    )?;
    let closed = Some(OpeningStatus::Closed);
    feed(
        &mut op,
        &catalog,
        now,
        &[count("ulm", "park", T0 + 5 * MIN, 30, closed)],
    )?;
    let level = op.facility(park).expect("a level");
    assert_eq!(level.status, Some(ParkingStatus::Closed));
    assert_eq!(level.opening, closed);
    assert_eq!(
        (level.free, level.total, level.occupied, level.occupancy_pct),
        (0, Some(100), None, None)
    );
    assert_eq!(level.trend, None, "no occupancy, no trend");
    let open = Some(OpeningStatus::Open);
    feed(
        &mut op,
        &catalog,
        now,
        &[count("ulm", "park", T0 + 20 * MIN, 90, open)],
    )?;
    let level = op.facility(park).expect("a level");
    assert_eq!(level.status, Some(ParkingStatus::SpacesAvailable));
    assert_eq!(level.occupancy_pct, Some(10.0));

    let windows = op.finish(&catalog)?;
    let quarter = row(&windows, 900, T0, "park");
    assert_eq!(str_at(quarter, out::STATUS).as_deref(), Some("closed"));
    assert_eq!(
        str_at(quarter, out::OPENING_STATUS).as_deref(),
        Some("closed")
    );
    assert_eq!(u32_at(quarter, out::FREE), Some(0));
    assert_eq!(u32_at(quarter, out::TOTAL), Some(100));
    assert_eq!(u32_at(quarter, out::OCCUPIED), None);
    assert_eq!(f64_at(quarter, out::OCCUPANCY_PCT), None);
    assert_eq!(f64_at(quarter, out::OCCUPANCY_MEAN_PCT), Some(70.0));
    assert_eq!(
        u32_at(quarter, out::FREE_MIN),
        Some(30),
        "the fewest free while open: the closed reading's 0 is no entry, not full"
    );
    let closed_minute = row(&windows, 60, T0 + 5 * MIN, "park");
    assert_eq!(
        u32_at(closed_minute, out::FREE_MIN),
        Some(0),
        "closed throughout"
    );
    let next = row(&windows, 900, T0 + 15 * MIN, "park");
    assert_eq!(
        str_at(next, out::STATUS).as_deref(),
        Some("spacesAvailable")
    );
    assert_eq!(str_at(next, out::OPENING_STATUS).as_deref(), Some("open"));
    let unstated = row(&windows, 60, T0 + MIN, "park");
    assert_eq!(
        str_at(unstated, out::OPENING_STATUS),
        None,
        "the feed said none"
    );
    assert_eq!(
        str_at(unstated, out::STATUS).as_deref(),
        Some("spacesAvailable")
    );
    Ok(())
}

/// A checkpoint of the parking task written by the release before the opening status was
/// kept (format 5; `stadtpuls run` on ten simulated minutes of the two car parks of
/// `fixtures/format5-parking.registry.csv`, city `ckptfix`, stopped with SIGTERM). Its
/// body reads as format 5 — read as the current format it is another state —, restores
/// both levels and their open windows without an opening status, and the car park then
/// closes like any other.
#[test]
fn a_format_5_parking_checkpoint_still_restores() -> Result<()> {
    let file = include_bytes!("fixtures/format5-parking.ckpt");
    assert_eq!(&file[..4], b"SPCK");
    assert_eq!(u16::from_le_bytes([file[4], file[5]]), 5, "a format-5 file");
    let body = &file[36..];
    let state = TaskState::decode_format(5, body)?;
    assert_ne!(
        TaskState::decode(body).ok().as_ref(),
        Some(&state),
        "the layout changed since format 5"
    );
    let mut catalog = Catalog::with_cities(&["ckptfix"], UnknownSensors::Reject);
    let p1 = catalog.add_facility(0, "p1", Some(100));
    let p2 = catalog.add_facility(0, "p2", Some(250));
    let mut op = operator(&catalog);
    let stats = op.restore(0, &state.parking, &mut catalog, T0);
    assert_eq!(stats.dropped, 0);
    let level = op.facility(p1).expect("p1's level restored");
    assert!(op.facility(p2).is_some(), "p2's level restored");
    assert_eq!(level.opening, None);
    assert!(!level.is_closed());

    let at = level.updated_at + MIN;
    let closed = Some(OpeningStatus::Closed);
    feed(
        &mut op,
        &catalog,
        at,
        &[count("ckptfix", "p1", at, 12, closed)],
    )?;
    let level = op.facility(p1).expect("p1's level");
    assert_eq!((level.status, level.free), (Some(ParkingStatus::Closed), 0));
    let windows = op.finish(&catalog)?;
    let restored_window = windows
        .iter()
        .filter(|w| w.window_s == 900)
        .find_map(|w| row(std::slice::from_ref(w), 900, w.window_start, "p2"));
    assert!(
        restored_window.is_some(),
        "p2's open quarter came back from the checkpoint"
    );
    assert_eq!(str_at(restored_window, out::OPENING_STATUS), None);
    Ok(())
}
