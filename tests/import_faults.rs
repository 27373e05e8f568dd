//! The import under the faults of issue 9 (items 12–19) and `--on-taken suffix`: driven
//! through the library against the in-process simulator, with a small loopback proxy in
//! front of it where a test needs the server to misbehave on cue.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qusers::api::{BaseUrl, Client, ClientOptions, NewUser, Token};
use qusers::file::{ReadOptions, Source};
use qusers::import::{
    FileInput, ImportLock, ImportOptions, ImportOutcome, ImportVerdict, Importer, InstanceFrom,
    Interruption, Journal, JournalEntry, JournalError, NoProgress, OnTaken, Progress, RowResult,
};
use qusers::sim::{self, SimConfig, SimHandle};
use support::{qusers, read_report, write_user_file, HEADER};

// ---------------------------------------------------------------------------------------------
// A loopback HTTP proxy in front of the simulator. `rule` sees each request line
// ("PUT /API/v3/users/UR_x") and either lets it through or answers it itself.

enum Act {
    Pass,
    /// Answer with this status and the API's error envelope.
    Answer(u16),
    /// Hold the request until the flag is set, then pass it.
    Hold(Arc<AtomicBool>),
}

type Rule = Arc<Mutex<Box<dyn Fn(&str) -> Act + Send>>>;

struct Proxy {
    url: String,
    rule: Rule,
}

impl Proxy {
    fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let rule: Rule = Arc::new(Mutex::new(Box::new(|_: &str| Act::Pass)));
        let r = rule.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let r = r.clone();
                std::thread::spawn(move || serve(conn, upstream, r));
            }
        });
        Proxy {
            url: format!("http://{addr}"),
            rule,
        }
    }

    fn set(&self, rule: impl Fn(&str) -> Act + Send + 'static) {
        *self.rule.lock().expect("rule") = Box::new(rule);
    }
}

/// Reads one HTTP/1.1 message (head and Content-Length body); `None` at EOF.
fn read_message(r: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn serve(client: TcpStream, upstream: std::net::SocketAddr, rule: Rule) {
    let mut from_client = BufReader::new(client.try_clone().expect("clone"));
    let mut to_client = client;
    let mut up: Option<(TcpStream, BufReader<TcpStream>)> = None;
    while let Some((head, body)) = read_message(&mut from_client) {
        let line = head.lines().next().unwrap_or_default().to_string();
        let act = (rule.lock().expect("rule"))(&line);
        match act {
            Act::Answer(status) => {
                let body = format!(
                    r#"{{"meta":{{"httpStatus":"{status} Refused","error":{{"errorMessage":"refused by the test proxy","errorCode":"TEST_1"}},"requestId":"proxy"}}}}"#
                );
                let msg = format!(
                    "HTTP/1.1 {status} Refused\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if to_client.write_all(msg.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
            Act::Hold(flag) => {
                for _ in 0..6000 {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            Act::Pass => {}
        }
        if up.is_none() {
            let Ok(s) = TcpStream::connect(upstream) else {
                return;
            };
            let r = BufReader::new(s.try_clone().expect("clone"));
            up = Some((s, r));
        }
        let (w, r) = up.as_mut().expect("upstream");
        if w.write_all(head.as_bytes()).is_err() || w.write_all(&body).is_err() {
            return;
        }
        let Some((rhead, rbody)) = read_message(r) else {
            return; // the simulator dropped it: so does the proxy
        };
        if to_client.write_all(rhead.as_bytes()).is_err() || to_client.write_all(&rbody).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------

fn fast_client(url: &str, token: &str) -> Client {
    Client::new(
        BaseUrl::parse(url).expect("url"),
        Token::new(token).expect("token"),
        ClientOptions {
            max_attempts: 3,
            backoff_base: Duration::from_millis(5),
            backoff_cap: Duration::from_millis(20),
            ..ClientOptions::default()
        },
    )
    .expect("client")
}

fn user_type(h: &SimHandle) -> String {
    h.with_store(|s| {
        s.user_types
            .keys()
            .find(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .expect("a user type")
    })
}

fn write_file(dir: &Path, name: &str, rows: &[String]) -> FileInput {
    let path = dir.join(name);
    write_user_file(&path, rows);
    FileInput {
        source: Source::Path(path),
        read: ReadOptions::default(),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn import_with(
    input: &FileInput,
    client: &Client,
    from: InstanceFrom,
    opts: ImportOptions,
    cancel: &AtomicBool,
    progress: &dyn Progress,
) -> anyhow::Result<ImportOutcome> {
    rt().block_on(async {
        let prepared = Importer::new(input, Some(client.clone()), from, opts)
            .prepare(progress)
            .await?;
        prepared.apply(cancel, progress).await
    })
}

fn import(
    input: &FileInput,
    client: &Client,
    opts: ImportOptions,
) -> anyhow::Result<ImportOutcome> {
    import_with(
        input,
        client,
        InstanceFrom::Api,
        opts,
        &AtomicBool::new(false),
        &NoProgress,
    )
}

fn resume(report: &Path) -> ImportOptions {
    let mut o = ImportOptions::new(report);
    o.resume = true;
    o
}

/// A journal as an interrupted run against `client` would have left it.
fn journal(client: &Client, input: &FileInput, report: &Path, entries: &[JournalEntry]) {
    let me = rt().block_on(client.whoami()).expect("whoami");
    let start = JournalEntry::Start {
        input: input.source.name(),
        input_sha256: qusers::import::content_hash(&input.source).expect("hash"),
        target: client.base().to_string(),
        brand_id: me.brand_id,
        user_id: me.user_id,
    };
    let mut j = Journal::create(&Journal::path_for(report), start).expect("journal");
    for e in entries {
        j.append(e).expect("append");
    }
}

fn new_user(username: &str, user_type: &str) -> NewUser {
    NewUser {
        username: username.into(),
        first_name: "Pre".into(),
        last_name: "Existing".into(),
        user_type: user_type.into(),
        email: username.into(),
        language: "EN".into(),
        ..NewUser::default()
    }
}

fn by_name(h: &SimHandle, name: &str) -> Option<qusers::api::ApiUser> {
    h.with_store(|s| s.by_username(name).cloned())
}

fn outcomes(report: &Path) -> Vec<(String, String, String, String)> {
    read_report(report)
        .into_iter()
        .map(|m| {
            (
                m["userName"].clone(),
                m["outcome"].clone(),
                m["codes"].clone(),
                m["message"].clone(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 12. Create-then-disable.

#[test]
fn a_resume_finishes_the_disable_of_a_create_killed_between_its_two_steps() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_file(
        dir.path(),
        "off.csv",
        &[
            format!(",off1@x.org,Off,One,off1@x.org,,{ut},disabled,"),
            format!(",on2@x.org,On,Two,on2@x.org,,{ut},active,"),
        ],
    );
    let client = fast_client(&h.url(), h.token());
    // The first run created off1 (POST answered) and was killed before its PUT.
    let id = rt()
        .block_on(client.create_user(&new_user("off1@x.org", &ut)))
        .expect("create")
        .value;
    let report = dir.path().join("off.report.csv");
    journal(
        &client,
        &input,
        &report,
        &[
            JournalEntry::Sending {
                row: 1,
                username: "off1@x.org".into(),
            },
            JournalEntry::Created {
                row: 1,
                result: RowResult {
                    outcome: qusers::import::Outcome::Created,
                    user_id: id.clone(),
                    http_status: Some(200),
                    ..RowResult::default()
                },
            },
        ],
    );
    let outcome = import(&input, &client, resume(&report)).expect("resume");
    assert_eq!(outcome.verdict, ImportVerdict::Done);
    let off = by_name(&h, "off1@x.org").expect("off1");
    assert_eq!(off.id, id, "not created twice");
    assert_eq!(off.account_status.as_deref(), Some("disabled"));
    let rows = outcomes(&report);
    assert_eq!(rows[0].1, "created");
    assert!(rows[0].3.contains("disabled"), "{rows:?}");
    assert_eq!(rows[1].1, "created");
    assert_eq!(
        h.with_store(|s| s
            .users
            .iter()
            .filter(|u| u.username == "off1@x.org")
            .count()),
        1
    );
}

#[test]
fn a_failed_disable_makes_the_row_failed_with_the_user_id() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let proxy = Proxy::start(h.addr());
    // Every PUT is refused: the disable step fails.
    proxy.set(|line| {
        if line.starts_with("PUT ") {
            Act::Answer(400)
        } else {
            Act::Pass
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_file(
        dir.path(),
        "off.csv",
        &[format!(",off@x.org,Off,User,off@x.org,,{ut},disabled,")],
    );
    let client = fast_client(&proxy.url, h.token());
    let report = dir.path().join("off.report.csv");
    let outcome = import(&input, &client, ImportOptions::new(&report)).expect("import");
    assert_eq!(outcome.counts.failed, 1);
    assert_eq!(outcome.counts.created, 0);
    let user = by_name(&h, "off@x.org").expect("the POST went in");
    let r = &read_report(&report)[0];
    assert_eq!(r["outcome"], "failed");
    assert_eq!(
        r["userID"], user.id,
        "the report names the user that exists"
    );
    assert!(r["message"].contains("disabling it failed"), "{r:?}");
    assert_eq!(r["httpStatus"], "400");
}

// ---------------------------------------------------------------------------------------------
// 13. Resume binds to its instance and account.

#[test]
fn a_resume_against_another_instance_or_account_is_refused() {
    let a = sim::spawn(SimConfig {
        seed: 1,
        non_admin_token: Some("second-account-token".into()),
        ..SimConfig::default()
    })
    .expect("sim a");
    let b = sim::spawn(SimConfig {
        seed: 2,
        ..SimConfig::default()
    })
    .expect("sim b");
    let ut = user_type(&a);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_file(
        dir.path(),
        "u.csv",
        &[format!(",bind@x.org,Bind,User,bind@x.org,,{ut},active,")],
    );
    let report = dir.path().join("u.report.csv");
    // Interrupted before any row started: the journal is there, bound to a.
    let outcome = import_with(
        &input,
        &fast_client(&a.url(), a.token()),
        InstanceFrom::Api,
        ImportOptions::new(&report),
        &AtomicBool::new(true),
        &NoProgress,
    )
    .expect("interrupted");
    assert_eq!(
        outcome.verdict,
        ImportVerdict::Interrupted(Interruption::Signal)
    );

    let err = import(&input, &fast_client(&b.url(), b.token()), resume(&report))
        .expect_err("another instance");
    assert!(
        matches!(
            err.downcast_ref::<JournalError>(),
            Some(JournalError::OtherTarget { .. })
        ),
        "{err:#}"
    );
    assert_eq!(b.stats().writes, 0);
    assert!(by_name(&b, "bind@x.org").is_none());

    // The same instance with another account's token.
    let err = import(
        &input,
        &fast_client(&a.url(), "second-account-token"),
        resume(&report),
    )
    .expect_err("another account");
    assert!(
        matches!(
            err.downcast_ref::<JournalError>(),
            Some(JournalError::OtherTarget { .. })
        ),
        "{err:#}"
    );

    // Through the binary: exit 2.
    let out = support::run(
        qusers()
            .args([
                "import",
                input.source.name().as_str(),
                "--resume",
                "--yes",
                "--quiet",
            ])
            .arg("--report")
            .arg(&report)
            .args(["--base-url", &b.url()])
            .env("QUALTRICS_API_TOKEN", b.token()),
    );
    assert_eq!(Some(out.code), Some(2));
    let stderr = out.stderr.as_str();
    assert!(stderr.contains("belongs to an import into"), "{stderr}");

    // And the right instance finishes it.
    let outcome =
        import(&input, &fast_client(&a.url(), a.token()), resume(&report)).expect("resume");
    assert_eq!(outcome.counts.created, 1);
}

// ---------------------------------------------------------------------------------------------
// 14. Failed rows are retried on resume.

#[test]
fn transient_failures_are_retried_on_resume_and_content_refusals_only_with_retry_failed() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_file(
        dir.path(),
        "f.csv",
        &[
            format!(",net@x.org,Net,Fail,net@x.org,,{ut},active,"),
            format!(",bad@x.org,Bad,Request,bad@x.org,,{ut},active,"),
            format!(",ok@x.org,Ok,Done,ok@x.org,,{ut},active,"),
        ],
    );
    let client = fast_client(&h.url(), h.token());
    let report = dir.path().join("f.report.csv");
    let failed = |status: Option<u16>| RowResult {
        outcome: qusers::import::Outcome::Failed,
        http_status: status,
        message: "failed before the interruption".into(),
        ..RowResult::default()
    };
    journal(
        &client,
        &input,
        &report,
        &[
            JournalEntry::Sending {
                row: 1,
                username: "net@x.org".into(),
            },
            JournalEntry::Done {
                row: 1,
                result: failed(Some(503)),
            },
            JournalEntry::Sending {
                row: 2,
                username: "bad@x.org".into(),
            },
            JournalEntry::Done {
                row: 2,
                result: failed(Some(400)),
            },
        ],
    );
    let outcome = import(&input, &client, resume(&report)).expect("resume");
    let rows = outcomes(&report);
    assert_eq!(rows[0].1, "created", "the 503 is tried again: {rows:?}");
    assert_eq!(rows[1].1, "failed", "the 400 stays failed: {rows:?}");
    assert_eq!(rows[2].1, "created");
    assert!(by_name(&h, "net@x.org").is_some());
    assert!(by_name(&h, "bad@x.org").is_none());
    assert_eq!(outcome.verdict, ImportVerdict::DoneWithProblems);
    assert_eq!(
        outcome.resume_journal, None,
        "no row is left to retry by itself"
    );
    assert!(
        Journal::path_for(&report).exists(),
        "kept, finished, for --retry-failed"
    );

    // --retry-failed tries the 400 again (here the server accepts it now).
    let created = |name: &str| RowResult {
        outcome: qusers::import::Outcome::Created,
        user_id: by_name(&h, name).expect("created").id,
        ..RowResult::default()
    };
    journal(
        &client,
        &input,
        &report,
        &[
            JournalEntry::Done {
                row: 1,
                result: created("net@x.org"),
            },
            JournalEntry::Done {
                row: 2,
                result: failed(Some(400)),
            },
            JournalEntry::Done {
                row: 3,
                result: created("ok@x.org"),
            },
        ],
    );
    let mut opts = resume(&report);
    opts.retry_failed = true;
    import(&input, &client, opts).expect("retry-failed");
    assert!(by_name(&h, "bad@x.org").is_some());
}

#[test]
fn the_journal_stays_while_a_row_failed_for_want_of_an_answer() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let proxy = Proxy::start(h.addr());
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_file(
        dir.path(),
        "t.csv",
        &[format!(",down@x.org,Down,User,down@x.org,,{ut},active,")],
    );
    let client = fast_client(&proxy.url, h.token());
    let report = dir.path().join("t.report.csv");
    // Prepared while the server answers; every POST then meets a 503 (whoami still answers,
    // so this is no outage: the row fails after its rounds).
    let outcome = rt()
        .block_on(async {
            let prepared = Importer::new(
                &input,
                Some(client.clone()),
                InstanceFrom::Api,
                ImportOptions::new(&report),
            )
            .prepare(&NoProgress)
            .await?;
            proxy.set(|line| {
                if line.starts_with("POST ") {
                    Act::Answer(503)
                } else {
                    Act::Pass
                }
            });
            prepared.apply(&AtomicBool::new(false), &NoProgress).await
        })
        .expect("import");
    assert_eq!(outcome.counts.failed, 1);
    assert_eq!(outcome.verdict, ImportVerdict::DoneWithProblems);
    assert!(
        Journal::path_for(&report).exists(),
        "a row remains to retry: the journal stays"
    );
    assert!(outcome.resume_journal.is_some());
    proxy.set(|_| Act::Pass);
    let outcome = import(&input, &client, resume(&report)).expect("resume");
    assert_eq!(outcome.counts.created, 1);
    assert!(!Journal::path_for(&report).exists());
}

// ---------------------------------------------------------------------------------------------
// 15. Outages pause.

#[test]
fn an_outage_pauses_the_import_and_it_continues_when_the_server_answers() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let proxy = Proxy::start(h.addr());
    let dir = tempfile::tempdir().expect("tempdir");
    let rows: Vec<String> = (0..40)
        .map(|n| format!(",out{n}@x.org,Out,User{n},out{n}@x.org,,{ut},active,"))
        .collect();
    let input = write_file(dir.path(), "o.csv", &rows);
    let client = fast_client(&proxy.url, h.token());
    let report = dir.path().join("o.report.csv");
    let refused = Arc::new(AtomicUsize::new(0));
    let outcome = rt()
        .block_on(async {
            let mut opts = ImportOptions::new(&report);
            opts.concurrency = 4;
            opts.max_outage = Duration::from_secs(600);
            let prepared = Importer::new(&input, Some(client.clone()), InstanceFrom::Api, opts)
                .prepare(&NoProgress)
                .await?;
            // The server goes down (every request 503) for two seconds, then comes back.
            // (However long it takes here, the outcome is the same: the import waits.)
            let r = refused.clone();
            let back = std::time::Instant::now() + Duration::from_secs(2);
            proxy.set(move |_| {
                if std::time::Instant::now() < back {
                    r.fetch_add(1, Ordering::SeqCst);
                    Act::Answer(503)
                } else {
                    Act::Pass
                }
            });
            prepared.apply(&AtomicBool::new(false), &NoProgress).await
        })
        .expect("import");
    assert!(refused.load(Ordering::SeqCst) >= 4, "the outage happened");
    assert_eq!(outcome.counts.failed, 0, "no row failed for the outage");
    assert_eq!(outcome.counts.created, 40);
    assert_eq!(outcome.verdict, ImportVerdict::Done);
    for n in 0..40 {
        let name = format!("out{n}@x.org");
        assert_eq!(
            h.with_store(|s| s.users.iter().filter(|u| u.username == name).count()),
            1,
            "{name} exactly once"
        );
    }
}

#[test]
fn an_outage_longer_than_max_outage_stops_like_ctrl_c() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let proxy = Proxy::start(h.addr());
    let dir = tempfile::tempdir().expect("tempdir");
    let rows: Vec<String> = (0..10)
        .map(|n| format!(",long{n}@x.org,Long,User{n},long{n}@x.org,,{ut},active,"))
        .collect();
    let input = write_file(dir.path(), "l.csv", &rows);
    let client = fast_client(&proxy.url, h.token());
    let report = dir.path().join("l.report.csv");
    let outcome = rt()
        .block_on(async {
            let mut opts = ImportOptions::new(&report);
            opts.max_outage = Duration::from_secs(1);
            let prepared = Importer::new(&input, Some(client.clone()), InstanceFrom::Api, opts)
                .prepare(&NoProgress)
                .await?;
            proxy.set(|_| Act::Answer(503));
            prepared.apply(&AtomicBool::new(false), &NoProgress).await
        })
        .expect("import");
    assert_eq!(
        outcome.verdict,
        ImportVerdict::Interrupted(Interruption::Outage)
    );
    assert!(!outcome.success());
    assert_eq!(outcome.counts.failed, 0, "nothing is failed for an outage");
    assert_eq!(outcome.counts.skipped, 10);
    assert!(Journal::path_for(&report).exists(), "the journal is kept");
    assert_eq!(read_report(&report).len(), 10, "the report is written");

    proxy.set(|_| Act::Pass);
    let outcome = import(&input, &client, resume(&report)).expect("resume");
    assert_eq!(outcome.counts.created, 10);
    for n in 0..10 {
        let name = format!("long{n}@x.org");
        assert_eq!(
            h.with_store(|s| s.users.iter().filter(|u| u.username == name).count()),
            1
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 16. One import at a time.

#[test]
fn a_second_import_with_the_same_report_exits_2_naming_the_first() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_file(
        dir.path(),
        "lock.csv",
        &[format!(",lock@x.org,Lock,User,lock@x.org,,{ut},active,")],
    );
    let report = dir.path().join("lock.report.csv");
    let held = ImportLock::acquire(&report).expect("the first import holds the lock");
    let out = support::run(
        qusers()
            .args(["import", input.source.name().as_str(), "--yes", "--quiet"])
            .arg("--report")
            .arg(&report)
            .args(["--base-url", &h.url()])
            .env("QUALTRICS_API_TOKEN", h.token()),
    );
    assert_eq!(Some(out.code), Some(2));
    let stderr = out.stderr.as_str();
    assert!(
        stderr.contains(&format!("process {}", std::process::id())),
        "{stderr}"
    );
    assert_eq!(h.stats().writes, 0);
    assert!(
        !report.exists(),
        "the report of the first import is untouched"
    );
    drop(held);
    // Released (and gone): the next import runs.
    assert!(!ImportLock::path_for(&report).exists());
    let client = fast_client(&h.url(), h.token());
    let outcome = import(&input, &client, ImportOptions::new(&report)).expect("runs");
    assert_eq!(outcome.counts.created, 1);
}

// ---------------------------------------------------------------------------------------------
// 17. Late answers.

fn export_of_admin_only(h: &SimHandle, dir: &Path) -> Source {
    let admin = h.with_store(|s| s.admin().cloned()).expect("admin");
    let path = dir.join("export.csv");
    std::fs::write(
        &path,
        format!(
            "{HEADER}\n{},{},A,Dmin,{},,UT_BRANDADMIN,active,\n",
            admin.id, admin.username, admin.username
        ),
    )
    .expect("export");
    Source::Path(path)
}

#[test]
fn a_taken_answer_to_a_create_this_import_sent_before_is_its_late_answer() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_file(
        dir.path(),
        "late.csv",
        &[format!(",late@x.org,Late,User,late@x.org,,{ut},active,")],
    );
    let client = fast_client(&h.url(), h.token());
    let report = dir.path().join("late.report.csv");
    // The interrupted run sent the create; its answer was lost; the resumed run's picture of
    // the instance (here an export) was taken before the create landed.
    journal(
        &client,
        &input,
        &report,
        &[JournalEntry::Sending {
            row: 1,
            username: "late@x.org".into(),
        }],
    );
    let id = rt()
        .block_on(client.create_user(&new_user("late@x.org", &ut)))
        .expect("the late create lands")
        .value;
    let outcome = import_with(
        &input,
        &client,
        InstanceFrom::Export(export_of_admin_only(&h, dir.path())),
        resume(&report),
        &AtomicBool::new(false),
        &NoProgress,
    )
    .expect("resume");
    assert_eq!(outcome.counts.created, 1, "{:?}", outcomes(&report));
    assert_eq!(outcome.counts.failed, 0);
    let r = &read_report(&report)[0];
    assert_eq!(r["userID"], id);
    assert_eq!(
        h.with_store(|s| s
            .users
            .iter()
            .filter(|u| u.username == "late@x.org")
            .count()),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// --on-taken suffix (issue 11 item 7).

#[test]
fn on_taken_suffix_retries_with_plus_n_and_reports_the_final_username() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let client = fast_client(&h.url(), h.token());
    // Taken elsewhere in Qualtrics (not in this brand's export): the name and its +1.
    for name in ["taken@x.org", "taken+1@x.org"] {
        rt().block_on(client.create_user(&new_user(name, &ut)))
            .expect("pre-existing");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_file(
        dir.path(),
        "t.csv",
        &[
            format!(",taken@x.org,Tak,En,taken@x.org,,{ut},active,"),
            format!(",free@x.org,Fr,Ee,free@x.org,,{ut},active,"),
        ],
    );
    let export = export_of_admin_only(&h, dir.path());
    let report = dir.path().join("t.report.csv");
    // Without the flag the row fails.
    let outcome = import_with(
        &input,
        &client,
        InstanceFrom::Export(export.clone()),
        ImportOptions::new(&report),
        &AtomicBool::new(false),
        &NoProgress,
    )
    .expect("import");
    assert_eq!(outcome.counts.failed, 1);
    assert!(by_name(&h, "taken+2@x.org").is_none());

    let input = write_file(
        dir.path(),
        "t2.csv",
        &[format!(",taken@x.org,Tak,En,taken@x.org,,{ut},active,")],
    );
    let mut opts = ImportOptions::new(&report);
    opts.on_taken = OnTaken::Suffix;
    let outcome = import_with(
        &input,
        &client,
        InstanceFrom::Export(export),
        opts,
        &AtomicBool::new(false),
        &NoProgress,
    )
    .expect("import");
    assert_eq!(outcome.counts.created, 1);
    let user = by_name(&h, "taken+2@x.org").expect("created as +2");
    let r = &read_report(&report)[0];
    assert_eq!(r["outcome"], "created");
    assert_eq!(r["userName"], "taken+2@x.org");
    assert_eq!(r["userID"], user.id);
    assert!(r["message"].contains("taken elsewhere"), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// 18. Report codes after resume; finished rows on disk promptly.

/// Sets `cancel` once `after` rows are done.
struct CancelAfter<'a> {
    after: usize,
    done: AtomicUsize,
    cancel: &'a AtomicBool,
}

impl Progress for CancelAfter<'_> {
    fn row_done(&self) {
        if self.done.fetch_add(1, Ordering::SeqCst) + 1 >= self.after {
            self.cancel.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn rows_done_before_an_interruption_keep_their_own_codes() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let rows: Vec<String> = (0..30)
        .map(|n| format!(",codes{n}@x.org,Co,Des{n},codes{n}@x.org,,{ut},active,"))
        .collect();
    let input = write_file(dir.path(), "c.csv", &rows);
    let client = fast_client(&h.url(), h.token());
    let report = dir.path().join("c.report.csv");
    let cancel = AtomicBool::new(false);
    let progress = CancelAfter {
        after: 8,
        done: AtomicUsize::new(0),
        cancel: &cancel,
    };
    let mut opts = ImportOptions::new(&report);
    opts.concurrency = 2;
    let first = import_with(&input, &client, InstanceFrom::Api, opts, &cancel, &progress)
        .expect("interrupted");
    assert!(first.verdict.interrupted());
    assert!(first.counts.created >= 8);
    assert!(first.counts.skipped > 0);
    let before: Vec<(String, String, String, String)> = outcomes(&report)
        .into_iter()
        .filter(|r| r.1 == "created")
        .collect();
    import(&input, &client, resume(&report)).expect("resume");
    let rows = outcomes(&report);
    assert_eq!(rows.len(), 30);
    for (name, outcome, codes, _) in &rows {
        assert_eq!(outcome, "created", "{name}");
        assert!(!codes.contains("U05"), "{name}: {codes}");
    }
    // Rows done before the interruption are reported as they were, their codes included
    // (here A07, which the first run's validation found and the resumed one no longer does).
    for done in &before {
        let now = rows.iter().find(|r| r.0 == done.0).expect("row");
        assert_eq!(now, done);
    }
}

/// Checks the report on disk when all rows but the held one are done, then lets it go.
struct CheckDisk<'a> {
    report: &'a Path,
    total: usize,
    done: AtomicUsize,
    release: Arc<AtomicBool>,
    on_disk: AtomicUsize,
}

impl Progress for CheckDisk<'_> {
    fn row_done(&self) {
        let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.total - 1 {
            // The row done just now is written right after this call: count those before.
            let lines = std::fs::read_to_string(self.report)
                .map(|t| t.lines().count().saturating_sub(1))
                .unwrap_or(0);
            self.on_disk.store(lines, Ordering::SeqCst);
            self.release.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn finished_rows_reach_the_report_while_an_earlier_row_is_in_flight() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let proxy = Proxy::start(h.addr());
    let dir = tempfile::tempdir().expect("tempdir");
    // Row 1 is an update held by the proxy; rows 2… are creates that finish meanwhile.
    let held = h.with_store(|s| s.users[0].clone());
    let mut rows = vec![format!("{},{},Held,,,,,,", held.id, held.username)];
    rows.extend((0..12).map(|n| format!(",disk{n}@x.org,Di,Sk{n},disk{n}@x.org,,{ut},active,")));
    let input = write_file(dir.path(), "d.csv", &rows);
    let client = fast_client(&proxy.url, h.token());
    let report = dir.path().join("d.report.csv");
    let release = Arc::new(AtomicBool::new(false));
    let r = release.clone();
    proxy.set(move |line| {
        if line.starts_with("PUT ") {
            Act::Hold(r.clone())
        } else {
            Act::Pass
        }
    });
    let progress = CheckDisk {
        report: &report,
        total: rows.len(),
        done: AtomicUsize::new(0),
        release,
        on_disk: AtomicUsize::new(0),
    };
    let mut opts = ImportOptions::new(&report);
    opts.concurrency = 4;
    let outcome = import_with(
        &input,
        &client,
        InstanceFrom::Api,
        opts,
        &AtomicBool::new(false),
        &progress,
    )
    .expect("import");
    assert_eq!(outcome.counts.created, 12);
    assert_eq!(outcome.counts.updated, 1);
    assert_eq!(
        progress.on_disk.load(Ordering::SeqCst),
        11,
        "the creates done while row 1 was in flight are on disk"
    );
    // In the end the report is in input order.
    let report_rows = read_report(&report);
    let order: Vec<String> = report_rows.iter().map(|r| r["row"].clone()).collect();
    let want: Vec<String> = (1..=13).map(|n| n.to_string()).collect();
    assert_eq!(order, want);
}

// ---------------------------------------------------------------------------------------------
// 19. An empty journal.

#[test]
fn an_empty_journal_is_replaced() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_file(
        dir.path(),
        "e.csv",
        &[format!(",empty@x.org,Em,Pty,empty@x.org,,{ut},active,")],
    );
    let client = fast_client(&h.url(), h.token());
    let report = dir.path().join("e.report.csv");
    let journal = Journal::path_for(&report);
    // Killed between creating the journal and writing its first line (or part of it).
    std::fs::write(&journal, "").expect("empty journal");
    let outcome = import(&input, &client, ImportOptions::new(&report)).expect("a fresh run");
    assert_eq!(outcome.counts.created, 1);
    assert!(!journal.exists());

    let input = write_file(
        dir.path(),
        "e2.csv",
        &[format!(",empty2@x.org,Em,Pty,empty2@x.org,,{ut},active,")],
    );
    std::fs::write(&journal, "{\"kind\":\"start\",\"inp").expect("cut first line");
    let outcome = import(&input, &client, resume(&report)).expect("resume of nothing");
    assert_eq!(outcome.counts.created, 1);
    assert!(!journal.exists());
}

/// `--retry-failed` on every resume: a row the server refuses stays retryable after a run, a
/// resume and a new import, each of which it fails again, and goes in once the server takes it.
#[test]
fn retry_failed_works_on_every_resume() {
    let h = sim::spawn(SimConfig::default()).expect("sim");
    let ut = user_type(&h);
    let proxy = Proxy::start(h.addr());
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_file(
        dir.path(),
        "r.csv",
        &[format!(
            ",again@x.org,Again,Refused,again@x.org,,{ut},active,"
        )],
    );
    let client = fast_client(&proxy.url, h.token());
    let report = dir.path().join("r.report.csv");
    let journal = Journal::path_for(&report);
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    proxy.set(move |line: &str| {
        if line.starts_with("POST /API/v3/users ") {
            counter.fetch_add(1, Ordering::SeqCst);
            Act::Answer(400)
        } else {
            Act::Pass
        }
    });
    let retry = || {
        let mut o = resume(&report);
        o.retry_failed = true;
        o
    };
    // The run, then two resumes with --retry-failed: each tries the row, each is refused.
    for (what, opts) in [
        ("run", ImportOptions::new(&report)),
        ("first resume", retry()),
        ("second resume", retry()),
    ] {
        let outcome = import(&input, &client, opts).expect(what);
        assert_eq!(outcome.counts.failed, 1, "{what}");
        assert_eq!(outcome.verdict, ImportVerdict::DoneWithProblems, "{what}");
        assert!(journal.exists(), "{what}: kept for --retry-failed");
    }
    assert_eq!(
        refused.load(Ordering::SeqCst),
        3,
        "sent, and sent again on each resume"
    );
    // A new import over the finished journal is not refused: it starts afresh.
    let outcome = import(&input, &client, ImportOptions::new(&report)).expect("a new import");
    assert_eq!(outcome.counts.failed, 1);
    assert_eq!(refused.load(Ordering::SeqCst), 4);
    // The server takes it now: the third resume creates the user and the journal goes.
    proxy.set(|_: &str| Act::Pass);
    let outcome = import(&input, &client, retry()).expect("third resume");
    assert_eq!(outcome.counts.created, 1, "{:?}", outcomes(&report));
    assert!(by_name(&h, "again@x.org").is_some());
    assert!(!journal.exists());
    // Done: nothing is left to resume.
    assert!(import(&input, &client, resume(&report)).is_err());
}
