//! The Qualtrics v3 API client: settings (where, with which token), the JSON types, typed
//! errors, one request path with retries, and the adaptive rate controller every request
//! shares.

mod auth;
mod client;
mod error;
mod paging;
mod rate;
mod settings;
mod stats;
mod types;

pub use auth::{ClientSecret, Credentials, OAuthClient};
pub use client::{
    ensure_direct, proxied_advice, proxied_notice_host, Answer, Client, ClientOptions, Created,
    UserFilter, MAX_BODY_BYTES,
};
pub use error::{ApiError, ErrorKind};
pub use paging::{PageGuard, MAX_PAGES, MAX_STALE_PAGES};
pub use rate::{RateController, Signal, Slot};
pub use settings::{datacenter_of_host, BaseUrl, Token, DATACENTERS};
pub use stats::{RequestCounts, TransientStats, SUPPORT_5XX_SHARE};
pub use types::{
    ApiUser, Directory, Division, Library, NewUser, RawUsers, Secret, UserUpdate, WhoAmI,
};
