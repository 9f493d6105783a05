//! Wiring shared by `run` and `demo`: the pipeline on its own thread, the API, shutdown.

use std::sync::Arc;

use anyhow::Context;
use stadtpuls_api::{AppState, SqlEngine};
use stadtpuls_config::{CityRegistry, CityZones, Config};
use stadtpuls_ingest::pipeline::{Pipeline, PipelineOptions};
use stadtpuls_ingest::runner::{
    self, Checkpointing, DeadLetterSink, Readiness, RunSummary, Source,
};
use stadtpuls_ingest::sink::WindowSink;
use stadtpuls_processing::live::LiveState;
use tokio::sync::watch;
use tracing::{error, info};

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
    pub ready: Readiness,
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
        let live = Arc::new(LiveState::new(config.api.live_retention.as_millis() as i64));
        Ok(Self {
            config,
            registries,
            zones,
            live,
            ready: Readiness::default(),
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
        AppState::new(
            self.live.clone(),
            &self.registries,
            sizes,
            self.config.parking.stale_after.as_millis() as i64,
            Arc::new(move || ready.is_ready()),
        )
        .with_hopping(hopping)
        .with_zones(&self.registries, &self.zones)
        .with_readiness(Arc::new(move || readiness.check()))
    }

    /// Runs the pipeline on a dedicated thread (its work is CPU-bound) and the API on this
    /// runtime until SIGINT/SIGTERM or the end of the source, then shuts both down cleanly.
    ///
    /// `make_io` builds the source and the sinks on the pipeline thread.
    pub async fn serve<S, D, K, M>(self, make_io: M) -> anyhow::Result<RunSummary>
    where
        S: Source + 'static,
        D: DeadLetterSink + 'static,
        K: WindowSink + 'static,
        M: FnOnce(&Config, Readiness) -> anyhow::Result<Io<S, D, K>> + Send + 'static,
    {
        let sql = self.sql_engine()?;
        // Bursts (a replay's closed windows, an SQL query's hash table) are freed but stay
        // resident under glibc unless handed back (README "Memory").
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
        let worker = std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || -> anyhow::Result<RunSummary> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let result = runtime.block_on(async move {
                    let mut io = make_io(&config, ready)?;
                    let summary = runner::run(
                        &mut pipeline,
                        &mut io.source,
                        &mut io.dead_letters,
                        &mut io.sinks,
                        &io.checkpointing,
                        pipeline_stop,
                        |_| {},
                    )
                    .await?;
                    anyhow::Ok(summary)
                });
                // Whatever ended the pipeline ends the API too.
                let _ = done_tx.send(true);
                result
            })
            .context("cannot start the pipeline thread")?;
        if let (true, Some(bind)) = (self.config.sql.enabled, self.config.sql.flight_bind) {
            let mut flight_stop = stop_rx.clone();
            let engine = sql.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = flight_stop.wait_for(|stop| *stop).await;
                };
                if let Err(e) = stadtpuls_api::sql::flight::serve_on(bind, engine, stopped).await {
                    error!(error = %e, %bind, "flight sql server failed");
                }
            });
        }
        let mut api_stop = stop_rx.clone();
        let state = self.api_state().with_sql(sql);
        let api = stadtpuls_api::serve(self.config.api.bind, state, async move {
            let _ = api_stop.wait_for(|stop| *stop).await;
        });
        let api_result = api
            .await
            .with_context(|| format!("cannot serve the API on {}", self.config.api.bind));
        if api_result.is_err() {
            let _ = stop_tx.send(true);
        }
        let summary = tokio::task::spawn_blocking(move || worker.join())
            .await
            .context("pipeline thread lost")?
            .map_err(|_| anyhow::anyhow!("pipeline thread panicked"))?;
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
