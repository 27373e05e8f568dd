//! The JSON the API speaks.

use serde::{Deserialize, Serialize};

use super::secret::Secret;

/// `GET /whoami`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WhoAmI {
    pub user_id: String,
    pub user_name: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub brand_id: String,
    pub account_type: String,
    pub language: String,
    /// The datacenter the account lives in, as the server reports it.
    pub datacenter: String,
}

/// A user as `GET /users` and `GET /users/{id}` return it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiUser {
    pub id: String,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub division_id: Option<String>,
    pub user_type: Option<String>,
    pub account_status: Option<String>,
    pub account_expiration_date: Option<String>,
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub account_creation_date: Option<String>,
    pub last_login_date: Option<String>,
}

/// `POST /users`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub username: String,
    /// Never stored, never printed; absent for SSO brands.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "Secret::serialize_exposed"
    )]
    pub password: Option<Secret>,
    pub first_name: String,
    pub last_name: String,
    pub user_type: String,
    pub email: String,
    pub language: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub division_id: Option<String>,
    /// ISO-8601 date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_expiration_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// `PUT /users/{id}`: only the fields that change.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub division_id: Option<String>,
    /// `active` or `disabled` (read back as `accountStatus`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_expiration_date: Option<String>,
}

impl UserUpdate {
    pub fn is_empty(&self) -> bool {
        *self == UserUpdate::default()
    }
}

/// `GET /divisions/{id}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Division {
    pub name: String,
    pub status: String,
}

/// The envelope around every answer.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<T> {
    pub result: Option<T>,
    #[serde(default)]
    pub meta: Meta,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Meta {
    pub http_status: String,
    pub request_id: String,
    pub error: Option<MetaError>,
    /// E.g. "Request proxied. For faster response times, use this host instead: …".
    pub notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct MetaError {
    pub error_message: String,
    pub error_code: String,
    /// Which server instance answered: Qualtrics support asks for it.
    pub instance_id: Option<String>,
}

/// A listing page of any kind: `elements` and the `nextPage` to follow verbatim.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub elements: Vec<T>,
    #[serde(default)]
    pub next_page: Option<String>,
}

/// `GET /directories`: an XM directory.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Directory {
    pub directory_id: String,
    pub name: String,
    pub contact_count: Option<u64>,
    pub is_default: Option<bool>,
}

/// `GET /libraries`: a library the user can use (`UR_…` personal, `GR_…` group).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Library {
    pub library_id: String,
    pub library_name: String,
}

/// `result` of `POST /users`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Created {
    pub id: String,
}
