//! One adaptive controller shared by every request: a pacing rate (never above `--max-rps`) and
//! a limit on the requests in flight (never above `--concurrency`), both found like TCP finds
//! its window: additive increase, multiplicative decrease.
//!
//! Answers are judged by window (at least [`MIN_WINDOW_ANSWERS`] answers and two round trips):
//! a window whose share of 429s is [`CONGESTED_MARGIN`] above the share that does not depend on
//! the pace (the least share of the last few windows) is a congestion signal; at most one cut
//! per window. With every place in flight taken, the first cut is of the in-flight limit
//! alone (the server may limit concurrency); a second congested window in a row cuts the rate
//! too (to what the server accepted). A server that refuses a fixed share of requests whatever
//! the pace (every 7th write, say) soon shows that share in every window, so its 429s are
//! retried without slowing anything down. Until the first rate cut requests are paced at the
//! ceiling only.
//!
//! The ceiling is a polite share of the brand's limit: Qualtrics' 3,000 requests a minute are
//! shared by every integration of the brand, so by default qusers keeps to 70 % of it
//! ([`DEFAULT_MAX_RPS`], 35 requests/s) and never starts more than 60 × the ceiling requests in
//! any rolling minute (2,100 by default). Listing pages may go out in a short burst above the
//! steady pace ([`RateController::acquire_burst`]), inside that minute's budget.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The lowest rate the controller goes down to, requests per second.
const MIN_RPS: f64 = 0.5;
/// The brand's documented limit, requests a minute, shared by all its integrations.
pub const BRAND_LIMIT_PER_MINUTE: u32 = 3_000;
/// The share of the brand's limit qusers keeps to by default.
pub const DEFAULT_SHARE: f64 = 0.7;
/// The default ceiling: 70 % of 3,000 a minute, 35 requests a second.
pub const DEFAULT_MAX_RPS: f64 = BRAND_LIMIT_PER_MINUTE as f64 / 60.0 * DEFAULT_SHARE;
/// The rolling window of the budget.
const BUDGET_WINDOW: Duration = Duration::from_secs(60);
/// Additive increase per second of clean windows, requests per second (at least).
const CREEP_PER_SECOND: f64 = 2.0;
/// Or this share of the rate per second, when larger.
const CREEP_SHARE_PER_SECOND: f64 = 0.05;
/// The multiplicative decrease of the rate on congestion.
const RATE_CUT: f64 = 0.8;
/// The multiplicative decrease of the in-flight limit on congestion.
const LIMIT_CUT: f64 = 0.75;
/// A window is congested when its share of 429s is this much above the share of 429s that do
/// not come from the pace (the least share of the last [`BASELINE_WINDOWS`] windows).
pub(crate) const CONGESTED_MARGIN: f64 = 0.1;
const BASELINE_WINDOWS: usize = 4;
/// Answers a window needs before it is judged (unless it has lasted [`MAX_WINDOW`]).
pub(crate) const MIN_WINDOW_ANSWERS: u32 = 20;
/// Clean windows between two probes of one more place in flight, once a limit was met.
const PROBE_EVERY: u32 = 4;
const MIN_WINDOW: Duration = Duration::from_millis(250);
const MAX_WINDOW: Duration = Duration::from_secs(2);

/// What became of one request, as far as pacing goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// An answer the server accepted (any 2xx, or a refusal of the request's content).
    Success,
    /// 429.
    Throttled,
    /// Anything else (5xx, network): says nothing about the pace.
    Other,
}

struct State {
    rate: f64,
    /// No congestion yet: nothing is paced.
    starting: bool,
    limit: usize,
    in_flight: usize,
    /// The most requests in flight during this window.
    peak: usize,
    window_start: Instant,
    ok: u32,
    throttled: u32,
    /// Smoothed round trip, seconds.
    srtt: Option<f64>,
    next_slot: Instant,
    cuts: u64,
    /// The last window was congested too.
    congested_before: bool,
    /// Clean windows since the in-flight limit last changed.
    clean_since_cut: u32,
    /// Shares of 429s of the last windows: their least is the share the pace does not cause.
    recent_shares: VecDeque<f64>,
    /// Start times of the requests of the last minute (with a budget).
    started: VecDeque<Instant>,
}

/// Paces requests and bounds those in flight.
pub struct RateController {
    state: Mutex<State>,
    max_rps: f64,
    /// Requests any rolling minute may start: 60 × the ceiling, when there is one.
    budget: Option<usize>,
    /// The budget's window: a minute (shorter in unit tests).
    window: Duration,
    max_limit: usize,
    freed: Notify,
}

/// A place among the requests in flight; give it back with [`Slot::done`].
pub struct Slot<'a> {
    rc: &'a RateController,
    started: Instant,
    signal: Option<Signal>,
    /// Holds a place among those in flight (a burst request does not).
    placed: bool,
}

impl Slot<'_> {
    /// The request is over: frees the place and feeds the controller.
    pub fn done(mut self, signal: Signal) {
        self.signal = Some(signal);
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let signal = self.signal.unwrap_or(Signal::Other);
        self.rc.finish(self.started.elapsed(), signal, self.placed);
    }
}

impl RateController {
    /// `initial_rps` is where pacing would start; `max_rps` the ceiling if any; `concurrency`
    /// the most requests in flight (the limit starts there and adapts below it).
    pub fn new(initial_rps: f64, max_rps: Option<f64>, concurrency: usize) -> Self {
        Self::with_window(initial_rps, max_rps, concurrency, BUDGET_WINDOW)
    }

    fn with_window(
        initial_rps: f64,
        max_rps: Option<f64>,
        concurrency: usize,
        window: Duration,
    ) -> Self {
        let max = max_rps.unwrap_or(f64::INFINITY).max(MIN_RPS);
        // A hair under the product: float rounding never gives one request too many.
        let budget = max
            .is_finite()
            .then(|| ((max * window.as_secs_f64() + 1e-6).floor() as usize).max(1));
        let now = Instant::now();
        let concurrency = concurrency.max(1);
        RateController {
            state: Mutex::new(State {
                rate: initial_rps.clamp(MIN_RPS, max),
                starting: true,
                limit: concurrency,
                in_flight: 0,
                peak: 0,
                window_start: now,
                ok: 0,
                throttled: 0,
                srtt: None,
                next_slot: now,
                cuts: 0,
                congested_before: false,
                clean_since_cut: 0,
                recent_shares: VecDeque::new(),
                started: VecDeque::new(),
            }),
            max_rps: max,
            budget,
            window,
            max_limit: concurrency,
            freed: Notify::new(),
        }
    }

    /// Waits for a slot: the paced start time, then a free place among those in flight (so
    /// that a request waiting for its time takes no place, and the places taken are the
    /// requests the server is working on).
    pub async fn acquire(&self) -> Slot<'_> {
        let wait = {
            let mut s = self.lock();
            let pace = if s.starting { self.max_rps } else { s.rate };
            if pace.is_infinite() {
                Duration::ZERO
            } else {
                let now = Instant::now();
                // Idle time does not bank a burst: at most a fraction of a second of credit.
                let floor = now - Duration::from_secs_f64((0.25f64).min(1.0 / pace));
                let at = s.next_slot.max(floor);
                s.next_slot = at + Duration::from_secs_f64(1.0 / pace);
                at.saturating_duration_since(now)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.within_budget().await;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut s = self.lock();
                if s.in_flight < s.limit {
                    s.in_flight += 1;
                    s.peak = s.peak.max(s.in_flight);
                    break;
                }
            }
            freed.await;
        }
        Slot {
            rc: self,
            started: Instant::now(),
            signal: None,
            placed: true,
        }
    }

    /// A slot for one of a burst of reads (a listing's pages read ahead, bounded by the
    /// caller): not held to the steady pace nor to a place in flight, only to the rolling
    /// minute's budget. Its answer still feeds the controller, and while the controller
    /// backs off (after 429s) it waits for the pace like any request.
    pub async fn acquire_burst(&self) -> Slot<'_> {
        if !self.lock().starting {
            return self.acquire().await;
        }
        self.within_budget().await;
        Slot {
            rc: self,
            started: Instant::now(),
            signal: None,
            placed: false,
        }
    }

    /// Waits until one more request fits in the rolling minute's budget, and counts it.
    async fn within_budget(&self) {
        let Some(budget) = self.budget else {
            return;
        };
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                while s
                    .started
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    s.started.pop_front();
                }
                if s.started.len() < budget {
                    s.started.push_back(now);
                    return;
                }
                s.started.front().map_or(Duration::ZERO, |t| {
                    self.window.saturating_sub(now.duration_since(*t))
                })
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// The ceiling, requests per second (infinite when none was set).
    pub fn ceiling(&self) -> f64 {
        self.max_rps
    }

    /// Requests any rolling minute may start, when there is a ceiling.
    pub fn minute_budget(&self) -> Option<usize> {
        self.budget
    }

    /// A request succeeded (for callers that do not hold a [`Slot`]).
    #[cfg(test)]
    fn on_success(&self) {
        self.record(None, Signal::Success);
    }

    /// A 429 (for callers that do not hold a [`Slot`]).
    #[cfg(test)]
    fn on_throttle(&self) {
        self.record(None, Signal::Throttled);
    }

    fn finish(&self, rtt: Duration, signal: Signal, placed: bool) {
        if placed {
            {
                let mut s = self.lock();
                s.in_flight = s.in_flight.saturating_sub(1);
            }
            self.freed.notify_one();
        }
        self.record(Some(rtt), signal);
    }

    fn record(&self, rtt: Option<Duration>, signal: Signal) {
        let mut s = self.lock();
        if let (Some(rtt), Signal::Success | Signal::Throttled) = (rtt, signal) {
            let r = rtt.as_secs_f64();
            s.srtt = Some(s.srtt.map_or(r, |old| 0.875 * old + 0.125 * r));
        }
        match signal {
            Signal::Success => s.ok += 1,
            Signal::Throttled => s.throttled += 1,
            Signal::Other => {}
        }
        let now = Instant::now();
        let span = now.duration_since(s.window_start);
        let answers = s.ok + s.throttled;
        let min_span = MIN_WINDOW.max(Duration::from_secs_f64(2.0 * s.srtt.unwrap_or(0.0)));
        let full = (answers >= MIN_WINDOW_ANSWERS && span >= min_span)
            || (span >= MAX_WINDOW.max(min_span) && answers > 0);
        if !full {
            return;
        }
        let secs = span.as_secs_f64();
        let share = f64::from(s.throttled) / f64::from(answers);
        let accepted = f64::from(s.ok) / secs;
        let offered = f64::from(answers) / secs;
        let limit_reached = s.peak >= s.limit;
        let baseline = if s.recent_shares.len() >= BASELINE_WINDOWS {
            s.recent_shares
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
        } else {
            0.0
        };
        if s.recent_shares.len() == BASELINE_WINDOWS {
            s.recent_shares.pop_front();
        }
        s.recent_shares.push_back(share);
        if s.throttled >= 2 && share > baseline + CONGESTED_MARGIN {
            // Congestion: one cut for the whole window.
            s.cuts += 1;
            if limit_reached {
                // To about what the server took in flight (the share it refused off), by one at
                // least and by half at most.
                let took = (s.limit as f64 * (1.0 - share)).floor() as usize;
                let most = s.limit.saturating_sub(1).max(1);
                let least = ((s.limit as f64 * LIMIT_CUT * 0.67) as usize).max(1);
                s.limit = took.clamp(least.min(most), most);
                s.clean_since_cut = 0;
            }
            // With every place in flight taken, the limit may be one on concurrency: the
            // first cut is of the in-flight limit alone; a second window in a row cuts the
            // rate too.
            let rate_too = !limit_reached || s.congested_before;
            s.congested_before = true;
            if !rate_too {
                s.window_start = now;
                s.ok = 0;
                s.throttled = 0;
                s.peak = s.in_flight;
                return;
            }
            s.rate = if s.starting {
                (accepted * 0.9).max(MIN_RPS)
            } else {
                (s.rate * RATE_CUT)
                    .min(accepted.max(s.rate * 0.5))
                    .max(MIN_RPS)
            }
            .min(self.max_rps);
            s.starting = false;
            s.next_slot = s.next_slot.max(now);
        } else {
            s.congested_before = false;
            // Clean: grow, where the bound was what held the requests back.
            if !s.starting && offered >= 0.7 * s.rate {
                let step = CREEP_PER_SECOND.max(s.rate * CREEP_SHARE_PER_SECOND) * secs;
                s.rate = (s.rate + step).min(self.max_rps);
            }
            s.clean_since_cut += 1;
            // Probing for more places: at once while none was ever refused, then one more
            // every few clean windows (each probe above the limit costs some refusals).
            let probe = s.cuts == 0 || s.clean_since_cut >= PROBE_EVERY;
            if limit_reached && probe && s.limit < self.max_limit {
                s.clean_since_cut = 0;
                s.limit += 1;
                drop(s);
                self.freed.notify_one();
                s = self.lock();
            }
        }
        s.window_start = now;
        s.ok = 0;
        s.throttled = 0;
        s.peak = s.in_flight;
    }

    /// The current pacing rate, requests per second (the ceiling until the first congestion;
    /// infinite when there is none).
    pub fn rate(&self) -> f64 {
        let s = self.lock();
        if s.starting {
            self.max_rps
        } else {
            s.rate
        }
    }

    /// The current limit on requests in flight.
    pub fn concurrency_limit(&self) -> usize {
        self.lock().limit
    }

    /// Congestion signals acted on so far.
    pub fn cuts(&self) -> u64 {
        self.lock().cuts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the numbers inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `n` answers of which every `every`-th is a 429, a window per 20 answers.
    fn feed(r: &RateController, n: u32, every: u32) {
        for k in 1..=n {
            // Windows need time to pass.
            if k % MIN_WINDOW_ANSWERS == 0 {
                let mut s = r.lock();
                s.window_start -= MAX_WINDOW;
            }
            if k % every == 0 {
                r.on_throttle();
            } else {
                r.on_success();
            }
        }
    }

    #[test]
    fn a_fixed_share_of_429s_is_learnt_and_does_not_ratchet() {
        let r = RateController::new(10.0, None, 10);
        r.lock().starting = false;
        r.lock().rate = 100.0;
        feed(&r, 200, 7);
        let learnt = r.cuts();
        assert!(learnt <= 4, "a few cuts while learning: {learnt}");
        feed(&r, 20_000, 7);
        assert_eq!(r.cuts(), learnt, "no cut once the share is known");
    }

    #[test]
    fn a_high_share_cuts_once_per_window_and_creeps_back() {
        let r = RateController::new(10.0, Some(40.0), 10);
        r.lock().starting = false;
        r.lock().rate = 40.0;
        // Half refused, in one window: one cut.
        feed(&r, MIN_WINDOW_ANSWERS, 2);
        assert_eq!(r.cuts(), 1);
        assert!(r.rate() < 40.0 && r.rate() >= 20.0, "{}", r.rate());
        // Clean windows: back to the ceiling, never above.
        for _ in 0..1_000 {
            feed(&r, MIN_WINDOW_ANSWERS, u32::MAX);
        }
        assert_eq!(r.cuts(), 1);
        assert!(r.rate() <= 40.0);
    }

    #[test]
    fn the_default_ceiling_is_seventy_percent_of_the_brand() {
        assert!((DEFAULT_MAX_RPS - 35.0).abs() < 1e-9);
        let r = RateController::new(10.0, Some(DEFAULT_MAX_RPS), 10);
        assert_eq!(r.minute_budget(), Some(2_100));
        assert_eq!(RateController::new(10.0, None, 10).minute_budget(), None);
    }

    #[tokio::test]
    async fn no_rolling_window_starts_more_than_the_budget() {
        // 100/s over a 300 ms window: 30 a window. A burst takes them at once, then waits.
        let window = Duration::from_millis(300);
        let r = RateController::with_window(10.0, Some(100.0), 10, window);
        assert_eq!(r.minute_budget(), Some(30));
        let t0 = Instant::now();
        for _ in 0..30 {
            r.acquire_burst().await.done(Signal::Success);
        }
        assert!(t0.elapsed() < window, "inside the budget: no wait");
        r.acquire_burst().await.done(Signal::Success);
        assert!(
            t0.elapsed() >= window,
            "the 31st waits for the window: {:?}",
            t0.elapsed()
        );
        // Paced requests count too.
        let r = RateController::with_window(10.0, Some(100.0), 10, window);
        let t0 = Instant::now();
        for _ in 0..31 {
            r.acquire().await.done(Signal::Success);
        }
        assert!(t0.elapsed() >= window, "{:?}", t0.elapsed());
    }

    #[tokio::test]
    async fn the_in_flight_limit_adapts() {
        let r = RateController::new(10.0, None, 10);
        let slots: Vec<Slot<'_>> = {
            let mut v = Vec::new();
            for _ in 0..10 {
                v.push(r.acquire().await);
            }
            v
        };
        // All ten in flight, and half of the answers are 429.
        for (k, slot) in slots.into_iter().enumerate() {
            slot.done(if k % 2 == 0 {
                Signal::Throttled
            } else {
                Signal::Success
            });
        }
        r.lock().window_start -= MAX_WINDOW;
        r.on_throttle();
        // To about what the server took: half of the ten were refused.
        assert_eq!(r.concurrency_limit(), 5);
        assert!(
            r.rate().is_infinite(),
            "the in-flight limit alone is cut first"
        );
        // A second congested window in a row: the rate too (the limit by half at most).
        r.lock().peak = 5;
        feed(&r, MIN_WINDOW_ANSWERS, 2);
        assert_eq!(r.concurrency_limit(), 2);
        assert!(r.rate().is_finite(), "pacing from now on");
    }
}
