//! Bounded units of a scenario and of the command line: durations in
//! seconds or milliseconds that are always finite, never negative and
//! within [`MAX_SECONDS`] (30 days), so turning one into a `Duration`, or
//! adding a few of them, cannot panic or overflow.
//!
//! A value is checked once, when the file (or `--set`, an environment
//! variable, a command-line flag) is read: the scenario loader reports a
//! value outside the bound as a parse error with its file, line and field,
//! before anything starts. Arithmetic on durations the run derives from
//! these (a point's deadline, a retry's backoff, an arrival schedule) goes
//! through [`saturating_duration`] and `Duration::saturating_*`, so it is
//! capped, never a panic.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest duration a scenario or a flag may state: 30 days. Longer
/// than any benchmark point, readiness wait or soak test; short enough
/// that thousands of them still add up to far less than `Duration::MAX`.
pub const MAX_SECONDS: f64 = 30.0 * 86_400.0;

/// [`MAX_SECONDS`] in milliseconds.
pub const MAX_MILLIS: f64 = MAX_SECONDS * 1_000.0;

/// The cap of every derived duration (a deadline summed over a point's
/// requests, a backoff times its attempts): 100 years, far from the end
/// of `Instant`'s range, so `Instant + d` cannot overflow either.
pub const SATURATED: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `secs` seconds as a duration: NaN and negatives are zero, anything
/// above [`SATURATED`] (infinity included) is [`SATURATED`]. For figures
/// computed from checked values, where a panic would be a bug.
pub fn saturating_duration(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else if secs >= SATURATED.as_secs_f64() {
        SATURATED
    } else {
        // in range: at most 3.2e18 ns, below u64::MAX
        Duration::from_nanos((secs * 1e9).round() as u64)
    }
}

/// `v` as a number people read: plain for everyday values, scientific
/// for huge or tiny ones (`1e20`, not twenty digits).
pub fn shown(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-4..1e9).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// How a bounded value reads its lower end.
#[derive(Clone, Copy)]
enum Floor {
    /// 0 is allowed.
    Zero,
    /// Above 0.
    AboveZero,
}

fn check(v: f64, floor: Floor, max: f64, unit: &str) -> Result<f64, String> {
    let low_ok = match floor {
        Floor::Zero => v >= 0.0,
        Floor::AboveZero => v > 0.0,
    };
    if v.is_finite() && low_ok && v <= max {
        return Ok(v);
    }
    let range = match floor {
        Floor::Zero => format!("from 0 to {}", shown(max)),
        Floor::AboveZero => format!("above 0 and at most {}", shown(max)),
    };
    Err(format!(
        "{} is not a number of {unit} {range} (30 days)",
        shown(v)
    ))
}

/// Reads a number (integer or float) for a bounded unit.
struct NumberVisitor(&'static str);

impl Visitor<'_> for NumberVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a number of {}", self.0)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
}

/// A bounded duration type: a checked `f64` of `$unit`, `$per_second` of
/// them to the second.
macro_rules! bounded_duration {
    ($(#[$doc:meta])* $name:ident, $floor:expr, $max:expr, $unit:literal, $per_second:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
        pub struct $name(f64);

        impl $name {
            /// The largest value.
            pub const MAX: $name = $name($max);

            /// `v`, when it is within the bound; else why not.
            pub fn new(v: f64) -> Result<$name, String> {
                check(v, $floor, $max, $unit).map($name)
            }

            /// A value written in the code: checked at compile time when
            /// used in a `const`, and by the tests of every default.
            pub const fn lit(v: f64) -> $name {
                let low_ok = match $floor {
                    Floor::Zero => v >= 0.0,
                    Floor::AboveZero => v > 0.0,
                };
                assert!(low_ok && v <= $max, "a literal out of its bound");
                $name(v)
            }

            /// The number, as written.
            pub fn get(self) -> f64 {
                self.0
            }

            /// Whether it is 0.
            pub fn is_zero(self) -> bool {
                self.0 == 0.0
            }

            /// As a duration (exact to the nanosecond; cannot panic: the
            /// value is within the bound).
            pub fn duration(self) -> Duration {
                Duration::from_nanos((self.0 * (1e9 / $per_second)).round() as u64)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<$name, String> {
                let v: f64 = s
                    .trim()
                    .parse()
                    .map_err(|_| format!("{s:?} is not a number of {}", $unit))?;
                $name::new(v)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_f64(self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let v = d.deserialize_any(NumberVisitor($unit))?;
                $name::new(v).map_err(de::Error::custom)
            }
        }
    };
}

bounded_duration!(
    /// Seconds, 0 allowed (`0` often means "off" or "derived"):
    /// `0 ≤ s ≤ MAX_SECONDS`.
    Secs,
    Floor::Zero,
    MAX_SECONDS,
    "seconds",
    1.0
);

bounded_duration!(
    /// Seconds above 0 (a timeout): `0 < s ≤ MAX_SECONDS`.
    PositiveSecs,
    Floor::AboveZero,
    MAX_SECONDS,
    "seconds",
    1.0
);

bounded_duration!(
    /// Milliseconds, 0 allowed: `0 ≤ ms ≤ MAX_MILLIS`.
    Millis,
    Floor::Zero,
    MAX_MILLIS,
    "milliseconds",
    1_000.0
);

bounded_duration!(
    /// Milliseconds above 0 (an objective): `0 < ms ≤ MAX_MILLIS`.
    PositiveMillis,
    Floor::AboveZero,
    MAX_MILLIS,
    "milliseconds",
    1_000.0
);

impl Secs {
    /// No time ("off", or "derived" where a field says so).
    pub const ZERO: Secs = Secs(0.0);
}

impl Millis {
    pub const ZERO: Millis = Millis(0.0);
}

impl From<PositiveSecs> for Secs {
    fn from(s: PositiveSecs) -> Secs {
        Secs(s.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_the_bound_are_refused_with_the_bound() {
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            1e20,
            MAX_SECONDS + 1.0,
        ] {
            let e = Secs::new(bad).unwrap_err();
            assert!(e.contains("from 0 to 2592000 (30 days)"), "{e}");
        }
        assert!(Secs::new(1e20).unwrap_err().starts_with("1e20 is not"));
        assert_eq!(Secs::new(0.0).unwrap().duration(), Duration::ZERO);
        assert_eq!(
            Secs::new(MAX_SECONDS).unwrap().duration(),
            Duration::from_secs(2_592_000)
        );
        assert!(PositiveSecs::new(0.0).unwrap_err().contains("above 0"));
        assert!(PositiveSecs::new(5e-324).is_ok());
        assert_eq!(
            PositiveSecs::new(5e-324).unwrap().duration(),
            Duration::ZERO
        );
        assert!(Millis::new(MAX_MILLIS * 2.0).is_err());
        assert_eq!(
            Millis::new(1.5).unwrap().duration(),
            Duration::from_micros(1500)
        );
    }

    #[test]
    fn deserialize_reads_integers_and_floats_and_refuses_the_rest() {
        #[derive(Deserialize, Debug)]
        struct T {
            a: Secs,
            b: PositiveSecs,
        }
        let t: T = toml::from_str("a = 0\nb = 2.5").unwrap();
        assert_eq!(
            (t.a.get(), t.b.duration()),
            (0.0, Duration::from_millis(2500))
        );
        let e = toml::from_str::<T>("a = inf\nb = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("inf is not a number of seconds"), "{e}");
        assert!(e.contains("line 1"), "{e}");
        let e = toml::from_str::<T>("a = 1\nb = 1e20")
            .unwrap_err()
            .to_string();
        assert!(e.contains("1e20 is not") && e.contains("line 2"), "{e}");
        let e = toml::from_str::<T>("a = \"3\"\nb = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a number of seconds"), "{e}");
        assert!(toml::from_str::<T>("a = -0.5\nb = 1").is_err());
    }

    #[test]
    fn parsing_text_checks_the_bound() {
        assert_eq!("2.5".parse::<PositiveSecs>().unwrap().get(), 2.5);
        assert!("1e20".parse::<PositiveSecs>().is_err());
        assert!("nan".parse::<Secs>().is_err());
        assert!("x".parse::<Millis>().unwrap_err().contains("milliseconds"));
    }

    #[test]
    fn saturating_duration_never_panics() {
        assert_eq!(saturating_duration(f64::NAN), Duration::ZERO);
        assert_eq!(saturating_duration(-3.0), Duration::ZERO);
        assert_eq!(saturating_duration(f64::INFINITY), SATURATED);
        assert_eq!(saturating_duration(1e300), SATURATED);
        assert_eq!(saturating_duration(1.25), Duration::from_millis(1250));
        // a saturated duration still adds to an instant
        let _ = std::time::Instant::now() + SATURATED;
    }

    #[test]
    fn the_maximum_added_up_stays_far_below_saturation() {
        // a point's deadline adds a timeout per request: a million of the
        // longest is still below the cap
        let d = Secs::MAX.duration().saturating_mul(1_000_000);
        assert_ne!(d, Duration::MAX);
        assert!(d < SATURATED * 1_000);
    }
}
