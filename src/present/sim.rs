//! `qusers sim` in words: where it serves, the token it accepts, and a command to try.

/// The lines `qusers sim` prints on stdout once it listens (`quiet`: no example command).
pub fn banner(addr: &std::net::SocketAddr, token: &str, quiet: bool) -> String {
    let mut s =
        format!("qusers sim: serving the Qualtrics v3 API on http://{addr}\ntoken: {token}\n");
    if !quiet {
        s.push_str(&format!(
            "try: QUALTRICS_API_TOKEN={token} qusers whoami --base-url http://{addr}\n"
        ));
    }
    s
}
