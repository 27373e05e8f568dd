//! Running the real binary as an admin does: a [`Workdir`] (a temp dir to write files in and
//! run commands from), the command against a target (the simulator a test started, or the
//! built-in `--sim`), and a [`Run`]: the exit code, stdout and stderr it ended with.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qusers::sim::SimHandle;

use super::{qusers, write_user_file, NO_CEILING};

/// How a command ended: what an admin sees of it.
#[derive(Debug)]
pub struct Run {
    /// The exit code (-1 when a signal ended it).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout, then stderr: all the command printed, for a `contains` check.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// (exit code, stdout then stderr).
    pub fn code_all(self) -> (i32, String) {
        let all = self.all();
        (self.code, all)
    }

    /// (exit code, stdout, stderr).
    pub fn parts(self) -> (i32, String, String) {
        (self.code, self.stdout, self.stderr)
    }
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs a prepared command to its end.
pub fn run(cmd: &mut assert_cmd::Command) -> Run {
    cmd.output().expect("qusers runs").into()
}

/// The commands that take `--max-rps`.
const PACED: [&str; 4] = ["import", "update", "export", "sync"];

/// `qusers ARGS…` against the simulator `h`: its URL after the arguments, its token in the
/// environment (as an admin passes it, never in argv), and for the commands that pace their
/// requests the client's ceiling lifted ([`NO_CEILING`]): a test about pace builds its own
/// command.
pub fn on_sim(h: &SimHandle, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = qusers();
    cmd.args(args)
        .args(["--base-url", &h.url()])
        .env("QUALTRICS_API_TOKEN", h.token());
    if args.first().is_some_and(|c| PACED.contains(c)) {
        cmd.args(NO_CEILING);
    }
    cmd
}

/// A temp dir that commands run in (relative paths are the admin's own), removed when dropped.
pub struct Workdir {
    dir: tempfile::TempDir,
    /// Set on every command run here.
    env: Vec<(String, String)>,
}

impl Default for Workdir {
    fn default() -> Self {
        Self::new()
    }
}

impl Workdir {
    /// An empty temp dir.
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("tempdir"),
            env: Vec::new(),
        }
    }

    /// Sets `key=value` on every command run here (e.g. a fixed `QUSERS_TODAY`).
    pub fn env(mut self, key: &str, value: &str) -> Workdir {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The dir itself.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` inside the dir.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name`; returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents).expect("write");
        path
    }

    /// Writes a user file `name`: the template header, then `rows`.
    pub fn users(&self, name: &str, rows: &[String]) -> PathBuf {
        let path = self.join(name);
        write_user_file(&path, rows);
        path
    }

    /// Copies the fixture `name` in; returns its path here.
    pub fn fixture(&self, name: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::copy(super::fixture(name), &path).expect("copy the fixture");
        path
    }

    /// `qusers ARGS…` run from the dir, to add more to before running it.
    pub fn command(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = qusers();
        cmd.args(args).current_dir(self.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `qusers ARGS…` from the dir, with no target.
    pub fn run(&self, args: &[&str]) -> Run {
        run(&mut self.command(args))
    }

    /// Runs `qusers ARGS…` from the dir against the simulator `h`.
    pub fn run_on(&self, h: &SimHandle, args: &[&str]) -> Run {
        let mut cmd = on_sim(h, args);
        cmd.current_dir(self.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    }

    /// Runs `qusers ARGS… --sim --sim-state sim.json` from the dir: the built-in simulator,
    /// its users kept in the dir between runs.
    pub fn run_sim(&self, args: &[&str]) -> Run {
        run(self
            .command(args)
            .args(["--sim", "--sim-state", "sim.json"]))
    }
}

/// Runs `qusers ARGS…` against the simulator `h` (see [`on_sim`]).
pub fn run_on(h: &SimHandle, args: &[&str]) -> Run {
    run(&mut on_sim(h, args))
}

/// Runs `qusers ARGS…` from `dir` against the simulator `h` (see [`on_sim`]).
pub fn run_in(h: &SimHandle, dir: &Path, args: &[&str]) -> Run {
    run(on_sim(h, args).current_dir(dir))
}

/// Runs `qusers ARGS…` from `dir`, with no target.
pub fn run_offline(dir: &Path, args: &[&str]) -> Run {
    run(qusers().current_dir(dir).args(args))
}

/// Starts `cmd` (a `qusers` command line), waits until `started` exists (a journal: the run is
/// applying rows) and a moment more, sends it SIGINT as Ctrl-C does, and returns how it ended.
pub fn interrupt(cmd: &mut std::process::Command, started: &Path, after: Duration) -> Run {
    let child = cmd
        .env_remove("QUALTRICS_BASE_URL")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(after);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "SIGINT sent");
    child.wait_with_output().expect("exits").into()
}
