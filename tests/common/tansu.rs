//! A Tansu broker of the test's own, with its storage in a file of the test's directory, so
//! the test can stop it (SIGKILL) and start it again on the same port without losing what
//! was written: the shared broker on 9092 keeps its data in memory and is used by other
//! tests, so it can be neither stopped nor restarted.
//!
//! Storage is Tansu's `sqlite://` engine (the installed binary's `libsql` feature). Tansu
//! resolves the URL's path against its working directory — even `sqlite:///abs/path`
//! becomes `<cwd>/abs/path` — so the broker runs in the storage directory with the
//! relative URL `sqlite://tansu.db`.
//!
//! [`OwnBroker::stop`] freezes it with SIGSTOP instead: the kernel still accepts TCP
//! connections on its port, but nothing answers a request — a hung broker, which clients
//! cannot tell from a slow one (no connection refused, no reset).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Ports the own brokers of the fault tests use (outside the shared broker's 9092).
pub const PORTS: std::ops::RangeInclusive<u16> = 19100..=19199;

/// A Tansu broker with file-backed storage; killed on drop.
pub struct OwnBroker {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    lives: usize,
    /// Frozen with SIGSTOP (see [`OwnBroker::stop`]).
    stopped: bool,
}

impl OwnBroker {
    /// Starts Tansu on a free port of [`PORTS`] with its storage (and logs) in `dir`, and
    /// waits until it accepts connections.
    ///
    /// # Panics
    /// When `tansu` is not installed (`scripts/test.sh` installs it), no port of the range
    /// is free, or the broker does not listen within 30 s.
    pub fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("broker dir");
        // Start at a per-process offset so parallel test binaries rarely probe the same port.
        let span = u32::from(PORTS.end() - PORTS.start()) + 1;
        let first = (std::process::id() % span) as u16;
        // Tests of one binary run at once: a port handed to one broker is not free for the
        // next even before its Tansu binds it.
        static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
        let mut taken = TAKEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let port = (0..span as u16)
            .map(|i| PORTS.start() + (first + i) % span as u16)
            .find(|&p| !taken.contains(&p) && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
            .unwrap_or_else(|| panic!("no free port in {PORTS:?} for an own broker"));
        taken.push(port);
        drop(taken);
        let mut broker = Self {
            port,
            dir: dir.to_path_buf(),
            child: None,
            lives: 0,
            stopped: false,
        };
        broker.restart();
        broker
    }

    /// The bootstrap address, `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Whether the broker process runs (started and not killed).
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Freezes the broker with SIGSTOP: its port still accepts connections (the kernel
    /// completes the handshakes), but no request is answered until [`OwnBroker::resume`].
    pub fn stop(&mut self) {
        self.signal("-STOP");
        self.stopped = true;
    }

    /// Lets a broker frozen by [`OwnBroker::stop`] go on (SIGCONT).
    pub fn resume(&mut self) {
        if self.stopped {
            self.signal("-CONT");
            self.stopped = false;
        }
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the broker is running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} {}", child.id());
    }

    /// Kills the broker with SIGKILL (no shutdown code runs) and waits until the port is
    /// closed.
    pub fn kill(&mut self) {
        self.resume();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(self.addr()).is_ok() {
            assert!(Instant::now() < deadline, "port {} still open", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the broker (again) on the same port with the same storage; waits until it
    /// accepts connections. Each life logs to `tansu-<n>.log` in the storage directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the broker is still running");
        let url = format!("tcp://{}", self.addr());
        let log = std::fs::File::create(self.dir.join(format!("tansu-{}.log", self.lives)))
            .expect("broker log");
        self.lives += 1;
        let child = Command::new("tansu")
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .stdout(log.try_clone().expect("broker log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `tansu` ({e}); run scripts/test.sh"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(self.addr()).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "tansu exited with {status}; see {}",
                    self.dir.join("tansu-*.log").display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {} within 30 s",
                self.addr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too; SIGCONT first all the same, so nothing is
        // left frozen if the kill fails.
        if self.stopped
            && let Some(child) = &self.child
        {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // A failing test's directory is removed after this: show what the broker said.
        if std::thread::panicking() {
            self.print_logs();
        }
    }
}

impl OwnBroker {
    /// The last lines of each life's log, on stderr (the test's captured output).
    fn print_logs(&self) {
        for life in 0..self.lives {
            let path = self.dir.join(format!("tansu-{life}.log"));
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "---- {} (last 40 of {} lines) ----",
                path.display(),
                lines.len()
            );
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }
}
