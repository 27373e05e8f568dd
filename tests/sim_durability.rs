//! `qusers sim --state` acknowledges a write only once it is durable: SIGKILLed right after
//! acknowledged creates and updates, it comes back with every one of them.

use crate::support;

use std::time::Duration;

use qusers::api::{BaseUrl, Client, ClientOptions, NewUser, Token, UserFilter, UserUpdate};
use qusers::sim::Store;
use support::SimProcess;

const TOKEN: &str = "durability-test-token-0123456789";

fn client(url: &str) -> Client {
    Client::new(
        BaseUrl::parse(url).expect("url"),
        Token::new(TOKEN).expect("token"),
        ClientOptions {
            initial_rps: 1000.0,
            concurrency: 8,
            ..ClientOptions::default()
        },
    )
    .expect("client")
}

#[test]
fn acknowledged_writes_survive_a_sigkill() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = dir.path().join("sim.json");
    let state_arg = state.to_str().expect("utf-8 path");
    let args = ["--state", state_arg, "--token", TOKEN];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    for round in 0..3 {
        let sim = SimProcess::start(&args);
        // The fresh state is on disk from the start: its user types.
        let user_type = Store::load(&state)
            .expect("state")
            .user_types
            .keys()
            .find(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .expect("a type");
        let c = client(&sim.url);
        let created: Vec<String> = rt.block_on(async {
            let mut tasks = Vec::new();
            for n in 0..40 {
                let c = c.clone();
                let username = format!("durable{round}-{n}@x.example");
                let user = NewUser {
                    username: username.clone(),
                    first_name: "Dura".into(),
                    last_name: "Ble".into(),
                    user_type: user_type.clone(),
                    email: username,
                    language: "EN".into(),
                    ..Default::default()
                };
                tasks.push(tokio::spawn(async move {
                    let id = c.create_user(&user).await.expect("acknowledged").value;
                    let disable = UserUpdate {
                        status: Some("disabled".into()),
                        ..Default::default()
                    };
                    c.update_user(&id, &disable).await.expect("acknowledged");
                    id
                }));
            }
            let mut ids = Vec::new();
            for t in tasks {
                ids.push(t.await.expect("task"));
            }
            ids
        });
        // SIGKILL at once, right after the last acknowledgement.
        drop(sim);

        let sim = SimProcess::start(&args);
        let c = client(&sim.url);
        let users = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(120), async {
                let mut all = Vec::new();
                c.users(&UserFilter::default(), |page| all.extend(page))
                    .await
                    .expect("listing");
                all
            })
            .await
            .expect("in time")
        });
        for id in &created {
            let u = users.iter().find(|u| &u.id == id);
            let u = u.unwrap_or_else(|| panic!("round {round}: acknowledged create {id} lost"));
            assert_eq!(
                u.account_status.as_deref(),
                Some("disabled"),
                "round {round}: acknowledged update of {id} lost"
            );
        }
        // No duplicates crept in through the replay.
        let mut ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), users.len());
        assert_eq!(users.len(), 1 + 40 * (round + 1));
        drop(sim);
    }
}
