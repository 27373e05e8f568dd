//! A tiny loopback HTTP/1.1 server for tests that need a server to behave in one precise way
//! (pages that disagree, a 409 in unfamiliar words, fresh pages without end): one request per
//! connection, every request recorded, the answer written by the test's handler. Included with
//! `#[path = "support/loopback.rs"] mod loopback;` by the tests that use it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub body: Vec<u8>,
}

impl Seen {
    /// The value of query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let url = reqwest::Url::parse(&format!("http://x{}", self.target)).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The answer a handler gives: status line (e.g. `200 OK`) and a JSON body.
pub struct Reply {
    pub status: &'static str,
    pub body: String,
}

impl Reply {
    /// `200 OK` with the API's envelope around `result`.
    pub fn ok(result: serde_json::Value) -> Reply {
        Reply {
            status: "200 OK",
            body: serde_json::json!({
                "result": result,
                "meta": {"httpStatus": "200 - OK", "requestId": "req-ok"}
            })
            .to_string(),
        }
    }

    /// An error in the API's envelope.
    pub fn error(status: &'static str, code: &str, message: &str) -> Reply {
        Reply {
            status,
            body: serde_json::json!({"meta": {
                "httpStatus": status.replacen(' ', " - ", 1),
                "requestId": "req-err",
                "error": {"errorCode": code, "errorMessage": message}
            }})
            .to_string(),
        }
    }
}

type Handler = dyn Fn(&Seen, &str) -> Reply + Send + Sync;

/// A running server.
pub struct Server {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    peak: Arc<AtomicUsize>,
}

impl Server {
    /// Serves `handler(request, own_url)`, each answer after `delay`.
    pub fn start(
        delay: Duration,
        handler: impl Fn(&Seen, &str) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let peak = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (seen, url, peak) = (seen.clone(), url.clone(), peak.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let (seen, handler, url) = (seen.clone(), handler.clone(), url.clone());
                    let (peak, in_flight) = (peak.clone(), in_flight.clone());
                    std::thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                        let Some(req) = read_request(&mut stream) else {
                            return;
                        };
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        seen.lock().expect("lock").push(req.clone());
                        let reply = handler(&req, &url);
                        std::thread::sleep(delay);
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                            reply.status,
                            reply.body.len(),
                            reply.body
                        );
                        let _ = stream.flush();
                    });
                }
            });
        }
        Server { url, seen, peak }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Requests whose method and path are these.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path() == path)
            .count()
    }

    /// The most requests the server was working on at once.
    pub fn peak_in_flight(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        target,
        body,
    })
}

/// A user as a list element carries it (the eight fields).
pub fn list_user(id: &str, username: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "divisionId": null,
        "username": username,
        "firstName": "Ann",
        "lastName": "Lee",
        "userType": "UT_BRANDADMIN",
        "email": username,
        "accountStatus": "active"
    })
}
