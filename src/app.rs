//! Wiring shared by `run` and `demo`: the pipeline on its own thread, the API, shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stadtpuls_api::access::Policy;
use stadtpuls_api::map::MapDoor;
use stadtpuls_api::stream::{Hub, HubLimits, StreamDoor};
use stadtpuls_api::{AppState, Edge, PushGateway, PushSink, SqlEngine};
use stadtpuls_config::{CityRegistry, CityZones, Config};
use stadtpuls_ingest::kafka::StandardTopics;
use stadtpuls_ingest::pipeline::{Pipeline, PipelineOptions};
use stadtpuls_ingest::pull::Poller;
use stadtpuls_ingest::runner::{
    self, Checkpointing, DeadLetterSink, Readiness, RunSummary, Source,
};
use stadtpuls_ingest::sink::WindowSink;
use stadtpuls_processing::live::LiveState;
use tokio::sync::{oneshot, watch};
use tracing::{error, info, warn};

/// What the pipeline thread reads from and writes to.
pub struct Io<S, D, K> {
    /// Where messages come from.
    pub source: S,
    /// Where refused observations go.
    pub dead_letters: D,
    /// Where closed windows go (history, output topics), committed per task epoch.
    pub sinks: K,
    /// How task state is checkpointed (`Checkpointing::disabled()` for sources that
    /// cannot seek).
    pub checkpointing: Checkpointing,
}

/// A loaded configuration with its registries, zones and the state shared by pipeline
/// and API.
pub struct App {
    pub config: Config,
    pub registries: Vec<CityRegistry>,
    pub zones: Vec<CityZones>,
    pub live: Arc<LiveState>,
    /// The push stream's hub: the live view publishes into it, `GET /v1/stream` reads.
    pub hub: Arc<Hub>,
    pub ready: Readiness,
    /// Where the push gateway writes (`stadtpuls run`: Kafka; `stadtpuls demo`: the
    /// embedded pipeline); `None`: no gateway (404).
    pub push: Option<Arc<dyn PushSink>>,
    /// `[[cities.pull]]` sources, each run as a task of its own until the stop
    /// (`stadtpuls run`; the demo has none).
    pub pull: Vec<Poller>,
    /// The standard outputs' topics (`[output] datex2_topic`, `ngsi_ld_topic`), run as a
    /// task until the stop (`stadtpuls run`; the demo has no Kafka).
    pub standard: Option<StandardTopics>,
}

impl App {
    /// Loads the registries and zone files of a validated config.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let registries = config
            .load_registries()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("invalid sensor registry")?;
        let zones = config
            .load_zones()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("invalid zone file")?;
        // The push stream's ids start at the wall clock in microseconds: a resume across
        // a restart then asks for an id below the new process's first and is told it
        // missed events.
        let first_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(1));
        let hub = Arc::new(Hub::new(
            HubLimits {
                ring: config.api.stream_ring,
                client_queue: config.api.stream_client_queue,
            },
            first_id,
        ));
        let live = Arc::new(
            LiveState::new(config.api.live_retention.as_millis() as i64).with_events(hub.clone()),
        );
        Ok(Self {
            config,
            registries,
            zones,
            live,
            hub,
            ready: Readiness::default(),
            push: None,
            pull: Vec::new(),
            standard: None,
        })
    }

    /// The SQL engine over the history, the registries and the live view, executing on
    /// two threads of its own (`stadtpuls_api::sql`); it answers "switched off" when
    /// `sql.enabled = false`.
    fn sql_engine(&self) -> anyhow::Result<SqlEngine> {
        let engine = SqlEngine::new(&self.config, &self.registries, Some(self.live.clone()))
            .context("cannot build the SQL engine")?;
        if !self.config.sql.enabled {
            return Ok(engine);
        }
        engine
            .with_dedicated_runtime(2)
            .context("cannot start the SQL threads")
    }

    /// Serves the push gateway (`POST /v1/ingest/{city}`, the NGSI-LD upsert) over `sink`.
    pub fn with_push(mut self, sink: Arc<dyn PushSink>) -> Self {
        self.push = Some(sink);
        self
    }

    /// Polls `pollers` while serving (`[[cities.pull]]`).
    pub fn with_pull(mut self, pollers: Vec<Poller>) -> Self {
        self.pull = pollers;
        self
    }

    /// Publishes the standard outputs to Kafka while serving.
    pub fn with_standard_outputs(mut self, standard: Option<StandardTopics>) -> Self {
        self.standard = standard;
        self
    }

    fn api_state(&self) -> AppState {
        let ready = self.ready.clone();
        let readiness = self.ready.clone();
        let sizes = self
            .config
            .windows
            .sizes
            .iter()
            .map(|d| d.as_secs() as u32)
            .collect();
        let hopping = self
            .config
            .windows
            .hopping
            .iter()
            .map(|(size, slide)| (size.as_secs() as u32, slide.as_secs() as u32))
            .collect();
        let state = AppState::new(
            self.live.clone(),
            &self.registries,
            sizes,
            self.config.parking.stale_after.as_millis() as i64,
            Arc::new(move || ready.is_ready()),
        )
        .with_hopping(hopping)
        .with_zones(&self.registries, &self.zones)
        .with_readiness(Arc::new(move || readiness.check()))
        .with_stream(StreamDoor::new(
            self.hub.clone(),
            self.config.api.stream_heartbeat,
        ))
        .with_policy(Policy::from_config(&self.config))
        .with_map(MapDoor::new(self.config.api.map_tiles.clone(), &self.zones))
        .with_regions(&self.config.regions);
        match &self.push {
            Some(sink) => state.with_push(PushGateway::new(&self.config, sink.clone())),
            None => state,
        }
    }

    /// Runs the pipeline on a dedicated thread (its work is CPU-bound) and the API on this
    /// runtime until SIGINT/SIGTERM or the end of the source, then shuts both down cleanly.
    ///
    /// Every wait of the shutdown is bounded, so the exit stays within a container's grace
    /// period whatever the broker and the clients do: the API drains for at most
    /// [`stadtpuls_api::edge::SHUTDOWN_DRAIN`]; the pipeline's commits get
    /// `runner::SHUTDOWN_GRACE`, its Kafka clients [`CLIENT_CLOSE_TIMEOUT`] to close, and
    /// the whole pipeline [`PIPELINE_STOP_TIMEOUT`] from the request, after which the
    /// process exits without it.
    ///
    /// `make_io` builds the source and the sinks on the pipeline thread.
    pub async fn serve<S, D, K, M>(mut self, make_io: M) -> anyhow::Result<RunSummary>
    where
        S: Source + Send + 'static,
        D: DeadLetterSink + Send + 'static,
        K: WindowSink + Send + 'static,
        M: FnOnce(&Config, Readiness) -> anyhow::Result<Io<S, D, K>> + Send + 'static,
    {
        let sql = self.sql_engine()?;
        // Bursts (a replay's closed windows, an SQL query's hash table) are freed but stay
        // resident under glibc unless handed back (`docs/operating.md`, "Memory").
        #[cfg(target_os = "linux")]
        crate::alloc::spawn_trimmer();
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        spawn_signal_handler(stop_tx.clone());
        let mut pipeline = Pipeline::new(
            &self.config,
            &self.registries,
            self.live.clone(),
            PipelineOptions::default(),
        );
        let config = self.config.clone();
        let ready = self.ready.clone();
        let pipeline_stop = stop_rx.clone();
        let done_tx = stop_tx.clone();
        let (result_tx, result_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || {
                // Whatever ended the pipeline ends the API too, a panic included.
                let done = Done(done_tx);
                let result =
                    run_pipeline(&mut pipeline, &config, ready, make_io, pipeline_stop, &done);
                let _ = result_tx.send(result);
            })
            .context("cannot start the pipeline thread")?;
        // Pollers run on this runtime (their work is waiting) and stop with everything
        // else; a fetch or write in flight is abandoned (fetched again after a restart).
        for poller in std::mem::take(&mut self.pull) {
            tokio::spawn(poller.run(stop_rx.clone()));
        }
        if let Some(standard) = self.standard.take() {
            tokio::spawn(standard.run(stop_rx.clone()));
        }
        let edge = Edge::from_config(&self.config.api);
        if let (true, Some(bind)) = (self.config.sql.enabled, self.config.sql.flight_bind) {
            let mut flight_stop = stop_rx.clone();
            let engine = sql.clone();
            let edge = edge.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = flight_stop.wait_for(|stop| *stop).await;
                };
                if let Err(e) =
                    stadtpuls_api::sql::flight::serve_on(bind, engine, edge, stopped).await
                {
                    error!(error = %e, %bind, "flight sql server failed");
                }
            });
        }
        // One dispatcher copies published events into the subscribers' queues; at the
        // stop it ends every stream so open streams do not hold the API's drain.
        let dispatcher = tokio::spawn(self.hub.clone().dispatch());
        let hub = self.hub.clone();
        let mut api_stop = stop_rx.clone();
        let state = self.api_state().with_sql(sql);
        let bind = self.config.api.bind;
        let api_done = stop_tx.clone();
        let api = async move {
            let result = stadtpuls_api::serve(bind, state, edge, async move {
                let _ = api_stop.wait_for(|stop| *stop).await;
                hub.close();
            })
            .await
            .with_context(|| format!("cannot serve the API on {bind}"));
            if result.is_err() {
                let _ = api_done.send(true);
            }
            result
        };
        let (api_result, summary) = tokio::join!(
            api,
            wait_for_pipeline(result_rx, stop_rx, PIPELINE_STOP_TIMEOUT)
        );
        dispatcher.abort();
        api_result?;
        let summary = summary?;
        info!(
            messages = summary.messages,
            accepted = summary.accepted,
            rejected = summary.rejected,
            late = summary.late,
            "stopped"
        );
        Ok(summary)
    }
}

/// How long the pipeline's Kafka clients may take to close at exit (the consumer leaving its
/// group, the producers purging what is unsent): a broker that accepts connections and
/// answers nothing would hold them as long as it hangs.
pub const CLIENT_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the pipeline may take to stop after SIGINT/SIGTERM before the process exits
/// without it: the commit grace (5 s), the bounded final offset commit (2 s) and
/// [`CLIENT_CLOSE_TIMEOUT`], with margin. A pipeline cut off here is like one killed: its
/// unfinished checkpoint round is replayed after the restart.
pub const PIPELINE_STOP_TIMEOUT: Duration = Duration::from_secs(12);

/// Requests the stop of everything when dropped.
struct Done(Arc<watch::Sender<bool>>);

impl Done {
    fn now(&self) {
        let _ = self.0.send(true);
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        self.now();
    }
}

/// The pipeline thread's work: build the clients, run until the source ends or `stop`,
/// tell the API (`done`), then close the clients within [`CLIENT_CLOSE_TIMEOUT`].
fn run_pipeline<S, D, K, M>(
    pipeline: &mut Pipeline,
    config: &Config,
    ready: Readiness,
    make_io: M,
    stop: watch::Receiver<bool>,
    done: &Done,
) -> anyhow::Result<RunSummary>
where
    S: Source + Send + 'static,
    D: DeadLetterSink + Send + 'static,
    K: WindowSink + Send + 'static,
    M: FnOnce(&Config, Readiness) -> anyhow::Result<Io<S, D, K>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        let mut io = make_io(config, ready)?;
        let summary = runner::run(
            pipeline,
            &mut io.source,
            &mut io.dead_letters,
            &mut io.sinks,
            &io.checkpointing,
            stop,
            |_| {},
        )
        .await;
        anyhow::Ok((summary, io))
    });
    done.now();
    let (summary, io) = result?;
    close_within(io, CLIENT_CLOSE_TIMEOUT);
    Ok(summary?)
}

/// Drops `io` (closing its Kafka clients) on a thread of its own and waits at most
/// `timeout` for it; past that, the thread is left to end with the process. True when
/// closed in time.
fn close_within<T: Send + 'static>(io: T, timeout: Duration) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("close-clients".into())
        .spawn(move || {
            drop(io);
            let _ = tx.send(());
        });
    if let Err(error) = spawned {
        warn!(%error, "cannot start a thread to close the kafka clients; they end with the process");
        return false;
    }
    if rx.recv_timeout(timeout).is_err() {
        warn!(
            timeout_s = timeout.as_secs_f64(),
            "the kafka clients did not close in time (the broker does not answer): given up, they end with the process"
        );
        return false;
    }
    true
}

/// The pipeline's result: as soon as it ends by itself, or at most `timeout`
/// ([`PIPELINE_STOP_TIMEOUT`]) after a stop request.
async fn wait_for_pipeline(
    result: oneshot::Receiver<anyhow::Result<RunSummary>>,
    mut stop: watch::Receiver<bool>,
    timeout: Duration,
) -> anyhow::Result<RunSummary> {
    tokio::pin!(result);
    tokio::select! {
        ended = &mut result => {
            return ended.map_err(|_| anyhow::anyhow!("pipeline thread panicked"))?;
        }
        _ = stop.wait_for(|stop| *stop) => {}
    }
    match tokio::time::timeout(timeout, result).await {
        Ok(ended) => ended.map_err(|_| anyhow::anyhow!("pipeline thread panicked"))?,
        Err(_) => {
            error!(
                timeout_s = timeout.as_secs_f64(),
                "the pipeline did not stop in time after the shutdown request: exiting without it (its unfinished checkpoint round is replayed after the restart)"
            );
            Err(anyhow::anyhow!(
                "the pipeline did not stop within {:.1} s of the shutdown request",
                timeout.as_secs_f64()
            ))
        }
    }
}

fn spawn_signal_handler(stop: Arc<watch::Sender<bool>>) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    error!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => info!("SIGINT received, shutting down"),
            () = term => info!("SIGTERM received, shutting down"),
        }
        let _ = stop.send(true);
    });
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Blocks its dropping thread for a while, as a Kafka client whose broker hangs does.
    struct SlowToClose(Duration);

    impl Drop for SlowToClose {
        fn drop(&mut self) {
            std::thread::sleep(self.0);
        }
    }

    #[test]
    fn closing_clients_is_given_up_after_the_timeout() {
        let started = Instant::now();
        assert!(!close_within(
            SlowToClose(Duration::from_secs(5)),
            Duration::from_millis(100)
        ));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(close_within(
            SlowToClose(Duration::ZERO),
            Duration::from_secs(5)
        ));
    }

    #[tokio::test]
    async fn a_pipeline_that_does_not_stop_is_left_after_the_timeout() {
        let (_result_tx, result_rx) = oneshot::channel::<anyhow::Result<RunSummary>>();
        let (stop_tx, stop_rx) = watch::channel(false);
        let waiting = tokio::spawn(wait_for_pipeline(
            result_rx,
            stop_rx,
            Duration::from_millis(100),
        ));
        // Without a stop request the pipeline is waited for as long as it runs.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished());
        let asked = Instant::now();
        let _ = stop_tx.send(true);
        let result = waiting.await.expect("join");
        assert!(result.is_err(), "gave up on the pipeline");
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
    }

    #[tokio::test]
    async fn a_pipeline_that_stops_in_time_gives_its_summary() {
        let (result_tx, result_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let waiting = tokio::spawn(wait_for_pipeline(
            result_rx,
            stop_rx,
            Duration::from_secs(5),
        ));
        let _ = stop_tx.send(true);
        let summary = RunSummary {
            messages: 3,
            ..RunSummary::default()
        };
        let _ = result_tx.send(Ok(summary));
        assert_eq!(waiting.await.expect("join").expect("summary"), summary);
    }
}
