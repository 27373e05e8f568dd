//! One adaptive rate controller shared by every request, never above `--max-rps`, with at most
//! `--concurrency` requests in flight. Like TCP: until the first 429 only the requests in flight
//! are bounded (a moderate number: the start), and the rate the server accepts is measured;
//! from the first 429 on, requests are paced at a rate cut on 429 to just under what the server
//! accepted and crept up on success (additive increase, multiplicative decrease).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// The lowest rate the controller goes down to, requests per second.
const MIN_RPS: f64 = 0.5;
/// How much the rate grows per second of successes, requests per second, once a limit was met.
const CREEP_PER_SECOND: f64 = 2.0;
/// The cut on a 429: small, since the limit is near once it is met.
const THROTTLE_FACTOR: f64 = 0.9;
/// The cut on a server error: gentler, a 5xx is not always load.
const SERVER_ERROR_FACTOR: f64 = 0.95;

struct State {
    rate: f64,
    /// No 429 yet: still looking for the limit.
    starting: bool,
    /// Successes counted since `window_start`, and the rate of the last full window: what the
    /// server actually accepted.
    window_start: Instant,
    window_count: u32,
    accepted_rate: Option<f64>,
    next_slot: Instant,
    last_cut: Instant,
}

/// Paces requests and bounds those in flight.
pub struct RateController {
    state: Mutex<State>,
    max_rps: f64,
    in_flight: Semaphore,
}

impl RateController {
    /// `initial_rps` is where pacing starts ("moderate"); `max_rps` the ceiling if any.
    pub fn new(initial_rps: f64, max_rps: Option<f64>, concurrency: usize) -> Self {
        let max = max_rps.unwrap_or(f64::INFINITY).max(MIN_RPS);
        let now = Instant::now();
        RateController {
            state: Mutex::new(State {
                rate: initial_rps.clamp(MIN_RPS, max),
                starting: true,
                window_start: now,
                window_count: 0,
                accepted_rate: None,
                next_slot: now,
                last_cut: now - Duration::from_secs(60),
            }),
            max_rps: max,
            in_flight: Semaphore::new(concurrency.max(1)),
        }
    }

    /// Waits for a slot: a free place among those in flight, then the paced start time.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let wait = {
            let mut s = self.lock();
            // Until the first 429 the only pace is the ceiling, if one was given.
            let pace = if s.starting { self.max_rps } else { s.rate };
            if pace.is_infinite() {
                return permit;
            }
            let now = Instant::now();
            // Idle time does not bank a burst: at most a fraction of a second of credit.
            let floor = now - Duration::from_secs_f64((0.25f64).min(1.0 / pace));
            let slot = s.next_slot.max(floor);
            s.next_slot = slot + Duration::from_secs_f64(1.0 / pace);
            slot.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        permit
    }

    /// A request succeeded: measure, and once pacing, creep up by about `CREEP_PER_SECOND`
    /// per second.
    pub fn on_success(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        s.window_count += 1;
        let span = now.duration_since(s.window_start);
        if span >= Duration::from_secs(1) {
            s.accepted_rate = Some(f64::from(s.window_count) / span.as_secs_f64());
            s.window_start = now;
            s.window_count = 0;
        }
        if s.starting {
            // Unpaced: the rate to start pacing at is what the server accepts.
            if let Some(accepted) = s.accepted_rate {
                s.rate = s.rate.max(accepted).min(self.max_rps);
            }
        } else {
            // `rate` successes arrive per second, so each adds its share of a second's growth.
            s.rate = (s.rate + CREEP_PER_SECOND / s.rate).min(self.max_rps);
        }
    }

    /// A 429: cut, once per burst of them.
    pub fn on_throttle(&self) {
        let mut s = self.lock();
        s.starting = false;
        // Far above the limit, a tenth off is not enough: no more than just under what the
        // server accepted in the last second.
        let now = Instant::now();
        let partial = now.duration_since(s.window_start).as_secs_f64();
        let accepted = s
            .accepted_rate
            .or_else(|| (partial > 0.2).then(|| f64::from(s.window_count) / partial));
        // Only when far above it: near the limit a measured window is noisy, and cutting to
        // it again and again would ratchet the rate down.
        let rate = s.rate;
        let ceiling = accepted
            .filter(|a| *a > 0.0 && a * 0.95 < rate * 0.75)
            .map(|a| a * 0.95);
        drop(s);
        self.cut(THROTTLE_FACTOR, ceiling);
    }

    /// A 5xx: cut a little.
    pub fn on_server_error(&self) {
        self.cut(SERVER_ERROR_FACTOR, None);
    }

    fn cut(&self, factor: f64, ceiling: Option<f64>) {
        let mut s = self.lock();
        let now = Instant::now();
        // Requests already in flight answer 429 too; one cut per half second is enough.
        if now.duration_since(s.last_cut) < Duration::from_millis(500) {
            return;
        }
        s.last_cut = now;
        let cut = s.rate * factor;
        s.rate = ceiling.map_or(cut, |c| cut.min(c)).max(MIN_RPS);
        s.next_slot = s.next_slot.max(now) + Duration::from_secs_f64(1.0 / s.rate);
    }

    /// The current pacing rate, requests per second.
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the numbers inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_and_creeps_within_bounds() {
        let r = RateController::new(10.0, Some(20.0), 4);
        r.lock().starting = false;
        r.on_throttle();
        assert!((r.rate() - 9.0).abs() < 1e-9);
        r.on_throttle(); // within the same burst: no second cut
        assert!((r.rate() - 9.0).abs() < 1e-9);
        for _ in 0..10_000 {
            r.on_success();
        }
        assert_eq!(r.rate(), 20.0);
    }
}
