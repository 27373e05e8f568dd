//! Headless Chromium for the HTML report tests: find it, dump a page's DOM after its scripts
//! ran, read an element's text. Included by the browser tests with `#[path]`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("QUSERS_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
        Some(PathBuf::from("/usr/bin/chromium-browser")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        let msg = "chromium not found (/usr/bin/chromium, or set QUSERS_CHROMIUM): \
                   install it with `apt-get install -y chromium`";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}; CI=true, so the browser test may not be skipped");
        }
        eprintln!("\n!!!!!!!!!! SKIPPED: {msg} !!!!!!!!!!\n");
    }
    found
}

/// Loads `page` in headless Chromium and returns the DOM after its scripts ran.
pub fn dump_dom(chrome: &Path, page: &Path, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("chromium starts");
    // Read both pipes on threads (a big DOM would fill a pipe nobody reads), until every
    // process holding them, the browser's helpers included, has closed them.
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let mut stderr = child.stderr.take().expect("stderr pipe");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    // Generous: a loaded 2-core machine can take a while to start a browser.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 180 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = out.join().expect("stdout reader");
    let err = err.join().expect("stderr reader");
    assert!(
        status.success() && dom.contains("</html>"),
        "chromium failed ({status}), DOM of {} bytes: {err}",
        dom.len()
    );
    dom
}

/// The text inside the element with `id="…"`, tags stripped.
pub fn text_of(dom: &str, id: &str) -> String {
    let key = format!("id=\"{id}\"");
    let at = dom
        .find(&key)
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let open_end = at + dom[at..].find('>').expect("tag end") + 1;
    let tag_start = dom[..at].rfind('<').expect("tag start");
    let tag_name: String = dom[tag_start + 1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let close = format!("</{tag_name}>");
    let end = open_end + dom[open_end..].find(&close).expect("closing tag");
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom[open_end..end].chars() {
        match c {
            '<' => {
                in_tag = true;
                // A tag separates words, as the boxes and cells on screen do.
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
