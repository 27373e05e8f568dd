//! Simulator knobs of issue 10: an SSO brand's usernames.

use std::time::Duration;

use qusers::api::{BaseUrl, Client, ClientOptions, ErrorKind, NewUser, Token, UserFilter};
use qusers::sim::{self, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sso_brand_takes_suffixed_usernames_only() {
    let h = sim::spawn(SimConfig {
        sso_brand: Some("univ".into()),
        demo_users: 20,
        ..SimConfig::default()
    })
    .expect("sim");
    let c = Client::new(
        BaseUrl::parse(&h.url()).expect("url"),
        Token::new(h.token()).expect("token"),
        ClientOptions {
            backoff_base: Duration::from_millis(5),
            ..ClientOptions::default()
        },
    )
    .expect("client");
    let me = c.whoami().await.expect("whoami");
    assert_eq!(me.brand_id, "univ");
    let mut all = Vec::new();
    c.users(&UserFilter::default(), |p| all.extend(p))
        .await
        .expect("list");
    assert_eq!(all.len(), 21);
    assert!(all.iter().all(|u| u.username.ends_with("#univ")), "{all:?}");

    let user_type = h.with_store(|s| {
        s.user_types
            .keys()
            .find(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .expect("type")
    });
    let new = |username: &str| NewUser {
        username: username.into(),
        first_name: "Es".into(),
        last_name: "So".into(),
        user_type: user_type.clone(),
        email: "sso@univ.edu".into(),
        language: "EN".into(),
        ..Default::default()
    };
    // Not an email before the suffix: fine on an SSO brand.
    c.create_user(&new("1352432#univ")).await.expect("valid");
    c.create_user(&new("jdoe@univ.edu#univ"))
        .await
        .expect("valid");
    for bad in ["jdoe@univ.edu", "#univ", "j doe#univ", "jdoe#other"] {
        let e = c.create_user(&new(bad)).await.expect_err(bad);
        assert_eq!(e.kind, ErrorKind::BadRequest, "{bad}: {e}");
    }
}
