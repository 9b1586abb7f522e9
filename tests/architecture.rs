//! The layers of `src/`, and the one rule that keeps them: **no import runs
//! up a layer.** [`LAYERS`] lists mlxrun's top-level modules from the bottom
//! (plumbing) to the top (the front doors); a module may name
//! (`crate::other`) only the modules listed before it. Test code (a
//! `#[cfg(test)] mod tests` block, a `tests.rs` file) may reach anywhere;
//! comments are not imports.
//!
//! A new top-level module must be placed in [`LAYERS`] (the test fails for
//! a `pub mod` of `lib.rs` that is not there), and an import that goes
//! upward fails here with the file, the line and both layers. Fix it by
//! moving the code to where it belongs (usually: plain data down to
//! `spec`, a helper down beside its data), not by moving the rule.

use std::path::{Path, PathBuf};

/// mlxrun's top-level modules, bottom to top, in bands.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "plumbing: processes, signals, time and exit codes; nothing about benchmarks",
        &[
            "limits",
            "timer",
            "shutdown",
            "supervisor",
            "error",
            "procs",
            "durable",
            "remote",
        ],
    ),
    ("plain data: what the TOML files say", &["spec"]),
    (
        "the parts a scenario is built from: backends, prompts, media",
        &["backend", "workload", "media"],
    ),
    (
        "a scenario file loaded, checked and expanded into its plan",
        &["scenario"],
    ),
    (
        "the client engine, and the numbers computed from its records",
        &["load", "metrics"],
    ),
    (
        "the machine during a run: sampler, memory gate",
        &["monitor", "gate"],
    ),
    ("servers: processes, readiness, nginx", &["server"]),
    (
        "what a run writes, the reports read back from it, and resuming it",
        &["output", "report", "resume"],
    ),
    (
        "the search over a scenario's matrix: what to measure next",
        &["tune"],
    ),
    (
        "the run: the sweep, configuration by configuration",
        &["run"],
    ),
    ("tools and one-shot commands", &["stub", "cmd"]),
    ("front doors", &["serve", "launcher", "cli"]),
];

/// The modules in order, bottom first.
fn order() -> Vec<&'static str> {
    LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `(line number, module named)` for every `crate::module` in the
/// non-test code of `text`.
fn names(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            // skip a `mod tests { … }` block to its closing brace
            let next = (i + 1..lines.len()).find(|&k| !lines[k].trim().is_empty());
            if let Some(k) = next
                && lines[k].contains("mod tests")
                && lines[k].contains('{')
            {
                let mut depth = 0i32;
                let mut k = k;
                while k < lines.len() {
                    depth += lines[k].matches('{').count() as i32;
                    depth -= lines[k].matches('}').count() as i32;
                    k += 1;
                    if depth <= 0 {
                        break;
                    }
                }
                i = k;
                continue;
            }
        }
        i += 1;
        if t.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // e.g. `mlxrun_crate::`
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // a module (lowercase), not an item of the crate root (`VERSION`)
            if name.starts_with(|c: char| c.is_ascii_lowercase()) {
                out.push((i, name));
            }
        }
    }
    out
}

#[test]
fn no_import_runs_up_a_layer() {
    let order = order();
    let rank = |m: &str| order.iter().position(|x| *x == m);
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let mut upward = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "main" || top == "lib" || rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let Some(own) = rank(&top) else {
            panic!("src/{} is in a module LAYERS does not place", rel.display());
        };
        let text = std::fs::read_to_string(f).unwrap();
        for (line, named) in names(&text) {
            if named == top {
                continue;
            }
            match rank(&named) {
                Some(r) if r < own => {}
                Some(_) => upward.push(format!(
                    "src/{}:{line}: `{top}` names `crate::{named}`, a layer above it",
                    rel.display()
                )),
                None => upward.push(format!(
                    "src/{}:{line}: `crate::{named}` is not a module LAYERS places",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run up a layer (see LAYERS in tests/architecture.rs):\n{}",
        upward.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let mut listed = order();
    listed.sort_unstable();
    let mut sorted = declared.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted, listed,
        "lib.rs's modules and LAYERS in tests/architecture.rs must name the same modules"
    );
}

#[test]
fn the_checker_sees_an_upward_import_and_skips_tests_and_comments() {
    let text = "//! docs name crate::run freely\nuse crate::spec::scenario::Scenario;\nfn f() { crate::run::go(crate::VERSION); }\n#[cfg(test)]\nmod tests {\n    fn g() {\n        crate::cli::x();\n    }\n}\nfn after() { crate::serve::y(); }\n";
    assert_eq!(
        names(text),
        [
            (2, "spec".to_string()),
            (3, "run".to_string()),
            (10, "serve".to_string())
        ]
    );
}
