//! GitHub-flavoured Markdown tables: a header, an alignment row (numbers
//! right-aligned), and one line per row with every cell escaped.

use super::cells::escape;

/// How a column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table under construction.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these `(header, alignment)` columns.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            columns: columns.iter().map(|(h, a)| (h.to_string(), *a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row; missing cells are left empty, extra cells dropped.
    pub fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.columns.len(), String::new());
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as Markdown, ending with a newline.
    pub fn render(&self) -> String {
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let mut out = line(self.columns.iter().map(|(h, _)| escape(h)).collect());
        out.push_str(&line(
            self.columns
                .iter()
                .map(|(_, a)| match a {
                    Align::Left => "---".to_string(),
                    Align::Right => "---:".to_string(),
                })
                .collect(),
        ));
        for r in &self.rows {
            out.push_str(&line(r.iter().map(|c| escape(c)).collect()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_has_header_alignment_and_escaped_rows() {
        let mut t = Table::new(&[("configuration", Align::Left), ("tok/s", Align::Right)]);
        assert!(t.is_empty());
        t.row(vec!["a|b".into(), "474.7".into()]);
        t.row(vec!["short".into()]);
        assert_eq!(
            t.render(),
            "| configuration | tok/s |\n| --- | ---: |\n| a\\|b | 474.7 |\n| short |  |\n"
        );
    }
}
