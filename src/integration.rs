//! The integration user of a partner platform, end to end: find or create the dedicated user
//! (idempotent), make sure it may use the API, generate its API token only if it has none
//! (or on `regenerate`), write the token to a file created with mode 0600, and gather what
//! the partner asks for: base URL, user id, Library ID, Directory ID. The token is never
//! returned to the caller, never printed.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::Rng;
use serde::Serialize;

use crate::vocab::hint::Hint;

use crate::api::{
    datacenter_of_host, proxied_advice, AccessApi, ApiError, Client, Directory, NewUser, Secret,
    Token, UserFilter,
};

/// What to set up.
#[derive(Clone, Debug)]
pub(crate) struct IntegrationOptions {
    pub username: String,
    /// Defaults to the username.
    pub email: Option<String>,
    pub first_name: String,
    pub last_name: String,
    /// The user type for a new user (`UT_…`); not needed when the user exists.
    pub user_type: Option<String>,
    pub division_id: Option<String>,
    /// Where a new token goes (created with mode 0600; never overwritten).
    pub token_out: Option<PathBuf>,
    /// Replace an existing token (breaks every integration using it).
    pub regenerate: bool,
    /// Say what would be done; change nothing.
    pub dry_run: bool,
}

/// What happened to each part, for the summary.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    /// Already so: nothing done.
    Found,
    /// API access the user has through its user type (`state: "userType"`): left alone, no
    /// explicit permission set over it.
    ThroughUserType,
    Created,
    WouldCreate,
    Granted,
    WouldGrant,
    /// A token exists and was left alone.
    Kept,
    Generated,
    WouldGenerate,
    Regenerated,
    WouldRegenerate,
}

/// What the partner needs (no token), and what was done.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationReport {
    pub base_url: String,
    pub username: String,
    /// Empty in a dry run that would create the user.
    pub user_id: String,
    /// The personal library: the user's own id.
    pub library_id: String,
    pub directories: Vec<Directory>,
    pub user: Step,
    pub api_access: Step,
    pub token: Step,
    /// Where the token was written, when it was.
    pub token_file: Option<String>,
    pub dry_run: bool,
}

/// Why the setup stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IntegrationError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{path} exists: qusers never overwrites a token file; give a new path to --token-out")]
    TokenFileExists { path: String },
    #[error("a token would be generated but no --token-out PATH was given to write it to")]
    NoTokenOut,
    #[error("the user {username} does not exist and no --user-type UT_… was given to create it")]
    NoUserType { username: String },
    #[error("cannot write the token file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl Hint for IntegrationError {
    fn hint(&self) -> Option<String> {
        match self {
            IntegrationError::Api(e) => e.hint(),
            IntegrationError::TokenFileExists { .. } => Some("the existing file may hold the integration's current token; move it away only if you mean to replace it".into()),
            IntegrationError::NoUserType { .. } => Some("pick a standard user type id (`qusers export` shows the ones in use)".into()),
            _ => None,
        }
    }
}

/// A password nobody knows: the integration user signs in through its token only.
fn random_password() -> Secret {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let body: String = (0..24)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    Secret::new(format!("{body}-9!"))
}

/// Creates `path` for writing with mode 0600, failing if it exists.
fn create_private(path: &Path) -> Result<std::fs::File, IntegrationError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            IntegrationError::TokenFileExists {
                path: path.display().to_string(),
            }
        } else {
            IntegrationError::Write {
                path: path.display().to_string(),
                source: e,
            }
        }
    })
}

/// Writes the token into the reserved file; on failure the file is removed.
fn write_token(
    mut file: std::fs::File,
    path: &Path,
    token: &Token,
) -> Result<(), IntegrationError> {
    let result = file
        .write_all(format!("{}\n", token.expose()).as_bytes())
        .and_then(|()| file.sync_all());
    result.map_err(|e| {
        let _ = std::fs::remove_file(path);
        IntegrationError::Write {
            path: path.display().to_string(),
            source: e,
        }
    })
}

/// Runs the setup.
pub(crate) async fn setup(
    client: &Client,
    opts: &IntegrationOptions,
) -> Result<IntegrationReport, IntegrationError> {
    let dry = opts.dry_run;
    // 1. The user: found by username (exactly, any case), else created.
    let existing = client.find_username(&opts.username).await?;
    let (user_id, user_step) = match existing {
        Some(u) => (u.id, Step::Found),
        None if dry => (String::new(), Step::WouldCreate),
        None => {
            let Some(user_type) = opts.user_type.clone() else {
                return Err(IntegrationError::NoUserType {
                    username: opts.username.clone(),
                });
            };
            let new = NewUser {
                username: opts.username.clone(),
                password: Some(random_password()),
                first_name: opts.first_name.clone(),
                last_name: opts.last_name.clone(),
                user_type,
                email: opts.email.clone().unwrap_or_else(|| opts.username.clone()),
                language: "en".into(),
                division_id: opts.division_id.clone(),
                ..Default::default()
            };
            (client.create_user_once(&new).await?.id, Step::Created)
        }
    };

    // 2. API access: an inherited "on" is on, and stays inherited (an explicit "on" would
    // silently change the user's permissions).
    let access = if user_id.is_empty() {
        None
    } else {
        client.access_api(&user_id).await?
    };
    let api_step = if user_id.is_empty() {
        Step::WouldGrant
    } else if let Some(AccessApi {
        on: true,
        inherited,
    }) = access
    {
        if inherited {
            Step::ThroughUserType
        } else {
            Step::Found
        }
    } else if dry {
        Step::WouldGrant
    } else {
        client.grant_access_api(&user_id).await?;
        Step::Granted
    };

    // 3. The token: only when the user has none, or on `regenerate`.
    let has_token = if user_id.is_empty() {
        false
    } else {
        // Read only to learn whether there is one; dropped at once.
        client.user_api_token(&user_id).await?.is_some()
    };
    let (token_step, token_file) = match (has_token, opts.regenerate, dry) {
        (true, false, _) => (Step::Kept, None),
        (true, true, true) => (Step::WouldRegenerate, None),
        (false, _, true) => (Step::WouldGenerate, None),
        (_, _, false) => {
            let path = opts
                .token_out
                .as_ref()
                .ok_or(IntegrationError::NoTokenOut)?;
            // The file is reserved before the token exists: no token is made that cannot
            // be stored.
            let file = create_private(path)?;
            match client.create_user_api_token(&user_id).await {
                Ok(token) => write_token(file, path, &token)?,
                Err(e) => {
                    drop(file);
                    let _ = std::fs::remove_file(path);
                    return Err(e.into());
                }
            }
            (
                if has_token {
                    Step::Regenerated
                } else {
                    Step::Generated
                },
                Some(path.display().to_string()),
            )
        }
    };

    // 4. What the partner asks for.
    let directories = client.directories().await?;
    Ok(IntegrationReport {
        base_url: client.base().root().to_string(),
        username: opts.username.clone(),
        library_id: user_id.clone(),
        user_id,
        directories,
        user: user_step,
        api_access: api_step,
        token: token_step,
        token_file,
        dry_run: dry,
    })
}
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Datacenter {
    /// What `GET /whoami` reports.
    pub reported: Option<String>,
    /// What the base URL's host names.
    pub in_host: Option<String>,
    /// The server answered directly (no proxy notice) and, where both are known, they agree.
    pub verified: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Proxied {
    pub use_host: String,
    pub flag: String,
    pub advice: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdName {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub base_url: String,
    pub datacenter: Datacenter,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxied: Option<Proxied>,
    pub simulator: bool,
    pub credentials: String,
    pub user_id: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub brand_id: String,
    pub account_type: String,
    /// The personal library's id is the user's own id.
    pub personal_library_id: String,
    pub group_library_ids: Vec<IdName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub libraries_error: Option<String>,
    pub directory_ids: Vec<IdName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directories_error: Option<String>,
    pub can_use_api: bool,
    pub can_manage_users: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manage_users_error: Option<String>,
}

/// What `whoami` shows: the account behind the credentials and the ids a partner integration
/// asks for, each call's failure kept beside what it would have given.
pub(crate) async fn gather(client: &Client, simulator: bool) -> Result<Identity, ApiError> {
    let me = client.whoami().await?;
    // The brand-admin check: one page of users.
    let listing = client.users_page(None, &UserFilter::default()).await;
    let libraries = client.libraries().await;
    let directories = client.directories().await;
    let reported = Some(me.datacenter.trim().to_ascii_lowercase()).filter(|d| !d.is_empty());
    let in_host = client.base().datacenter().map(String::from);
    let proxied = client.proxied_host().map(|host| {
        let flag = match datacenter_of_host(&host) {
            Some(dc) => format!("--datacenter {dc}"),
            None => format!("--base-url https://{host}"),
        };
        Proxied {
            advice: proxied_advice(client.base().host(), &host),
            use_host: host,
            flag,
        }
    });
    let verified = proxied.is_none()
        && match (&reported, &in_host) {
            (Some(r), Some(h)) => r == h,
            _ => true,
        };
    let (group_library_ids, libraries_error) = match libraries {
        Ok(libs) => (
            libs.into_iter()
                .filter(|l| l.library_id.starts_with("GR_"))
                .map(|l| IdName {
                    id: l.library_id,
                    name: l.library_name,
                    is_default: None,
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let (directory_ids, directories_error) = match directories {
        Ok(dirs) => (
            dirs.into_iter()
                .map(|d| IdName {
                    id: d.directory_id,
                    name: d.name,
                    is_default: d.is_default,
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Ok(Identity {
        base_url: client.base().root().to_string(),
        datacenter: Datacenter {
            reported,
            in_host,
            verified,
        },
        proxied,
        simulator,
        credentials: client.credentials().describe(),
        personal_library_id: me.user_id.clone(),
        user_id: me.user_id,
        username: me.user_name,
        first_name: me.first_name,
        last_name: me.last_name,
        brand_id: me.brand_id,
        account_type: me.account_type,
        group_library_ids,
        libraries_error,
        directory_ids,
        directories_error,
        can_use_api: true,
        can_manage_users: listing.is_ok(),
        manage_users_error: listing.err().map(|e| e.to_string()),
    })
}
