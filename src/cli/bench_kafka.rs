//! `stadtpuls bench --kafka`: the workload end to end through a real broker, beside a bare
//! consumer draining the same topics — the processor must never be a Kafka deployment's
//! bottleneck.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use stadtpuls_benches::{FileSource, Limited, city_of};
use stadtpuls_config::{Config, InstanceId, env_from_process};
use stadtpuls_ingest::kafka::{FeedProducer, KafkaSource, drain, ensure_topics};
use stadtpuls_ingest::runner::{Readiness, Source};

use super::bench::{BUILD_PROFILE, BenchArgs, measure};

/// Produces, then times the pipeline and the bare drain, then cross-checks the results
/// against the same lines read from the file.
pub async fn run(args: &BenchArgs, brokers: &str) -> anyhow::Result<()> {
    let mut config = Config::demo(&env_from_process()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let run_id = format!("{}", chrono_free_stamp());
    let prefix = format!("bench-{run_id}");
    config.kafka.brokers = brokers.to_owned();
    config.kafka.topic_pattern = format!(r"^{prefix}\.[a-z0-9-]+\.traffic$");
    let per_message = usize::try_from(args.per_message).unwrap_or(usize::MAX);
    config.kafka.batch_max_messages = args.batch.div_ceil(per_message).max(1);

    // 1. Produce the first `limit` lines to one topic per city.
    let input = args.input()?;
    let file =
        std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let mut lines = BufReader::with_capacity(1 << 20, file).split(b'\n');
    let producer = FeedProducer::new(&config.kafka)?;
    let topics: BTreeSet<String> = config
        .cities
        .iter()
        .map(|c| format!("{prefix}.{}.traffic", c.id))
        .collect();
    ensure_topics(
        &config.kafka,
        &topics.iter().cloned().collect::<Vec<_>>(),
        1,
    )
    .await?;
    let produce_started = Instant::now();
    let mut produced = 0u64;
    let mut messages = 0u64;
    // Per city: the JSON array being filled, and how many lines it holds.
    let mut pending: HashMap<String, (Vec<u8>, usize)> = HashMap::new();
    while produced < args.limit {
        let Some(line) = lines.next().transpose()? else {
            break;
        };
        let Some(city) = city_of(&line) else { continue };
        produced += 1;
        if per_message == 1 {
            producer
                .send(&format!("{prefix}.{city}.traffic"), "", &line)
                .await?;
            messages += 1;
            continue;
        }
        let (array, held) = pending.entry(city.to_owned()).or_default();
        array.push(if *held == 0 { b'[' } else { b',' });
        array.extend_from_slice(&line);
        *held += 1;
        if *held == per_message {
            array.push(b']');
            producer
                .send(&format!("{prefix}.{city}.traffic"), "", array)
                .await?;
            array.clear();
            *held = 0;
            messages += 1;
        }
    }
    for (city, (mut array, held)) in pending {
        if held > 0 {
            array.push(b']');
            producer
                .send(&format!("{prefix}.{city}.traffic"), "", &array)
                .await?;
            messages += 1;
        }
    }
    producer.flush(Duration::from_secs(300))?;
    eprintln!(
        "produced {produced} observations in {messages} messages to {} topics in {:.1} s",
        topics.len(),
        produce_started.elapsed().as_secs_f64()
    );

    // 2. The pipeline, from its first fetch to its last window.
    let city_ids: Vec<String> = config.cities.iter().map(|c| c.id.clone()).collect();
    let cities: Vec<&str> = city_ids.iter().map(String::as_str).collect();
    let mut pipeline = args.pipeline(&config, &cities)?;
    config.kafka.group_id = format!("{prefix}-pipeline");
    // A fresh group per run: nothing to take back after a restart.
    config.kafka.instance_id = InstanceId::Dynamic;
    let mut source = Limited::new(
        KafkaSource::new(&config.kafka, Readiness::default(), None)?,
        messages,
    );
    let m = measure(&mut pipeline, &mut source).await?;
    let first = source
        .first_batch
        .context("the pipeline received nothing")?;
    let pipeline_s = first.elapsed().as_secs_f64().min(m.elapsed_s);
    source.close()?;

    // 3. A bare consumer reading the same topics.
    config.kafka.group_id = format!("{prefix}-drain");
    let drain_s = drain(&config.kafka, messages, Duration::from_secs(60))
        .await?
        .as_secs_f64();

    // 4. The same lines straight from the file must give the same results.
    let mut reference = args.pipeline(&config, &cities)?;
    let mut file_source = Limited::new(FileSource::open(input, args.batch)?, produced);
    let expected = measure(&mut reference, &mut file_source).await?;
    anyhow::ensure!(
        expected.checksum == m.checksum,
        "kafka run differs from the file run: {:?} vs {:?}",
        m.checksum,
        expected.checksum
    );

    let pipeline_rate = produced as f64 / pipeline_s.max(1e-9);
    let drain_rate = produced as f64 / drain_s.max(1e-9);
    let drain_messages = messages as f64 / drain_s.max(1e-9);
    let ratio = pipeline_rate / drain_rate.max(1e-9);
    eprintln!(
        "kafka ({per_message} per message): pipeline {pipeline_rate:.0} observations/s ({pipeline_s:.2} s), \
         bare drain {drain_rate:.0} observations/s = {drain_messages:.0} messages/s ({drain_s:.2} s): \
         the pipeline reaches {:.0} % of the drain rate; checksum {} equals the file run; profile {BUILD_PROFILE}",
        ratio * 100.0,
        m.checksum.value()
    );
    let result = json!({
        "peer": "stadtpuls-kafka",
        "version": env!("CARGO_PKG_VERSION"),
        "profile": BUILD_PROFILE,
        "rows": m.checksum.rows,
        "checksum": m.checksum.value(),
        "cnt_total": m.checksum.cnt_total,
        "events": produced,
        "messages": messages,
        "per_message": per_message,
        "pipeline_s": (pipeline_s * 1000.0).round() / 1000.0,
        "pipeline_events_per_s": pipeline_rate.round(),
        "drain_s": (drain_s * 1000.0).round() / 1000.0,
        "drain_events_per_s": drain_rate.round(),
        "drain_messages_per_s": drain_messages.round(),
        "pipeline_to_drain": (ratio * 1000.0).round() / 1000.0,
        "late_events": m.summary.late,
        "dropped_events": m.summary.rejected,
    });
    println!("RESULT {result}");
    Ok(())
}

/// A run id from the wall clock, unique enough to keep runs' topics and groups apart.
fn chrono_free_stamp() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}
