//! `report.html`: one self-contained interactive page, rendered from
//! `templates/report.html.j2` with everything inlined (uPlot, the page's
//! own script and styles, the data as one JSON blob), so it works offline
//! and a Content-Security-Policy forbids any fetch.

mod charts;
mod heatmap;
mod hosts;
mod page;
mod pareto;
mod search;
mod table;
mod timeline;

use minijinja::{Environment, Value, context};

use super::data::RunData;

const TEMPLATE: &str = include_str!("../../templates/report.html.j2");
/// uPlot (MIT), vendored: see assets/uplot/README.md.
const UPLOT_JS: &str = include_str!("../../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../assets/uplot/uPlot.min.css");
const REPORT_JS: &str = include_str!("../../assets/report.js");
const REPORT_CSS: &str = include_str!("../../assets/report.css");

/// The HTML report of `run`, with `compare` overlaid.
pub fn render(run: &RunData, compare: &[RunData]) -> String {
    let page = page::build(run, compare);
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let rendered = env
        .add_template("report.html.j2", TEMPLATE)
        .and_then(|()| env.get_template("report.html.j2"))
        .and_then(|t| {
            t.render(context! {
                page => minijinja::value::Serde(&page),
                data_json => Value::from_safe_string(script_json(&page.data)),
                uplot_js => Value::from_safe_string(UPLOT_JS.to_string()),
                uplot_css => Value::from_safe_string(UPLOT_CSS.to_string()),
                report_js => Value::from_safe_string(REPORT_JS.to_string()),
                report_css => Value::from_safe_string(REPORT_CSS.to_string()),
            })
        });
    rendered.unwrap_or_else(|e| {
        // a template error is mlxrun's bug; the page still says what happened
        let why = e.to_string().replace('&', "&amp;").replace('<', "&lt;");
        format!(
            "<!doctype html><meta charset=\"utf-8\"><title>report {}</title><p>mlxrun could not render this report: {why}</p><p>next: report it; report.md and report.jsonl hold the same data</p>",
            run.run_id.replace('&', "&amp;").replace('<', "&lt;")
        )
    })
}

/// `value` as JSON that is safe inside a `<script>` element: every `<`
/// is written as `\u003c`, so no string in it can close the element
/// (`</script>`) or open a comment (`<!--`); JSON.parse reads it back as is.
pub fn script_json(value: &serde_json::Value) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
}

#[cfg(test)]
mod tests;
