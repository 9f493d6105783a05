//! The fenced hand-over against a real broker: when a second member joins, the first
//! member's revoked partitions reach the newcomer only after the first member released
//! them (`Source::release`, which the runner calls once the revoked tasks are
//! checkpointed), never while it still holds them. Dropping both members afterwards must
//! not hang (revokes during close are answered at once).

mod common;

use std::time::{Duration, Instant};

use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::{KafkaSource, ensure_topics};
use stadtpuls_ingest::runner::{Readiness, Source};
use stadtpuls_processing::window::watermark::SourceId;

use common::{brokers, ensure_broker, run_id};

/// Polls a member once: librdkafka runs its rebalance callbacks inside the read.
async fn poll(source: &mut KafkaSource) {
    source.next_batch().await.expect("read a batch");
}

/// A group of one member X over a topic of two partitions (`name` keeps runs apart), with
/// `librdkafka` settings; returns X once it owns both, and the config for a second member.
async fn x_owning_both(name: &str, librdkafka: &[(&str, &str)]) -> (KafkaSource, KafkaConfig) {
    let run = run_id();
    let topic = format!("sensors.{name}{run}.traffic");
    let kafka = KafkaConfig {
        brokers: brokers(),
        group_id: format!("stadtpuls-{name}-{run}"),
        topic_pattern: format!(r"^sensors\.{name}{run}\.traffic$"),
        batch_max_wait: Duration::from_millis(50),
        librdkafka: librdkafka
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, std::slice::from_ref(&topic), 2)
        .await
        .expect("create the topic");
    let mut x = KafkaSource::new(&kafka, Readiness::default(), None).expect("member X");
    let mut x_owned = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while x_owned < 2 {
        assert!(Instant::now() < deadline, "X was assigned both partitions");
        poll(&mut x).await;
        x_owned += x.assigned().len();
    }
    (x, kafka)
}

/// Starts member Y and polls both until the group revokes partitions of X (Y getting
/// nothing meanwhile); returns Y and what X was asked to give up.
async fn y_joins(x: &mut KafkaSource, kafka: &KafkaConfig) -> (KafkaSource, Vec<SourceId>) {
    let mut y = KafkaSource::new(kafka, Readiness::default(), None).expect("member Y");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the group revoked X's partitions"
        );
        poll(&mut y).await;
        assert!(y.assigned().is_empty(), "Y got a partition X still holds");
        poll(x).await;
        let revoked = x.revoked();
        if !revoked.is_empty() {
            return (y, revoked);
        }
    }
}

#[tokio::test]
async fn revoked_partitions_reach_the_new_member_only_after_release() {
    let _broker = ensure_broker();
    // X alone owns both partitions; Y joins and the group revokes X's partitions.
    let (mut x, kafka) = x_owning_both("handover", &[]).await;
    let (mut y, revoked) = y_joins(&mut x, &kafka).await;
    assert_eq!(revoked.len(), 2, "an eager rebalance revokes everything");

    // X has not released them (its runner would be checkpointing): nobody gets them.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        poll(&mut y).await;
        poll(&mut x).await;
        assert!(
            y.assigned().is_empty(),
            "Y got a partition before X released it"
        );
        assert!(
            x.assigned().is_empty(),
            "X was assigned again before it released"
        );
    }

    // Released: the rebalance completes and Y owns at least one partition.
    x.release(&revoked).expect("release");
    let (mut x_owned, mut y_owned) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while x_owned + y_owned < 2 {
        assert!(
            Instant::now() < deadline,
            "both partitions assigned after the release: X {x_owned}, Y {y_owned}"
        );
        poll(&mut x).await;
        poll(&mut y).await;
        x_owned += x.assigned().len();
        y_owned += y.assigned().len();
    }
    assert!(
        y_owned >= 1,
        "Y took over a partition: X {x_owned}, Y {y_owned}"
    );
    drop(y);
    drop(x);
}

/// The same fence under the cooperative protocol (`partition.assignment.strategy =
/// cooperative-sticky`): a joining member makes the group revoke only the partitions that
/// move, the first member keeps the others throughout, and the moving one reaches the
/// newcomer only after the release (`incremental_unassign`).
#[tokio::test]
async fn cooperative_rebalance_moves_only_the_released_partition() {
    let _broker = ensure_broker();
    let (mut x, kafka) = x_owning_both(
        "coop",
        &[("partition.assignment.strategy", "cooperative-sticky")],
    )
    .await;
    let (mut y, revoked) = y_joins(&mut x, &kafka).await;
    assert_eq!(
        revoked.len(),
        1,
        "a cooperative rebalance revokes only what moves"
    );

    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        poll(&mut y).await;
        poll(&mut x).await;
        assert!(
            y.assigned().is_empty(),
            "Y got the partition before X released it"
        );
        assert!(x.revoked().is_empty(), "X keeps its other partition");
    }

    x.release(&revoked).expect("release");
    let mut y_owned = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while y_owned < 1 {
        assert!(
            Instant::now() < deadline,
            "Y was assigned the released partition"
        );
        poll(&mut x).await;
        poll(&mut y).await;
        assert!(x.revoked().is_empty(), "X keeps its other partition");
        assert!(x.assigned().is_empty(), "X gets nothing back");
        y_owned += y.assigned().len();
    }
    assert_eq!(y_owned, 1);
    drop(y);
    drop(x);
}
