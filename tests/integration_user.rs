//! `qusers integration-user` against the simulator: run twice, one user and one token; the
//! token file has mode 0600 and the token is never printed; an existing token is not
//! regenerated without --regenerate; --dry-run changes nothing.

use crate::support;

use qusers::sim::{self, SimConfig, SimHandle};

const TOKEN: &str = "admin-token-for-integration-0123";
const PARTNER: &str = "partner@client.com";

fn sim() -> SimHandle {
    sim::spawn(SimConfig {
        token: TOKEN.into(),
        demo_users: 5,
        ..SimConfig::default()
    })
    .expect("sim")
}

fn a_type(h: &SimHandle) -> String {
    h.with_store(|s| {
        s.user_types
            .keys()
            .find(|t| *t != "UT_BRANDADMIN")
            .cloned()
            .expect("type")
    })
}

fn run(h: &SimHandle, extra: &[&str]) -> (i32, String, String) {
    let args = [&["integration-user", "--username", PARTNER][..], extra].concat();
    support::run_on(h, &args).parts()
}

fn partner_id(h: &SimHandle) -> Option<String> {
    h.with_store(|s| s.by_username(PARTNER).map(|u| u.id.clone()))
}

#[test]
fn twice_makes_one_user_and_one_token_never_printed() {
    let h = sim();
    let t = a_type(&h);
    let dir = tempfile::tempdir().expect("tmp");
    let token_file = dir.path().join("partner.token");
    let tf = token_file.to_str().expect("utf-8");

    // A dry run first: nothing changes.
    let (code, stdout, _) = run(&h, &["--dry-run", "--user-type", &t]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("would be created"), "{stdout}");
    assert_eq!(partner_id(&h), None);
    assert!(!token_file.exists());

    let (code, stdout1, stderr1) = run(&h, &["--user-type", &t, "--token-out", tf]);
    assert_eq!(code, 0, "{stdout1}{stderr1}");
    let id = partner_id(&h).expect("created");
    let token = h
        .with_store(|s| s.api_tokens.get(&id).cloned())
        .expect("a token");
    assert!(
        h.with_store(|s| s.has_api_access(&id)),
        "API access granted"
    );
    assert_eq!(
        std::fs::read_to_string(&token_file)
            .expect("token file")
            .trim(),
        token
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(stdout1.contains(&id), "prints the user id: {stdout1}");
    assert!(stdout1.contains("Library ID") && stdout1.contains("POOL_"));
    assert!(stdout1.contains(&h.url()), "prints the base URL");

    // Again: nothing changes, the token is kept.
    let (code, stdout2, stderr2) = run(&h, &["--user-type", &t, "--token-out", tf]);
    assert_eq!(code, 0, "{stdout2}{stderr2}");
    assert!(stdout2.contains("kept, not regenerated"), "{stdout2}");
    assert!(
        stdout2.contains("break"),
        "says regenerating breaks integrations"
    );
    let partners = h.with_store(|s| {
        s.users
            .iter()
            .filter(|u| u.username.eq_ignore_ascii_case(PARTNER))
            .count()
    });
    assert_eq!(partners, 1, "one user");
    assert_eq!(
        h.with_store(|s| s.api_tokens.get(&id).cloned()).as_deref(),
        Some(token.as_str()),
        "one token, the same"
    );
    let posts: u64 = h
        .stats()
        .requests
        .iter()
        .filter(|(k, _)| k.starts_with("POST /users/{id}/apitoken"))
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(posts, 1, "one token generated");
    for text in [&stdout1, &stderr1, &stdout2, &stderr2] {
        assert!(!text.contains(&token), "the token was printed: {text}");
        assert!(!text.contains(TOKEN), "the admin token was printed");
    }
}

#[test]
fn regenerating_needs_the_flag_and_a_new_file() {
    let h = sim();
    let t = a_type(&h);
    let dir = tempfile::tempdir().expect("tmp");
    let first = dir.path().join("first.token");
    let second = dir.path().join("second.token");
    let (code, _, _) = run(
        &h,
        &["--user-type", &t, "--token-out", first.to_str().expect("p")],
    );
    assert_eq!(code, 0);
    let id = partner_id(&h).expect("user");
    let old = h
        .with_store(|s| s.api_tokens.get(&id).cloned())
        .expect("token");

    // --regenerate onto the existing file: refused before anything is sent.
    let (code, _, stderr) = run(
        &h,
        &["--regenerate", "--token-out", first.to_str().expect("p")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("never overwrites"), "{stderr}");
    assert_eq!(
        h.with_store(|s| s.api_tokens.get(&id).cloned()).as_deref(),
        Some(old.as_str())
    );

    let (code, stdout, stderr) = run(
        &h,
        &["--regenerate", "--token-out", second.to_str().expect("p")],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("old token no longer works"), "{stdout}");
    let new = h
        .with_store(|s| s.api_tokens.get(&id).cloned())
        .expect("token");
    assert_ne!(new, old);
    assert_eq!(std::fs::read_to_string(&second).expect("file").trim(), new);
    assert_eq!(
        std::fs::read_to_string(&first).expect("file").trim(),
        old,
        "untouched"
    );
    assert!(!stdout.contains(&new) && !stderr.contains(&new));
}
