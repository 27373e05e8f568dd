//! Links planted at the names qusers writes, in a shared sticky folder (mode 1777) and owned by
//! another user, as someone else on the machine would plant them: pointing at a victim file,
//! or dangling. At every output and every file qusers derives (report, HTML page and rows file,
//! journal, lock, undo, failed, base snapshot, split parts, the simulator's state and log), the
//! victim keeps its bytes, a dangling link's target is never created, and the command either
//! refuses with an error naming the path or writes a new regular file in place of the link.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::{qusers, write_user_file};

const VICTIM: &[u8] = b"the victim's own bytes\n";

#[derive(Clone, Copy, Debug)]
enum Link {
    ToVictim,
    Dangling,
}

/// A shared folder to plant links in, and a private one holding the victim and the inputs.
struct Scene {
    _root: tempfile::TempDir,
    shared: PathBuf,
    private: PathBuf,
    victim: PathBuf,
    /// Where the dangling links point: must never come to exist.
    nowhere: PathBuf,
    /// Links are handed to uid 65534 ("nobody"), as when someone else planted them.
    foreign: bool,
    /// A user type the simulator (seed 1) knows.
    user_type: String,
    runs: usize,
}

impl Scene {
    fn new() -> Scene {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("tempdir");
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).expect("shared");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("sticky");
        let private = root.path().join("private");
        std::fs::create_dir(&private).expect("private");
        let victim = private.join("victim.txt");
        std::fs::write(&victim, VICTIM).expect("victim");
        let nowhere = private.join("created-through-a-link.txt");
        // Can links be handed to another user? (Only root can; the tests and CI run as root.)
        let probe = shared.join("probe");
        std::os::unix::fs::symlink(&victim, &probe).expect("symlink");
        let foreign = std::os::unix::fs::lchown(&probe, Some(65534), Some(65534)).is_ok();
        std::fs::remove_file(&probe).expect("probe");
        if !foreign {
            eprintln!("note: not root, so the planted links are this user's own");
        }
        match std::fs::read_to_string("/proc/sys/fs/protected_symlinks") {
            Ok(v) if v.trim() == "1" => {}
            _ => eprintln!(
                "note: fs.protected_symlinks is off here: the kernel does not guard the shared \
                 folder, qusers alone does"
            ),
        }
        let (_, user_type) = support::sim_state_and_user_type(
            &private.join("probe-state.json"),
            &private.join("probe-export.csv"),
        );
        Scene {
            _root: root,
            shared,
            private,
            victim,
            nowhere,
            foreign,
            user_type,
            runs: 0,
        }
    }

    /// A user file in the private folder: `creates` new users, then one invalid row.
    fn input(&self, name: &str, creates: usize) -> PathBuf {
        let mut rows: Vec<String> = (0..creates)
            .map(|i| {
                format!(
                    ",planted{i}@x.edu,Pla,Nted{i},planted{i}@x.edu,,{},active,",
                    self.user_type
                )
            })
            .collect();
        rows.push(",not-an-email,Bad,Row,not-an-email,,,active,".into());
        let path = self.private.join(name);
        write_user_file(&path, &rows);
        path
    }

    /// A fresh simulator state in the private folder.
    fn state(&mut self) -> PathBuf {
        self.runs += 1;
        self.private.join(format!("state-{}.json", self.runs))
    }

    /// Plants a link at `path` (removing what is there).
    fn plant(&self, path: &Path, link: Link) {
        let _ = std::fs::remove_file(path);
        let target = match link {
            Link::ToVictim => &self.victim,
            Link::Dangling => &self.nowhere,
        };
        std::os::unix::fs::symlink(target, path).expect("plant");
        if self.foreign {
            std::os::unix::fs::lchown(path, Some(65534), Some(65534)).expect("lchown");
        }
    }

    /// The victim is intact, nothing was created through a dangling link, and the command
    /// refused naming `planted` or left a regular file there.
    fn check(&self, what: &str, planted: &Path, link: Link, out: &Output) {
        assert_eq!(
            std::fs::read(&self.victim).expect("victim"),
            VICTIM,
            "{what} ({link:?}) wrote through the link into the victim: {out:?}"
        );
        assert!(
            !self.nowhere.exists(),
            "{what} ({link:?}) created the target of a dangling link: {out:?}"
        );
        let meta = std::fs::symlink_metadata(planted);
        let replaced = meta.as_ref().is_ok_and(|m| m.is_file());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = planted
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let refused = out.status.code() != Some(0) && stderr.contains(&name);
        assert!(
            replaced || refused,
            "{what} ({link:?}): neither a new file at {} ({meta:?}) nor a refusal naming it: {out:?}",
            planted.display()
        );
        if refused && !replaced {
            assert_eq!(out.status.code(), Some(2), "{what} ({link:?}): {out:?}");
        }
    }

    fn clear_shared(&self) {
        for e in std::fs::read_dir(&self.shared).expect("shared") {
            let p = e.expect("entry").path();
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&p).expect("clear");
            } else {
                std::fs::remove_file(&p).expect("clear");
            }
        }
    }
}

const LINKS: [Link; 2] = [Link::ToVictim, Link::Dangling];

#[test]
fn validate_reports_never_go_through_a_planted_link() {
    let scene = Scene::new();
    let input = scene.input("users.csv", 3);
    for link in LINKS {
        for (report, planted) in [
            ("r.csv", "r.csv"),
            ("r.jsonl", "r.jsonl"),
            ("r.html", "r.html"),
            ("r.html", "r.rows.csv"),
        ] {
            scene.clear_shared();
            let planted = scene.shared.join(planted);
            scene.plant(&planted, link);
            let out = qusers()
                .arg("validate")
                .arg(&input)
                .arg("--report")
                .arg(scene.shared.join(report))
                .output()
                .expect("runs");
            scene.check(&format!("validate --report {report}"), &planted, link, &out);
        }
    }
}

#[test]
fn import_files_never_go_through_a_planted_link() {
    let mut scene = Scene::new();
    let input = scene.input("users.csv", 3);
    for link in LINKS {
        for (report, planted) in [
            ("imp.csv", "imp.csv"),
            ("imp.csv", "imp.csv.journal"),
            ("imp.csv", "imp.csv.lock"),
            ("imp.csv", "imp.undo.csv"),
            ("imp.csv", "imp.failed.csv"),
            ("imp.html", "imp.html"),
            ("imp.html", "imp.rows.csv"),
        ] {
            scene.clear_shared();
            let planted = scene.shared.join(planted);
            scene.plant(&planted, link);
            let state = scene.state();
            let out = qusers()
                .arg("import")
                .arg(&input)
                .arg("--report")
                .arg(scene.shared.join(report))
                .args(["--sim", "--yes", "--skip-invalid", "--sim-state"])
                .arg(&state)
                .output()
                .expect("runs");
            scene.check(
                &format!("import, {}", planted.display()),
                &planted,
                link,
                &out,
            );
        }
        // The in-process simulator's state and log.
        for planted in ["state.json", "state.json.wal"] {
            scene.clear_shared();
            let planted = scene.shared.join(planted);
            scene.plant(&planted, link);
            let out = qusers()
                .arg("import")
                .arg(&input)
                .arg("--report")
                .arg(scene.private.join(format!("sim-{}.csv", scene.runs)))
                .args(["--sim", "--yes", "--skip-invalid", "--sim-state"])
                .arg(scene.shared.join("state.json"))
                .output()
                .expect("runs");
            scene.runs += 1;
            scene.check(
                &format!("import --sim-state, {}", planted.display()),
                &planted,
                link,
                &out,
            );
        }
    }
}

#[test]
fn named_outputs_never_go_through_a_planted_link() {
    let mut scene = Scene::new();
    let input = scene.input("users.csv", 5);
    for link in LINKS {
        // export -o and its base snapshot.
        for planted in ["exp.csv", "exp.csv.qusers-base"] {
            scene.clear_shared();
            let planted = scene.shared.join(planted);
            scene.plant(&planted, link);
            let state = scene.state();
            let out = qusers()
                .args(["export", "--sim", "--sim-state"])
                .arg(&state)
                .args(support::NO_CEILING)
                .arg("-o")
                .arg(scene.shared.join("exp.csv"))
                .output()
                .expect("runs");
            scene.check("export -o", &planted, link, &out);
        }
        scene.clear_shared();
        let planted = scene.shared.join("fixed.csv");
        scene.plant(&planted, link);
        let out = qusers()
            .arg("fix")
            .arg(&input)
            .arg("-o")
            .arg(&planted)
            .output()
            .expect("runs");
        scene.check("fix -o", &planted, link, &out);

        for name in ["template.csv", "template.xlsx"] {
            scene.clear_shared();
            let planted = scene.shared.join(name);
            scene.plant(&planted, link);
            let out = qusers()
                .args(["template", "-o"])
                .arg(&planted)
                .output()
                .expect("runs");
            scene.check("template -o", &planted, link, &out);
        }

        // split: the parts are new files, never an existing name.
        scene.clear_shared();
        let parts = scene.shared.join("parts");
        std::fs::create_dir(&parts).expect("parts");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&parts, std::fs::Permissions::from_mode(0o1777))
                .expect("sticky");
        }
        let planted = parts.join("users.part-002.csv");
        scene.plant(&planted, link);
        let out = qusers()
            .arg("split")
            .arg(&input)
            .arg("--out-dir")
            .arg(&parts)
            .args(["--rows", "2"])
            .output()
            .expect("runs");
        scene.check("split --out-dir", &planted, link, &out);
    }
}

/// `qusers sim --state`: the state written at start and its log.
#[test]
fn the_simulator_never_writes_through_a_planted_link() {
    use std::io::BufRead;
    let scene = Scene::new();
    for link in LINKS {
        for planted in ["sim.json", "sim.json.wal"] {
            scene.clear_shared();
            let planted = scene.shared.join(planted);
            scene.plant(&planted, link);
            let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qusers"))
                .args(["sim", "--port", "0", "--quiet", "--state"])
                .arg(scene.shared.join("sim.json"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("starts");
            // Serving (the address printed) or ended with an error: either way it has opened
            // its state and log by then.
            let stdout = child.stdout.take().expect("stdout");
            let first = std::io::BufReader::new(stdout).lines().next();
            let serving = matches!(&first, Some(Ok(l)) if l.contains("http://"));
            if serving {
                child.kill().expect("kill");
            }
            let out = child.wait_with_output().expect("ends");
            let out = Output {
                status: if serving {
                    // Served: as a success for the check, which then wants a regular file.
                    std::process::Command::new("true").status().expect("true")
                } else {
                    out.status
                },
                ..out
            };
            scene.check("sim --state", &planted, link, &out);
        }
    }
}
