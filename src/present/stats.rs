//! The API's statistics in words: the retries and 5xx line with Qualtrics' support advice,
//! and the requests by kind, as every run summary prints them. The counts themselves are
//! gathered in `api::stats`.

use std::fmt::Write as _;

use crate::api::{RequestCounts, TransientStats, SUPPORT_5XX_SHARE};
use crate::numfmt::count;

impl TransientStats {
    /// `retries: 3 after 429, 1 after 5xx, 0 after network errors; 5xx 0.8 % of 120
    /// requests`, and the support advice when it applies; then, on lines of their own
    /// (indented by two spaces), the requests by kind, the ceiling, and any paging note.
    pub fn render_line(&self) -> String {
        let mut s = format!(
            "retries: {} after 429, {} after 5xx, {} after network errors; 5xx {:.1} % of {} requests",
            count(self.retries_429),
            count(self.retries_5xx),
            count(self.retries_network),
            self.rate_5xx * 100.0,
            count(self.requests)
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
        if !self.ceiling.is_empty() {
            let _ = write!(s, "\n  request ceiling: {}", self.ceiling);
        }
        for n in &self.paging_notes {
            let _ = write!(s, "\n  paging: {n}");
        }
        s
    }
}

impl RequestCounts {
    /// `requests: 3 list pages, 120 detail reads, 40 writes, 2 other`.
    pub fn render_line(&self) -> String {
        format!(
            "requests: {} list pages, {} detail reads, {} writes, {} other",
            count(self.list_pages),
            count(self.detail_reads),
            count(self.writes),
            count(self.other)
        )
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
