//! The sampler's fixed-rate schedule: tick `k` is due at `start + k ×
//! interval` (absolute deadlines, so a late tick never shifts the ones after
//! it), and a tick whose whole slot has passed is skipped and counted.

use std::time::{Duration, Instant};

/// Absolute deadlines from one start.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    interval: Duration,
}

impl Schedule {
    /// `interval` must be > 0.
    pub fn new(start: Instant, interval: Duration) -> Schedule {
        assert!(!interval.is_zero(), "a zero sampling interval");
        Schedule { start, interval }
    }

    /// When tick `k` is due.
    pub fn due(&self, k: u64) -> Instant {
        self.start + Duration::from_nanos(self.interval.as_nanos() as u64 * k)
    }

    /// The tick to run after tick `k`, given that its work ended at `now`,
    /// and how many ticks in between are skipped. A tick is skipped when
    /// its slot `[due(j), due(j + 1))` is over; a tick still inside its
    /// slot runs at once (late) rather than being skipped.
    pub fn next(&self, k: u64, now: Instant) -> (u64, u64) {
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        let slot = (elapsed / self.interval.as_nanos()) as u64;
        let next = slot.max(k + 1);
        (next, next - k - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_absolute_and_overruns_skip_whole_slots() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let s = Schedule::new(t0, ms(200));
        assert_eq!(s.due(0), t0);
        assert_eq!(s.due(150), t0 + ms(30_000));
        // on time, or late within the next tick's slot: nothing skipped
        assert_eq!(s.next(0, t0 + ms(3)), (1, 0));
        assert_eq!(s.next(4, t0 + ms(999)), (5, 0));
        // tick 4 ended 30 ms into tick 5's slot: tick 5 runs at once, late
        assert_eq!(s.next(4, t0 + ms(1030)), (5, 0));
        // tick 4's work ran past tick 5's whole slot: 5 is skipped, 6 runs
        assert_eq!(s.next(4, t0 + ms(1210)), (6, 1));
        // a stall of 2 s: ten slots are over
        assert_eq!(s.next(4, t0 + ms(3005)), (15, 10));
        // a late tick does not move the deadlines after it
        assert_eq!(s.due(6), t0 + ms(1200));
    }
}
