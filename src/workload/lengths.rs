//! Prompt length distributions: how many input tokens each synthetic prompt
//! gets around the configured center.

use rand::Rng;
use rand_distr::{Distribution, Normal};

use super::WorkloadError;

/// How synthetic prompt lengths vary around the center `N`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LengthDist {
    /// Every prompt has exactly `N` tokens.
    Fixed,
    /// An integer drawn uniformly from `[round(N(1-spread)), round(N(1+spread))]`.
    Uniform { spread: f64 },
    /// `round(Normal(mean N, std spread*N))`.
    Normal { spread: f64 },
}

impl LengthDist {
    /// Rejects spreads that are negative or not finite.
    pub(crate) fn validate(&self) -> Result<(), WorkloadError> {
        match *self {
            LengthDist::Fixed => Ok(()),
            LengthDist::Uniform { spread } | LengthDist::Normal { spread } => {
                if spread.is_finite() && spread >= 0.0 {
                    Ok(())
                } else {
                    Err(WorkloadError::Invalid(format!(
                        "length spread must be a number >= 0 (a fraction of input_tokens, e.g. 0.2), got {spread}"
                    )))
                }
            }
        }
    }

    /// One length for center `center`, never below `min` (and never below 1).
    /// Call [`LengthDist::validate`] first.
    pub(crate) fn sample<R: Rng + ?Sized>(&self, center: u32, min: u32, rng: &mut R) -> u32 {
        let n = f64::from(center);
        let drawn = match *self {
            LengthDist::Fixed => n,
            LengthDist::Uniform { spread } => {
                let lo = (n * (1.0 - spread)).round().max(0.0);
                let hi = (n * (1.0 + spread)).round().min(f64::from(u32::MAX));
                let (lo, hi) = (lo as u32, hi as u32);
                f64::from(rng.random_range(lo..=hi.max(lo)))
            }
            LengthDist::Normal { spread } => match Normal::new(n, spread * n) {
                Ok(d) => d.sample(rng).round(),
                Err(_) => n,
            },
        };
        drawn.clamp(f64::from(min.max(1)), f64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
pub(crate) mod tests;
