//! The decode × prompt concurrency grid of a sweep: per server setup
//! (everything but those two axes), each cell's best throughput over the
//! loads it ran (the best request concurrency) and the point that gave it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::report::data::PointRecord;

/// One cell: the best measured point of a (decode, prompt) pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    pub decode: u32,
    pub prompt: u32,
    pub tps: f64,
    pub point: usize,
    /// The load that gave the best throughput (`c=4 mt=64`).
    pub load: String,
}

/// The grid of one server setup; `decode` runs along x, `prompt` along y,
/// both ascending. A pair that was not measured has no cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grid {
    /// The setup: the configuration label without decode and prompt.
    pub group: String,
    pub decode: Vec<u32>,
    pub prompt: Vec<u32>,
    pub cells: Vec<Cell>,
}

/// The grids of every setup that swept both axes (two values or more
/// each), or why there is none.
pub fn grids<'a>(points: impl IntoIterator<Item = &'a PointRecord>) -> Result<Vec<Grid>, String> {
    let mut groups: BTreeMap<String, BTreeMap<(u32, u32), Cell>> = BTreeMap::new();
    let (mut all_d, mut all_p) = (BTreeSet::new(), BTreeSet::new());
    for p in points {
        let (Some(d), Some(pc)) = (p.decode_concurrency, p.prompt_concurrency) else {
            continue;
        };
        if !p.throughput_tps.is_finite() {
            continue;
        }
        all_d.insert(d);
        all_p.insert(pc);
        let cell = Cell {
            decode: d,
            prompt: pc,
            tps: p.throughput_tps,
            point: p.point,
            load: p.load_label(),
        };
        let cells = groups.entry(group_label(p)).or_default();
        match cells.get(&(d, pc)) {
            Some(best) if best.tps >= cell.tps => {}
            _ => {
                cells.insert((d, pc), cell);
            }
        }
    }
    let out: Vec<Grid> = groups
        .into_iter()
        .filter_map(|(group, cells)| {
            let decode: BTreeSet<u32> = cells.keys().map(|k| k.0).collect();
            let prompt: BTreeSet<u32> = cells.keys().map(|k| k.1).collect();
            (decode.len() >= 2 && prompt.len() >= 2).then(|| Grid {
                group,
                decode: decode.into_iter().collect(),
                prompt: prompt.into_iter().collect(),
                cells: cells.into_values().collect(),
            })
        })
        .collect();
    if out.is_empty() {
        let list = |s: &BTreeSet<u32>| {
            if s.is_empty() {
                "not set".to_string()
            } else {
                s.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            }
        };
        return Err(format!(
            "No heatmap: it needs decode_concurrency and prompt_concurrency both swept \
             (two values or more each, in [matrix]) on measured points; this run has \
             decode_concurrency {} and prompt_concurrency {}.",
            list(&all_d),
            list(&all_p)
        ));
    }
    Ok(out)
}

/// The setup of a point without its decode and prompt concurrency, with
/// its max and input tokens (a grid compares like with like).
fn group_label(p: &PointRecord) -> String {
    let bare = PointRecord {
        decode_concurrency: None,
        prompt_concurrency: None,
        raw: serde_json::Value::Null,
        ..p.clone()
    };
    let mut s = format!("{} mt={}", bare.config_label(), p.max_tokens);
    if let Some(n) = p.input_tokens {
        s.push_str(&format!(" in={n}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(n: usize, inst: u32, d: u32, pc: u32, conc: &str, tps: f64) -> PointRecord {
        PointRecord {
            point: n,
            outcome: "ok".into(),
            model: "tiny".into(),
            backend: "mlx_lm".into(),
            instances: inst,
            ranks: 1,
            decode_concurrency: Some(d),
            prompt_concurrency: Some(pc),
            concurrency: conc.into(),
            max_tokens: 8,
            ok_requests: 2,
            throughput_tps: tps,
            ..Default::default()
        }
    }

    #[test]
    fn each_cell_holds_the_best_concurrency_of_its_setup() {
        let pts = vec![
            point(1, 1, 2, 1, "1", 10.0),
            point(2, 1, 2, 1, "2", 30.0), // best of (2, 1)
            point(3, 1, 2, 2, "1", 12.0),
            point(4, 1, 2, 2, "2", 11.0), // worse: point 3 stays
            point(5, 1, 4, 1, "1", 50.0),
            point(6, 1, 4, 2, "2", 60.0),
            // another setup (two instances), one pair only: no grid of its own
            point(7, 2, 4, 2, "2", 99.0),
        ];
        let grids = grids(&pts).unwrap();
        assert_eq!(grids.len(), 1);
        let g = &grids[0];
        assert_eq!(g.group, "tiny mlx_lm ×1 mt=8");
        assert_eq!(g.decode, [2, 4]);
        assert_eq!(g.prompt, [1, 2]);
        let cells: Vec<(u32, u32, f64, usize, &str)> = g
            .cells
            .iter()
            .map(|c| (c.decode, c.prompt, c.tps, c.point, c.load.as_str()))
            .collect();
        assert_eq!(
            cells,
            [
                (2, 1, 30.0, 2, "c=2 mt=8"),
                (2, 2, 12.0, 3, "c=1 mt=8"),
                (4, 1, 50.0, 5, "c=1 mt=8"),
                (4, 2, 60.0, 6, "c=2 mt=8"),
            ]
        );
    }

    #[test]
    fn a_missing_pair_leaves_a_hole_and_one_swept_axis_is_no_heatmap() {
        let pts = vec![
            point(1, 1, 2, 1, "1", 10.0),
            point(2, 1, 4, 1, "1", 20.0),
            point(3, 1, 4, 2, "1", 30.0),
        ];
        let g = &grids(&pts).unwrap()[0];
        assert_eq!(g.cells.len(), 3, "(2, 2) was not measured");

        let one_axis = vec![point(1, 1, 2, 1, "1", 10.0), point(2, 1, 4, 1, "1", 20.0)];
        let why = grids(&one_axis).unwrap_err();
        assert!(
            why.contains("decode_concurrency 2, 4 and prompt_concurrency 1"),
            "{why}"
        );

        let unset = vec![PointRecord {
            decode_concurrency: None,
            prompt_concurrency: None,
            ..point(1, 1, 2, 1, "1", 10.0)
        }];
        let why = grids(&unset).unwrap_err();
        assert!(why.contains("decode_concurrency not set"), "{why}");
    }
}
