//! The API client against the simulator: every endpoint, every error class, retries counted
//! on the server side, rate limiting, and exactly-once creates under faults.

use std::collections::HashSet;
use std::time::Duration;

use qusers::api::{
    ApiError, BaseUrl, Client, ClientOptions, ErrorKind, NewUser, Token, UserFilter, UserUpdate,
};
use qusers::sim::{self, SimConfig, SimHandle};
use qusers::vocab::hint::Hint as _;

fn sim(config: SimConfig) -> SimHandle {
    sim::spawn(config).expect("simulator starts")
}

fn fast_options() -> ClientOptions {
    ClientOptions {
        initial_rps: 500.0,
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(50),
        max_rps: None,
        ..ClientOptions::default()
    }
}

fn client_with(handle: &SimHandle, token: &str, opts: ClientOptions) -> Client {
    let base = BaseUrl::parse(&handle.url()).expect("loopback URL");
    Client::new(base, Token::new(token).expect("token"), opts).expect("client")
}

fn client(handle: &SimHandle) -> Client {
    client_with(handle, handle.token(), fast_options())
}

fn new_user(username: &str, user_type: &str) -> NewUser {
    NewUser {
        username: username.into(),
        password: Some(qusers::api::Secret::new("Pw-1234567890")),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        user_type: user_type.into(),
        email: username.into(),
        language: "EN".into(),
        ..Default::default()
    }
}

fn a_user_type(handle: &SimHandle) -> String {
    handle.with_store(|s| {
        s.user_types
            .keys()
            .find(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .expect("a user type")
    })
}

fn requests(handle: &SimHandle, route: &str) -> u64 {
    handle.stats().requests.get(route).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint() {
    let h = sim(SimConfig {
        demo_users: 250,
        ..SimConfig::default()
    });
    let c = client(&h);

    let me = c.whoami().await.expect("whoami");
    assert_eq!(me.user_name, sim::ADMIN_USERNAME);
    assert_eq!(me.account_type, "UT_BRANDADMIN");

    // 251 users (the admin too) in pages of 100, following nextPage to the end.
    let mut ids = HashSet::new();
    let seen = c
        .users(&UserFilter::default(), |page| {
            ids.extend(page.into_iter().map(|u| u.id))
        })
        .await
        .expect("list");
    assert_eq!((seen, ids.len()), (251, 251));
    // Three pages, the second and third asked for at once (offset paging), and at most the
    // few read ahead past the end.
    let pages = requests(&h, "GET /users");
    assert!((3..=6).contains(&pages), "{pages} requests");

    // The username filter matches loosely on the server; find_username checks exactly.
    let some = h.with_store(|s| s.users[7].clone());
    let prefix = &some.username[..some.username.find('@').expect("email-shaped")];
    let found = c
        .find_username(&some.username.to_uppercase())
        .await
        .expect("find");
    assert_eq!(found.map(|u| u.id), Some(some.id.clone()));
    assert_eq!(c.find_username(prefix).await.expect("find"), None);

    assert_eq!(
        c.get_user(&some.id).await.expect("get").username,
        some.username
    );

    let t = a_user_type(&h);
    let created = c
        .create_user(&new_user("ada@example.org", &t))
        .await
        .expect("create");
    assert!(created.value.starts_with("UR_") && created.value.len() == 18);
    assert!(!created.request_id.is_empty());

    let update = UserUpdate {
        last_name: Some("Byron".into()),
        status: Some("disabled".into()),
        ..Default::default()
    };
    c.update_user(&created.value, &update)
        .await
        .expect("update");
    let after = c.get_user(&created.value).await.expect("get");
    assert_eq!(after.last_name.as_deref(), Some("Byron"));
    assert_eq!(after.account_status.as_deref(), Some("disabled"));

    let div = h.with_store(|s| s.divisions.keys().next().cloned().expect("a division"));
    assert!(c.get_division(&div).await.expect("division").is_some());
    assert!(c
        .get_division("DV_nosuchdivision")
        .await
        .expect("division")
        .is_none());
}

async fn error_of<T: std::fmt::Debug>(
    r: impl std::future::Future<Output = Result<T, ApiError>>,
) -> ApiError {
    r.await.expect_err("an error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_class() {
    let h = sim(SimConfig {
        non_admin_token: Some("researcher-token".into()),
        ..SimConfig::default()
    });
    let c = client(&h);
    let t = a_user_type(&h);

    // Missing token: the client always sends one, so ask by hand.
    let raw = reqwest::get(format!("{}/API/v3/whoami", h.url()))
        .await
        .expect("answer");
    assert_eq!(raw.status().as_u16(), 400);
    let body: serde_json::Value = raw.json().await.expect("json");
    assert_eq!(body["meta"]["error"]["errorCode"], "ATP_2");

    let wrong = client_with(&h, "not-the-token", fast_options());
    let e = error_of(wrong.whoami()).await;
    assert_eq!(
        (e.kind, e.status, e.code.as_deref()),
        (ErrorKind::RejectedToken, Some(401), Some("DCD_7"))
    );
    assert!(e.request_id.is_some());
    assert!(e.hint().expect("hint").contains("regenerat"));

    let researcher = client_with(&h, "researcher-token", fast_options());
    researcher
        .whoami()
        .await
        .expect("whoami works for any user");
    let e = error_of(researcher.users_page(None, &UserFilter::default())).await;
    assert_eq!(e.kind, ErrorKind::NotPermitted);

    let e = error_of(c.get_user("UR_000000000000000")).await;
    assert_eq!(
        (e.kind, e.message.as_str()),
        (
            ErrorKind::NotFound,
            "The requested resource does not exist."
        )
    );

    c.create_user(&new_user("taken@example.org", &t))
        .await
        .expect("first create");
    let e = error_of(c.create_user(&new_user("TAKEN@example.org", &t))).await;
    assert_eq!(e.kind, ErrorKind::UsernameTaken);

    let e = error_of(c.create_user(&new_user("x@example.org", "UT_NoSuchType1234"))).await;
    assert_eq!((e.kind, e.status), (ErrorKind::BadRequest, Some(400)));
    assert!(e.message.contains("userType"));

    let limited = sim(SimConfig {
        rate_limit_per_min: Some(60),
        ..SimConfig::default()
    });
    let one_try = ClientOptions {
        max_attempts: 1,
        ..fast_options()
    };
    let lc = client_with(&limited, limited.token(), one_try.clone());
    let mut kinds = Vec::new();
    for _ in 0..5 {
        if let Err(e) = lc.whoami().await {
            kinds.push(e.kind);
        }
    }
    assert!(kinds.contains(&ErrorKind::RateLimited), "{kinds:?}");

    let failing = sim(SimConfig {
        fail_rate: 1.0,
        ..SimConfig::default()
    });
    let fc = client_with(
        &failing,
        failing.token(),
        ClientOptions {
            max_attempts: 2,
            ..fast_options()
        },
    );
    assert_eq!(error_of(fc.whoami()).await.kind, ErrorKind::Server);
    assert_eq!(requests(&failing, "GET /whoami"), 2, "one retry");
    // A create answered 5xx may have been applied: never retried blindly.
    let e = error_of(fc.create_user(&new_user("five@example.org", "UT_BRANDADMIN"))).await;
    assert_eq!(e.kind, ErrorKind::OutcomeUnknown);
    assert_eq!(requests(&failing, "POST /users"), 1);

    let dropping = sim(SimConfig {
        drop_rate: 1.0,
        ..SimConfig::default()
    });
    let dc = client_with(&dropping, dropping.token(), one_try);
    let e = error_of(dc.create_user(&new_user("dropped@example.org", "UT_BRANDADMIN"))).await;
    assert_eq!(e.kind, ErrorKind::OutcomeUnknown);
    assert!(
        dropping.with_store(|s| s.by_username("dropped@example.org").is_some()),
        "applied"
    );

    // Nothing listens: refused before anything was sent.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let nowhere = Client::new(
        BaseUrl::parse(&format!("http://127.0.0.1:{port}")).expect("url"),
        Token::new("t").expect("token"),
        ClientOptions {
            max_attempts: 2,
            ..fast_options()
        },
    )
    .expect("client");
    assert_eq!(error_of(nowhere.whoami()).await.kind, ErrorKind::Connect);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_what_the_server_sees() {
    let h = sim(SimConfig {
        fail_rate: 0.3,
        drop_rate: 0.1,
        seed: 7,
        ..SimConfig::default()
    });
    let c = client(&h);
    for _ in 0..60 {
        c.whoami().await.expect("retries get through");
    }
    let stats = h.stats();
    assert!(stats.failed + stats.dropped > 0);
    assert_eq!(requests(&h, "GET /whoami"), 60 + c.retries());
    assert_eq!(c.requests_sent(), 60 + c.retries());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_slows_the_client_and_the_work_finishes() {
    let h = sim(SimConfig {
        rate_limit_per_min: Some(1200), // 20 a second
        ..SimConfig::default()
    });
    let c = client_with(
        &h,
        h.token(),
        ClientOptions {
            initial_rps: 100.0,
            ..fast_options()
        },
    );
    let mut tasks = Vec::new();
    for _ in 0..120 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.whoami().await }));
    }
    for t in tasks {
        t.await
            .expect("task")
            .expect("every request finally succeeds");
    }
    assert!(h.stats().rate_limited > 0, "the limit was hit");
    assert!(
        c.rate().rate() < 100.0,
        "the client slowed down: {}",
        c.rate().rate()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_creates_under_faults_happen_exactly_once() {
    let h = sim(SimConfig {
        fail_rate: 0.2,
        drop_rate: 0.05,
        seed: 11,
        ..SimConfig::default()
    });
    let c = client(&h);
    let t = a_user_type(&h);
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let c = c.clone();
        let user = new_user(&format!("user{i}@example.org"), &t);
        tasks.push(tokio::spawn(async move { c.create_user_once(&user).await }));
    }
    let mut ids = HashSet::new();
    let mut reconciled = 0;
    for task in tasks {
        let created = task.await.expect("task").expect("created");
        reconciled += usize::from(created.reconciled);
        ids.insert(created.id);
    }
    assert_eq!(ids.len(), 1000);
    assert!(
        reconciled > 0,
        "some answers were lost and found by username"
    );
    h.with_store(|s| {
        let mut names = HashSet::new();
        for u in s.users.iter().filter(|u| u.username.starts_with("user")) {
            assert!(
                names.insert(u.username.clone()),
                "{} created twice",
                u.username
            );
            assert!(ids.contains(&u.id));
        }
        assert_eq!(names.len(), 1000);
    });
    let stats = h.stats();
    assert!(stats.failed > 0 && stats.dropped > 0);
}

#[test]
fn state_persists_between_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("sim.json");
    let config = SimConfig {
        state: Some(state.clone()),
        demo_users: 5,
        ..SimConfig::default()
    };
    let h = sim(config.clone());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let t = a_user_type(&h);
    let id = rt
        .block_on(client(&h).create_user(&new_user("kept@example.org", &t)))
        .expect("create")
        .value;
    h.stop().expect("saved");
    let again = sim(config);
    assert!(
        again.with_store(|s| s.get(&id).is_some()),
        "the user survived a restart"
    );
    assert_eq!(again.with_store(|s| s.users.len()), 7);
}
