//! The Qualtrics v3 API client: the endpoint (where, with which token), the JSON types, typed
//! errors, one request path with retries, and the adaptive rate controller every request
//! shares.

mod auth;
mod client;
mod endpoint;
mod error;
mod paging;
mod rate;
mod secret;
mod stats;
mod types;
mod wire;

pub use auth::{Credentials, OAuthClient};
pub use client::{
    ensure_direct, proxied_advice, proxied_notice_host, AccessApi, Answer, Client, ClientOptions,
    Created, UserFilter, MAX_BODY_BYTES, READ_AHEAD,
};
pub use endpoint::{datacenter_of_host, BaseUrl, NoTarget, NoToken, DATACENTERS};
pub use error::{ApiError, ErrorKind};
pub use paging::{OffsetChain, PageGuard, MAX_LISTED_USERS, MAX_PAGES, MAX_STALE_PAGES};
pub use rate::{
    RateController, Signal, Slot, BRAND_LIMIT_PER_MINUTE, DEFAULT_MAX_RPS, DEFAULT_SHARE,
};
pub use secret::{ClientSecret, Secret, Token};
pub use stats::{RequestCounts, TransientStats, SUPPORT_5XX_SHARE};
pub use types::{ApiUser, Directory, Division, Library, NewUser, UserUpdate, WhoAmI};
pub use wire::{
    is_record_id, is_server_user_id, read_date, wire_language, write_date, DATE_TIME_OF_DAY,
};
