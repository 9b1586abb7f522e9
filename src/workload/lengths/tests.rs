//! Tests of the length distributions: fixed, uniform and normal draws with
//! their bounds, means and spreads, and the rejected spreads. `mean_std` is
//! shared with the workload module's tests.

use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn draws(dist: LengthDist, center: u32, min: u32, n: usize) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..n).map(|_| dist.sample(center, min, &mut rng)).collect()
}

/// Sample mean and standard deviation (n − 1), shared with the module tests.
pub(crate) fn mean_std(xs: &[u32]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = xs
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean, var.sqrt())
}

#[test]
fn fixed_is_the_center_clamped() {
    assert!(
        draws(LengthDist::Fixed, 100, 0, 50)
            .iter()
            .all(|&x| x == 100)
    );
    assert!(draws(LengthDist::Fixed, 0, 0, 5).iter().all(|&x| x == 1));
    assert!(draws(LengthDist::Fixed, 10, 33, 5).iter().all(|&x| x == 33));
}

#[test]
fn uniform_covers_its_bounds_evenly() {
    let xs = draws(LengthDist::Uniform { spread: 0.25 }, 100, 0, 20_000);
    assert!(xs.iter().all(|&x| (75..=125).contains(&x)));
    assert_eq!(*xs.iter().min().unwrap(), 75);
    assert_eq!(*xs.iter().max().unwrap(), 125);
    let (mean, std) = mean_std(&xs);
    assert!((mean - 100.0).abs() < 0.5, "mean {mean}");
    // Discrete uniform over 51 values: std = sqrt((51^2 - 1) / 12) = 14.72.
    assert!((std - 14.72).abs() < 0.4, "std {std}");
}

#[test]
fn uniform_rounds_bounds_and_clamps() {
    // 10 * 0.85 = 8.5 rounds to 9 (half away from zero), 10 * 1.15 = 11.5 to 12.
    let xs = draws(LengthDist::Uniform { spread: 0.15 }, 10, 0, 5_000);
    assert_eq!(*xs.iter().min().unwrap(), 8.5f64.round() as u32);
    assert_eq!(*xs.iter().max().unwrap(), 12);
    // spread > 1 would go below zero: clamped to 1.
    let xs = draws(LengthDist::Uniform { spread: 2.0 }, 10, 0, 5_000);
    assert!(xs.iter().all(|&x| (1..=30).contains(&x)));
    assert!(xs.contains(&1) && xs.contains(&30));
}

#[test]
fn normal_mean_and_std_near_target() {
    let xs = draws(LengthDist::Normal { spread: 0.1 }, 1000, 0, 20_000);
    let (mean, std) = mean_std(&xs);
    assert!((mean - 1000.0).abs() < 3.0, "mean {mean}");
    assert!((std - 100.0).abs() < 3.0, "std {std}");
    // Zero spread is the center.
    assert!(
        draws(LengthDist::Normal { spread: 0.0 }, 64, 0, 20)
            .iter()
            .all(|&x| x == 64)
    );
    // Wide spread is clamped to the minimum.
    let xs = draws(LengthDist::Normal { spread: 3.0 }, 10, 5, 2_000);
    assert!(xs.iter().all(|&x| x >= 5) && xs.contains(&5));
}

#[test]
fn bad_spreads_rejected() {
    for spread in [-0.1, f64::NAN, f64::INFINITY] {
        let err = LengthDist::Uniform { spread }.validate().unwrap_err();
        assert!(err.to_string().contains("spread"), "{err}");
        assert!(LengthDist::Normal { spread }.validate().is_err());
    }
    assert!(LengthDist::Fixed.validate().is_ok());
    assert!(LengthDist::Normal { spread: 0.0 }.validate().is_ok());
}
