//! The Qualtrics v3 API client: settings (where, with which token), the JSON types, typed
//! errors, one request path with retries, and the adaptive rate controller every request
//! shares.

mod client;
mod error;
mod paging;
mod rate;
mod settings;
mod types;

pub use client::{Answer, Client, ClientOptions, Created, UserFilter, MAX_BODY_BYTES};
pub use error::{ApiError, ErrorKind};
pub use paging::{PageGuard, MAX_PAGES, MAX_STALE_PAGES};
pub use rate::{RateController, Signal, Slot};
pub use settings::{BaseUrl, Token, DATACENTERS};
pub use types::{ApiUser, Division, NewUser, RawUsers, Secret, UserUpdate, WhoAmI};
