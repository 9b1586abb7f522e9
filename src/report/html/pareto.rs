//! The Pareto front of throughput against latency: the points that no
//! other point beats on both (at least as much throughput and at most as
//! much latency, one of them strictly).

/// Indices into `points` (`(throughput, latency)` pairs) of the points on
/// the front, in ascending throughput. Pairs with a non-finite value are
/// left out; of identical pairs the first is kept.
pub fn front(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].0.is_finite() && points[i].1.is_finite())
        .collect();
    // most throughput first; at equal throughput the least latency first
    order.sort_by(|&a, &b| {
        points[b]
            .0
            .total_cmp(&points[a].0)
            .then(points[a].1.total_cmp(&points[b].1))
            .then(a.cmp(&b))
    });
    let mut best = f64::INFINITY;
    let mut out = Vec::new();
    for i in order {
        // every point seen so far has at least this throughput: this one
        // is on the front only with strictly less latency than all of them
        if points[i].1 < best {
            best = points[i].1;
            out.push(i);
        }
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::front;

    #[test]
    fn the_front_keeps_exactly_the_undominated_points_in_throughput_order() {
        let points = [
            (100.0, 50.0),     // 0: on the front
            (200.0, 80.0),     // 1: on the front
            (150.0, 90.0),     // 2: 1 has more throughput and less latency
            (50.0, 40.0),      // 3: on the front (least latency)
            (200.0, 100.0),    // 4: same throughput as 1, more latency
            (250.0, 200.0),    // 5: on the front (most throughput)
            (f64::NAN, 1.0),   // 6: no throughput: left out
            (300.0, f64::NAN), // 7: no latency: left out
            (100.0, 50.0),     // 8: identical to 0: the first is kept
            (60.0, 45.0), // 9: 0 has more throughput but more latency, 3 less latency but less throughput: on the front
        ];
        assert_eq!(front(&points), [3, 9, 0, 1, 5]);
        assert_eq!(front(&[]), Vec::<usize>::new());
        assert_eq!(front(&[(1.0, 1.0)]), [0]);
        // a point better on both than all others is the whole front
        assert_eq!(front(&[(1.0, 5.0), (9.0, 1.0), (5.0, 3.0)]), [1]);
    }
}
