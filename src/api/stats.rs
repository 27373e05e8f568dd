//! Transient errors by class, as a summary reports them: retries after 429, 5xx and network
//! errors, the share of answers that were 5xx, and a few request ids to give Qualtrics support.

use serde::Serialize;

/// Qualtrics asks customers to contact support above this share of 5xx answers.
pub const SUPPORT_5XX_SHARE: f64 = 0.04;
/// Request ids (and instance ids) kept.
const KEPT_IDS: usize = 5;

/// What the client met on the way, serialisable for a JSON summary.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TransientStats {
    /// Requests sent, retries included.
    pub requests: u64,
    pub retries_429: u64,
    pub retries_5xx: u64,
    pub retries_network: u64,
    /// Answers with a 5xx status.
    pub answers_5xx: u64,
    /// `answers_5xx / requests`.
    pub rate_5xx: f64,
    /// Request ids of some failed requests (5xx first).
    pub failing_request_ids: Vec<String>,
    /// `meta.error.instanceId` of some failed requests.
    pub instance_ids: Vec<String>,
    /// The request ceiling that applied, in words (see `Client::ceiling_description`).
    pub ceiling: String,
    /// Listings that fell back to following `nextPage` one by one, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paging_notes: Vec<String>,
}

impl TransientStats {
    pub(crate) fn keep_request_id(&mut self, id: &str) {
        if !id.is_empty()
            && self.failing_request_ids.len() < KEPT_IDS
            && !self.failing_request_ids.iter().any(|k| k == id)
        {
            self.failing_request_ids.push(id.to_string());
        }
    }

    pub(crate) fn keep_instance_id(&mut self, id: &str) {
        if !id.is_empty()
            && self.instance_ids.len() < KEPT_IDS
            && !self.instance_ids.iter().any(|k| k == id)
        {
            self.instance_ids.push(id.to_string());
        }
    }

    /// Above [`SUPPORT_5XX_SHARE`] of 5xx answers.
    pub fn asks_for_support(&self) -> bool {
        self.requests > 0 && self.rate_5xx > SUPPORT_5XX_SHARE
    }
}

/// Requests sent, by what they were for: a run summary counts list pages, detail reads and
/// writes apart (retries included in each).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    /// `GET /users` pages.
    pub list_pages: u64,
    /// `GET /users/{id}`.
    pub detail_reads: u64,
    /// Creates, updates, deletes.
    pub writes: u64,
    /// Everything else (`whoami`, divisions, token checks).
    pub other: u64,
}

/// Counters behind [`RequestCounts`], shared by a client's clones.
#[derive(Debug, Default)]
pub(crate) struct RequestCounters {
    list_pages: std::sync::atomic::AtomicU64,
    detail_reads: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
    other: std::sync::atomic::AtomicU64,
}

impl RequestCounters {
    /// Counts one request of `call` (`GET /users`, `GET /users/UR_…`, `PUT /users/UR_…`).
    pub(crate) fn count(&self, method: &reqwest::Method, call: &str) {
        use std::sync::atomic::Ordering::Relaxed;
        let path = call.split_once(' ').map_or(call, |(_, p)| p);
        let counter = if *method != reqwest::Method::GET {
            &self.writes
        } else if path == "/users" {
            &self.list_pages
        } else if path
            .strip_prefix("/users/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
        {
            &self.detail_reads
        } else {
            &self.other
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn get(&self) -> RequestCounts {
        use std::sync::atomic::Ordering::Relaxed;
        RequestCounts {
            list_pages: self.list_pages.load(Relaxed),
            detail_reads: self.detail_reads.load(Relaxed),
            writes: self.writes.load(Relaxed),
            other: self.other.load(Relaxed),
        }
    }
}
