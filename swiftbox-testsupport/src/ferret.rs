//! A FerretDB of a test's own, for tests that stop, kill or freeze the MongoDB-wire server
//! (the shared one must stay up for everyone else).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A FerretDB process of one test's own, on a port and data directory of its own (SQLite
/// files, kept across [`PrivateFerret::kill`] and [`PrivateFerret::start`]); killed and its
/// directory removed on drop.
#[derive(Debug)]
pub struct PrivateFerret {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    frozen: bool,
}

impl PrivateFerret {
    /// A private FerretDB for `test` (not started yet), or `None` after a loud skip (a panic
    /// under CI) when there is no launcher: `SWIFTBOX_FERRETDB_BIN`, else the one
    /// `scripts/servers.sh ferretdb-bin` builds.
    pub fn new(test: &str) -> Option<Self> {
        let bin = launcher()?;
        let dir = std::env::temp_dir().join(crate::unique_name(test));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("creating {}: {e}", dir.display());
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
            l.local_addr().expect("local address").port()
        };
        Some(Self {
            bin,
            dir,
            port,
            child: None,
            frozen: false,
        })
    }

    /// Its connection string (the same across restarts).
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/", self.port)
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts it (again, on its data) and waits until it listens; panics if it does not.
    pub fn start(&mut self) {
        let uri_file = self.dir.join("uri");
        let _ = std::fs::remove_file(&uri_file);
        let child = Command::new(&self.bin)
            .arg("-listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("-data-dir")
            .arg(self.dir.join("data"))
            .arg("-uri-file")
            .arg(&uri_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        self.frozen = false;
        for _ in 0..1200 {
            if uri_file.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "private FerretDB did not start listening on port {}",
            self.port
        );
    }

    /// Kills it (SIGKILL, as a crash would) and waits for it to be gone; its data stays.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.frozen {
                self.signal(&c, "CONT");
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.frozen = false;
    }

    /// Freezes it (SIGSTOP): it keeps its connections open and answers nothing until
    /// [`PrivateFerret::thaw`]. Does nothing when it is not running or already frozen.
    pub fn freeze(&mut self) {
        if let Some(c) = &self.child {
            if !self.frozen {
                self.signal(c, "STOP");
                self.frozen = true;
            }
        }
    }

    /// Thaws it (SIGCONT) after [`PrivateFerret::freeze`]; does nothing when not frozen.
    pub fn thaw(&mut self) {
        if let Some(c) = &self.child {
            if self.frozen {
                self.signal(c, "CONT");
                self.frozen = false;
            }
        }
    }

    fn signal(&self, child: &Child, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status();
        match status {
            Ok(s) if s.success() => {}
            other => panic!("kill -{signal} {}: {other:?}", child.id()),
        }
    }
}

impl Drop for PrivateFerret {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The launcher's path, or `None` after a loud skip (a panic under CI).
fn launcher() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SWIFTBOX_FERRETDB_BIN") {
        return Some(PathBuf::from(p));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/servers.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("ferretdb-bin")
        .stderr(Stdio::inherit())
        .output();
    let why = match out {
        Ok(o) if o.status.success() => {
            let path = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            if Path::new(&path).is_file() {
                return Some(PathBuf::from(path));
            }
            format!("`servers.sh ferretdb-bin` printed no launcher ({path:?})")
        }
        Ok(o) => format!("`servers.sh ferretdb-bin` failed with {}", o.status),
        Err(e) => format!("cannot run {}: {e}", script.display()),
    };
    let why =
        format!("no FerretDB launcher for a private server: {why}; set SWIFTBOX_FERRETDB_BIN");
    if crate::in_ci() {
        panic!("{why}");
    }
    crate::skip(&why);
    None
}
