//! The restart-intensity core, without a runtime: how long to wait before the next
//! restart of one child, and whether it has restarted too often.
//!
//! Time is passed in, so the rules are tested with made-up instants.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Largest doubling exponent: `initial * 2^16` already exceeds any sane maximum, and
/// the cap keeps the shift from overflowing.
const BACKOFF_DOUBLINGS_MAX: u32 = 16;

/// How often a child may restart and how long it waits in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// Restarts allowed within `period`; one more exceeds the limit.
    pub max_restarts: usize,
    /// The sliding window restarts are counted in. An incarnation that ran this long
    /// also resets the backoff.
    pub period: Duration,
    /// Delay before the first restart in a row; doubles for each further one.
    pub backoff_initial: Duration,
    /// Longest delay before a restart.
    pub backoff_max: Duration,
}

impl Intensity {
    /// Why these settings cannot work, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.max_restarts == 0 {
            return Err("max_restarts must be at least 1".into());
        }
        if self.period.is_zero() {
            return Err("period must be positive".into());
        }
        if self.backoff_initial > self.backoff_max {
            return Err(format!(
                "backoff_initial {:?} exceeds backoff_max {:?}",
                self.backoff_initial, self.backoff_max
            ));
        }
        Ok(())
    }

    /// The delay before restart number `consecutive` (1-based) in a row.
    pub fn backoff(&self, consecutive: u32) -> Duration {
        let doublings = consecutive.saturating_sub(1).min(BACKOFF_DOUBLINGS_MAX);
        self.backoff_initial
            .saturating_mul(1 << doublings)
            .min(self.backoff_max)
    }
}

/// One child's recent restarts.
#[derive(Debug, Clone, Default)]
pub struct RestartHistory {
    /// When each restart within the window was decided, oldest first; never longer
    /// than `max_restarts`.
    recent: VecDeque<Instant>,
    /// Restarts in a row without an incarnation that lived a full period.
    consecutive: u32,
}

impl RestartHistory {
    /// Records that the incarnation started at `started_at` is down at `now` (it
    /// stopped, failed, or never started). Returns the delay before restarting it,
    /// or `None` when one more restart would exceed the limit.
    pub fn on_down(
        &mut self,
        limits: &Intensity,
        now: Instant,
        started_at: Instant,
    ) -> Option<Duration> {
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= limits.period)
        {
            self.recent.pop_front();
        }
        if now.saturating_duration_since(started_at) >= limits.period {
            self.consecutive = 0;
        }
        if self.recent.len() >= limits.max_restarts {
            return None;
        }
        self.recent.push_back(now);
        assert!(self.recent.len() <= limits.max_restarts);
        self.consecutive = self.consecutive.saturating_add(1);
        Some(limits.backoff(self.consecutive))
    }

    /// Restarts counted in the current window.
    pub fn in_window(&self) -> usize {
        self.recent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Intensity = Intensity {
        max_restarts: 3,
        period: Duration::from_secs(10),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(35),
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let delays: Vec<Duration> = (1..=5).map(|n| LIMITS.backoff(n)).collect();
        assert_eq!(delays, vec![ms(10), ms(20), ms(35), ms(35), ms(35)]);
        assert_eq!(LIMITS.backoff(u32::MAX), ms(35));
    }

    #[test]
    fn limit_is_max_restarts_within_the_period() {
        let t0 = Instant::now();
        let mut h = RestartHistory::default();
        let delays: Vec<_> = (0..4).map(|i| h.on_down(&LIMITS, t0 + ms(i), t0)).collect();
        assert_eq!(delays, vec![Some(ms(10)), Some(ms(20)), Some(ms(35)), None]);
        assert_eq!(h.in_window(), 3);
    }

    #[test]
    fn old_restarts_leave_the_window() {
        let t0 = Instant::now();
        let mut h = RestartHistory::default();
        for i in 0..3 {
            assert!(h.on_down(&LIMITS, t0 + ms(i), t0 + ms(i)).is_some());
        }
        let later = t0 + LIMITS.period + ms(5);
        assert!(h.on_down(&LIMITS, later, later).is_some());
        assert_eq!(h.in_window(), 1);
    }

    #[test]
    fn a_long_run_resets_the_backoff() {
        let t0 = Instant::now();
        let mut h = RestartHistory::default();
        assert_eq!(h.on_down(&LIMITS, t0, t0), Some(ms(10)));
        assert_eq!(h.on_down(&LIMITS, t0 + ms(1), t0), Some(ms(20)));
        let started = t0 + ms(2);
        let down = started + LIMITS.period;
        assert_eq!(h.on_down(&LIMITS, down, started), Some(ms(10)));
    }

    #[test]
    fn check_rejects_unusable_settings() {
        assert!(LIMITS.check().is_ok());
        let zero = Intensity {
            max_restarts: 0,
            ..LIMITS
        };
        assert!(zero.check().is_err());
        let inverted = Intensity {
            backoff_initial: ms(100),
            ..LIMITS
        };
        assert!(inverted.check().is_err());
    }
}
