//! Where the API is: the base URL, validated once, and the datacenter a host names.

use std::fmt;

use anyhow::{bail, Context};

/// Datacenter ids Qualtrics documents (current, then older names still in use).
pub const DATACENTERS: &[&str] = &[
    "yul1", "iad1", "sjc1", "fra1", "lhr1", "syd1", "sin1", "hnd1", "gov1", "az1", "co1", "ca1",
    "eu", "au1", "sg1",
];

/// The API root, e.g. `https://iad1.qualtrics.com/API/v3` (no trailing slash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    root: String,
    host: String,
}

impl BaseUrl {
    /// Accepts `https://host`, `https://host/API/v3`, and `http://` only to loopback.
    pub fn parse(input: &str) -> anyhow::Result<BaseUrl> {
        let url = reqwest::Url::parse(input.trim())
            .with_context(|| format!("`{input}` is not a URL (try https://iad1.qualtrics.com)"))?;
        let host = url
            .host_str()
            .with_context(|| format!("`{input}` has no host"))?
            .to_string();
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => bail!(
                "plain http is only allowed to this machine (127.0.0.1, localhost, [::1]); use https://{host}"
            ),
            other => bail!("`{other}:` URLs are not supported; use https://{host}"),
        }
        let mut root = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        if let Some(port) = url.port() {
            root.push_str(&format!(":{port}"));
        }
        let path = url.path().trim_end_matches('/');
        let api = if path.is_empty() || path == "/" {
            "/API/v3".to_string()
        } else if path.eq_ignore_ascii_case("/API/v3") {
            path.to_string()
        } else {
            bail!(
                "`{input}`: give the instance URL (https://iad1.qualtrics.com) or its /API/v3 root"
            );
        };
        root.push_str(&api);
        Ok(BaseUrl { root, host })
    }

    /// The URL of a datacenter id, checked against the known ids.
    pub fn for_datacenter(id: &str) -> anyhow::Result<BaseUrl> {
        let id = id.trim().to_ascii_lowercase();
        if !DATACENTERS.contains(&id.as_str()) {
            bail!(
                "unknown datacenter `{id}`; known ids: {} (Account Settings › Qualtrics IDs shows yours)",
                DATACENTERS.join(" ")
            );
        }
        BaseUrl::parse(&format!("https://{id}.qualtrics.com"))
    }

    /// `{root}/{path}` for a path like `users/UR_1`.
    pub fn join(&self, path: &str) -> String {
        format!("{}/{}", self.root, path.trim_start_matches('/'))
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    /// `scheme://host[:port]`, where `/oauth2/token` lives.
    pub fn origin(&self) -> &str {
        let after_scheme = self.root.find("://").map_or(0, |i| i + 3);
        match self.root[after_scheme..].find('/') {
            Some(i) => &self.root[..after_scheme + i],
            None => &self.root,
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The datacenter id the host names, if it names one (`iad1.qualtrics.com`,
    /// `brand.iad1.qualtrics.com`).
    pub fn datacenter(&self) -> Option<&str> {
        datacenter_of_host(&self.host)
    }

    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.host)
    }
}

/// The datacenter id a host names (`sjc1.qualtrics.com`, `brand.sjc1.qualtrics.com` → `sjc1`).
pub fn datacenter_of_host(host: &str) -> Option<&'static str> {
    let host = host.to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    if n >= 3 && labels[n - 2] == "qualtrics" && labels[n - 1] == "com" {
        DATACENTERS.iter().copied().find(|dc| *dc == labels[n - 3])
    } else {
        None
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// No target was given.
#[derive(Debug, thiserror::Error)]
#[error("no Qualtrics instance given")]
pub struct NoTarget;

impl crate::vocab::hint::Hint for NoTarget {
    fn hint(&self) -> Option<String> {
        Some("give --base-url https://YOUR-DATACENTER.qualtrics.com, or --datacenter ID (also as QUALTRICS_BASE_URL / QUALTRICS_DATACENTER), or --sim to try the built-in simulator".into())
    }
}

/// No token was given.
#[derive(Debug, thiserror::Error)]
#[error("no API token given")]
pub struct NoToken;

impl crate::vocab::hint::Hint for NoToken {
    fn hint(&self) -> Option<String> {
        Some("set QUALTRICS_API_TOKEN, or pass --token-file PATH (a file holding the token, readable only by you); the token is under Account Settings › Qualtrics IDs › API".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let b = BaseUrl::parse("https://iad1.qualtrics.com").expect("ok");
        assert_eq!(b.root(), "https://iad1.qualtrics.com/API/v3");
        assert_eq!(b.datacenter(), Some("iad1"));
        assert_eq!(b.join("users"), "https://iad1.qualtrics.com/API/v3/users");
        let b = BaseUrl::parse("https://mybrand.fra1.qualtrics.com/API/v3/").expect("ok");
        assert_eq!(b.root(), "https://mybrand.fra1.qualtrics.com/API/v3");
        assert_eq!(b.datacenter(), Some("fra1"));
        assert!(BaseUrl::parse("http://127.0.0.1:8080").is_ok());
        assert!(BaseUrl::parse("http://[::1]:8080").is_ok());
        assert!(BaseUrl::parse("http://iad1.qualtrics.com").is_err());
        assert!(BaseUrl::parse("https://iad1.qualtrics.com/other").is_err());
        assert!(BaseUrl::for_datacenter("iad1").is_ok());
        let e = BaseUrl::for_datacenter("iad2").expect_err("typo");
        assert!(e.to_string().contains("iad1"));
    }
}
