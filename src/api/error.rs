//! Typed API errors: classified by the server's `errorCode` first, then by HTTP status. Each
//! keeps the server's message and request id; none ever carries the token.

use std::fmt;

/// What went wrong, as far as what to do about it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No token was sent (`ATP_2`).
    MissingToken,
    /// The token was refused (`DCD_7`, 401): wrong, regenerated, or the wrong datacenter.
    RejectedToken,
    /// 403: not a brand admin, no API access, or another division.
    NotPermitted,
    NotFound,
    /// A create whose username exists: a 409, a 400 whose message says so, or a 400 for a
    /// username a look-up finds in the brand (see `Client::create_user`).
    UsernameTaken,
    /// Another 400: the server's message says what.
    BadRequest,
    /// 429.
    RateLimited,
    /// 5xx.
    Server,
    /// Nothing reached the server (connection refused, DNS).
    Connect,
    /// A timeout or a connection lost after the request went out.
    Network,
    /// A create that may or may not have happened: to be reconciled, never retried blindly.
    OutcomeUnknown,
    /// An answer that is not the API's JSON.
    Protocol,
    /// The server proxies this host to the account's datacenter: writes would fail.
    Proxied,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::MissingToken => "no API token was sent",
            ErrorKind::RejectedToken => "the API token was rejected",
            ErrorKind::NotPermitted => "not permitted",
            ErrorKind::NotFound => "not found",
            ErrorKind::UsernameTaken => "the username is already taken",
            ErrorKind::BadRequest => "the request was refused",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Server => "server error",
            ErrorKind::Connect => "cannot connect",
            ErrorKind::Network => "the connection failed",
            ErrorKind::OutcomeUnknown => "the outcome is unknown",
            ErrorKind::Protocol => "unexpected answer",
            ErrorKind::Proxied => "wrong datacenter (the request was proxied)",
        }
    }

    /// Worth another try for a request that may be repeated.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited | ErrorKind::Server | ErrorKind::Connect | ErrorKind::Network
        )
    }
}

/// An API call that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    /// What was asked, e.g. `POST /users`.
    pub call: String,
    pub status: Option<u16>,
    pub code: Option<String>,
    /// The server's `errorMessage`, or what the client saw.
    pub message: String,
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, call: &str, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            call: call.to_string(),
            status: None,
            code: None,
            message: message.into(),
            request_id: None,
        }
    }

    /// Classifies an error answer: `errorCode` first, then the status.
    pub fn from_answer(
        call: &str,
        status: u16,
        code: Option<String>,
        message: String,
        request_id: Option<String>,
    ) -> Self {
        let kind = match code.as_deref() {
            Some("ATP_2") => ErrorKind::MissingToken,
            Some("DCD_7") => ErrorKind::RejectedToken,
            _ => match status {
                401 => ErrorKind::RejectedToken,
                403 => ErrorKind::NotPermitted,
                404 => ErrorKind::NotFound,
                429 => ErrorKind::RateLimited,
                500..=599 => ErrorKind::Server,
                // A conflict on a create can only be its username: whatever the wording.
                409 if call == "POST /users" => ErrorKind::UsernameTaken,
                400 if call == "POST /users" && mentions_taken_username(&message) => {
                    ErrorKind::UsernameTaken
                }
                _ => ErrorKind::BadRequest,
            },
        };
        ApiError {
            kind,
            call: call.to_string(),
            status: Some(status),
            code,
            message,
            request_id,
        }
    }
}

impl crate::vocab::hint::Hint for ApiError {
    fn hint(&self) -> Option<String> {
        Some(match self.kind {
            ErrorKind::MissingToken => {
                "set QUALTRICS_API_TOKEN, or pass --token-file PATH (a file holding the token)".into()
            }
            ErrorKind::RejectedToken => "regenerating a token invalidates the old one at once, and every integration that used it breaks: copy the current token from Account Settings › Qualtrics IDs › API, set it in QUALTRICS_API_TOKEN or your --token-file, and update each integration; a wrong datacenter (--base-url/--datacenter) looks the same".into(),
            ErrorKind::NotPermitted => "this needs a Brand Administrator whose user type has the Access API permission; a Division Admin may only manage users of their own division".into(),
            ErrorKind::RateLimited => "the API limits requests per token: lower --max-rps or --concurrency, or try later".into(),
            ErrorKind::Connect | ErrorKind::Network => "check the URL and the network; `qusers whoami` tests the connection".into(),
            ErrorKind::Server => "Qualtrics had a problem: try again later; the request id helps Qualtrics support".into(),
            ErrorKind::Proxied => "use the host the server names (the flag above); --allow-proxied goes on anyway, but writes through a proxied host fail".into(),
            _ => return None,
        })
    }
}

/// Whether a refusal's message says the username is taken, in any of the wordings seen or
/// likely ("Username already exists", "user name is not available", "login in use").
fn mentions_taken_username(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["username", "user name", "user-name", "login", "userid"]
        .iter()
        .any(|w| m.contains(w))
        && [
            "taken",
            "exist",
            "already",
            "in use",
            "unique",
            "duplicate",
            "not available",
            "unavailable",
            "registered",
        ]
        .iter()
        .any(|w| m.contains(w))
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.call, self.kind.describe())?;
        match (self.status, &self.code) {
            (Some(s), Some(c)) => write!(f, " (HTTP {s}, {c})")?,
            (Some(s), None) => write!(f, " (HTTP {s})")?,
            _ => {}
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let e = |call, status, code: Option<&str>, msg: &str| {
            ApiError::from_answer(call, status, code.map(String::from), msg.into(), None).kind
        };
        assert_eq!(
            e("GET /whoami", 400, Some("ATP_2"), ""),
            ErrorKind::MissingToken
        );
        assert_eq!(
            e("GET /whoami", 401, Some("DCD_7"), ""),
            ErrorKind::RejectedToken
        );
        assert_eq!(e("GET /whoami", 401, None, ""), ErrorKind::RejectedToken);
        assert_eq!(e("GET /users", 403, None, ""), ErrorKind::NotPermitted);
        assert_eq!(
            e("POST /users", 400, None, "Username already exists"),
            ErrorKind::UsernameTaken
        );
        assert_eq!(
            e("POST /users", 400, None, "Invalid userType"),
            ErrorKind::BadRequest
        );
        assert_eq!(
            e("POST /users", 409, None, "Conflict: resource state"),
            ErrorKind::UsernameTaken
        );
        assert_eq!(
            e("POST /users", 400, None, "The user name is not available"),
            ErrorKind::UsernameTaken
        );
        assert_eq!(e("PUT /users/UR_1", 409, None, ""), ErrorKind::BadRequest);
        assert_eq!(e("PUT /users/UR_1", 429, None, ""), ErrorKind::RateLimited);
        assert_eq!(e("GET /users", 503, None, ""), ErrorKind::Server);
    }
}
