//! Transient errors by class, as a summary reports them: retries after 429, 5xx and network
//! errors, the share of answers that were 5xx, and a few request ids to give Qualtrics support.

use std::fmt::Write as _;

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
    /// Requests by kind (retries included): listing pages, single-record reads
    /// (`GET /users/{id}`), writes (creates and updates).
    pub list_pages: u64,
    pub record_reads: u64,
    pub writes: u64,
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

    /// `retries: 3 after 429, 1 after 5xx, 0 after network errors; 5xx 0.8 % of 120
    /// requests`, and the support advice when it applies; then, on lines of their own
    /// (indented by two spaces), the requests by kind, the ceiling, and any paging note.
    pub fn render_line(&self) -> String {
        let mut s = format!(
            "retries: {} after 429, {} after 5xx, {} after network errors; 5xx {:.1} % of {} requests",
            crate::numfmt::count(self.retries_429),
            crate::numfmt::count(self.retries_5xx),
            crate::numfmt::count(self.retries_network),
            self.rate_5xx * 100.0,
            crate::numfmt::count(self.requests)
        );
        if self.asks_for_support() {
            let _ = write!(
                s,
                "; above {:.0} % Qualtrics asks customers to contact support",
                SUPPORT_5XX_SHARE * 100.0
            );
            if !self.failing_request_ids.is_empty() {
                let _ = write!(
                    s,
                    ", giving these request ids: {}",
                    self.failing_request_ids.join(", ")
                );
            }
            if !self.instance_ids.is_empty() {
                let _ = write!(s, " (instance ids {})", self.instance_ids.join(", "));
            }
        }
        let _ = write!(
            s,
            "\n  requests: {} list pages, {} record reads, {} writes",
            crate::numfmt::count(self.list_pages),
            crate::numfmt::count(self.record_reads),
            crate::numfmt::count(self.writes)
        );
        if !self.ceiling.is_empty() {
            let _ = write!(s, "\n  request ceiling: {}", self.ceiling);
        }
        for n in &self.paging_notes {
            let _ = write!(s, "\n  paging: {n}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_advice_above_four_percent() {
        let mut s = TransientStats {
            requests: 100,
            answers_5xx: 3,
            rate_5xx: 0.03,
            ..Default::default()
        };
        assert!(!s.render_line().contains("support"));
        s.answers_5xx = 5;
        s.rate_5xx = 0.05;
        s.keep_request_id("req-1");
        s.keep_request_id("req-1");
        s.keep_instance_id("inst-9");
        let line = s.render_line();
        assert!(line.contains("contact support"), "{line}");
        assert!(line.contains("req-1") && line.contains("inst-9"), "{line}");
        assert_eq!(s.failing_request_ids.len(), 1);
    }
}
