//! Tests of the command line: the clap definition is consistent, every
//! subcommand shows examples that run mlxrun, the top-level examples name
//! real subcommands, and arguments parse into the commands they mean.

use super::*;
use clap::CommandFactory;

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

/// Every subcommand, nested ones too, shows an `Examples:` block whose
/// lines run mlxrun.
#[test]
fn every_subcommand_has_examples() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for sub in cmd.get_subcommands() {
            let name = format!("{path} {}", sub.get_name());
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let ok = help.split_once("Examples:\n").is_some_and(|(_, rest)| {
                rest.lines().next().is_some_and(|l| {
                    l.trim_start().starts_with("mlxrun ") || l.contains(" mlxrun ")
                })
            });
            if !ok {
                missing.push(name.clone());
            }
            walk(sub, &name, missing);
        }
    }
    let mut missing = Vec::new();
    walk(&Cli::command(), "mlxrun", &mut missing);
    assert!(
        missing.is_empty(),
        "no Examples: block in --help of {missing:?}"
    );
}

/// The top-level Examples list names only subcommands that exist, and
/// every subcommand appears in it.
#[test]
fn the_top_level_examples_are_true() {
    let cmd = Cli::command();
    let names: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
    let examples = AFTER_HELP.split("\n\n").next().unwrap();
    for line in examples.lines().skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = words.iter().position(|w| *w == "mlxrun") else {
            continue;
        };
        let next = words.get(i + 1).copied().unwrap_or_default();
        assert!(
            names.contains(&next) || next.ends_with(".toml"),
            "`{line}`: `{next}` is neither a subcommand nor a scenario"
        );
    }
    for n in names.iter().filter(|n| !["run", "help"].contains(n)) {
        assert!(
            examples.contains(&format!("mlxrun {n} ")),
            "the top-level examples do not show `mlxrun {n}`"
        );
    }
}

#[test]
fn serve_init_and_completions_parse() {
    let c = Cli::parse_from([
        "mlxrun", "serve", "up", "s.toml", "--config", "2", "--set", "a.b=1",
    ]);
    let Some(Command::Serve(ServeCommand::Up {
        scenario,
        sets,
        config,
    })) = c.command
    else {
        panic!("not serve up")
    };
    assert_eq!(
        (scenario, sets, config),
        ("s.toml".into(), vec!["a.b=1".to_string()], 2)
    );
    let c = Cli::parse_from(["mlxrun", "serve", "status", "d", "--json"]);
    assert!(matches!(
        c.command,
        Some(Command::Serve(ServeCommand::Status { json: true, .. }))
    ));
    let c = Cli::parse_from(["mlxrun", "init"]);
    let Some(Command::Init { path, model, force }) = c.command else {
        panic!("not init")
    };
    assert_eq!(
        (path, model, force),
        ("scenarios/my_sweep.toml".into(), None, false)
    );
    assert!(Cli::try_parse_from(["mlxrun", "completions", "tcsh"]).is_err());
    assert!(Cli::try_parse_from(["mlxrun", "completions", "fish"]).is_ok());
}

#[test]
fn analyze_order_is_asc_or_desc_and_desc_by_default() {
    let order = |extra: &[&str]| {
        let mut args = vec!["mlxrun", "analyze", "f.csv"];
        args.extend_from_slice(extra);
        Cli::try_parse_from(args).map(|c| match c.command {
            Some(Command::Analyze { order, .. }) => order,
            other => panic!("not analyze: {other:?}"),
        })
    };
    assert_eq!(order(&[]).unwrap(), SortOrder::Desc);
    assert_eq!(order(&["--order", "asc"]).unwrap(), SortOrder::Asc);
    assert_eq!(order(&["--order", "desc"]).unwrap(), SortOrder::Desc);
    assert!(order(&["--order", "Asc"]).is_err());
}

#[test]
fn bare_scenario_and_subcommands_parse() {
    let c = Cli::parse_from(["mlxrun", "s.toml", "--set", "a.b=1"]);
    assert!(c.command.is_none());
    assert_eq!(c.run.scenario, Some(PathBuf::from("s.toml")));
    assert_eq!(c.run.sets, vec!["a.b=1".to_string()]);
    let c = Cli::parse_from(["mlxrun", "plan", "s.toml"]);
    assert!(matches!(c.command, Some(Command::Plan { .. })));
}

#[test]
fn no_arguments_and_launch_parse_for_the_launcher() {
    let c = Cli::parse_from(["mlxrun"]);
    assert!(c.command.is_none() && c.run.scenario.is_none() && c.run.resume.is_none());
    let c = Cli::parse_from(["mlxrun", "launch"]);
    assert!(matches!(c.command, Some(Command::Launch)));
    assert!(Cli::try_parse_from(["mlxrun", "launch", "x.toml"]).is_err());
}

#[test]
fn resume_parses_as_a_command_and_as_a_run_option() {
    let c = Cli::parse_from(["mlxrun", "resume", "results/s/s_1", "--set", "a.b=1"]);
    let Some(Command::Resume {
        run_dir,
        sets,
        plain,
    }) = c.command
    else {
        panic!("not resume")
    };
    assert_eq!(run_dir, PathBuf::from("results/s/s_1"));
    assert_eq!((sets, plain), (vec!["a.b=1".to_string()], false));
    let c = Cli::parse_from(["mlxrun", "run", "s.toml", "--resume", "results/s/s_1"]);
    let Some(Command::Run(args)) = c.command else {
        panic!("not run")
    };
    assert_eq!(args.resume, Some(PathBuf::from("results/s/s_1")));
    let c = Cli::parse_from(["mlxrun", "s.toml", "--resume", "d"]);
    assert_eq!(c.run.resume, Some(PathBuf::from("d")));
}

#[test]
fn stub_server_flags_parse_with_defaults() {
    let c = Cli::parse_from(["mlxrun", "stub-server"]);
    let Some(Command::StubServer(cfg)) = c.command else {
        panic!("not stub-server")
    };
    assert_eq!(cfg, crate::stub::StubConfig::default());
    let c = Cli::parse_from([
        "mlxrun",
        "stub-server",
        "--port",
        "0",
        "--ttft-ms",
        "1.5",
        "--itl-ms",
        "0.25",
        "--tokens",
        "9",
        "--max-tokens-cap",
        "4",
        "--burst",
        "--error-rate",
        "0.5",
        "--error-status",
        "503",
        "--seed",
        "3",
        "--model",
        "m",
    ]);
    let Some(Command::StubServer(cfg)) = c.command else {
        panic!("not stub-server")
    };
    assert_eq!(
        (
            cfg.port,
            cfg.ttft_ms,
            cfg.itl_ms,
            cfg.tokens,
            cfg.max_tokens_cap
        ),
        (0, 1.5, 0.25, 9, Some(4))
    );
    assert!(cfg.burst);
    assert_eq!(
        (
            cfg.error_rate,
            cfg.error_status,
            cfg.seed,
            cfg.model.as_str()
        ),
        (0.5, 503, 3, "m")
    );
    for bad in [
        &["--error-rate", "1.5"][..],
        &["--ttft-ms", "-1"],
        &["--itl-ms", "nan"],
        &["--error-status", "200"],
    ] {
        let mut args = vec!["mlxrun", "stub-server"];
        args.extend_from_slice(bad);
        assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
    }
}

#[test]
fn monitor_takes_a_command_after_dashes_or_a_duration() {
    let parse = |args: &[&str]| {
        let mut v = vec!["mlxrun", "monitor"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).map(|c| match c.command {
            Some(Command::Monitor(m)) => m,
            other => panic!("not monitor: {other:?}"),
        })
    };
    let m = parse(&["--", "sh", "-c", "exit 3"]).unwrap();
    assert_eq!(m.interval, 200);
    assert_eq!(m.output, PathBuf::from("monitor.jsonl"));
    assert_eq!(m.duration, None);
    assert_eq!(m.command, ["sh", "-c", "exit 3"]);
    let m = parse(&[
        "--interval",
        "50",
        "--output",
        "x.jsonl",
        "--duration",
        "1.5",
    ])
    .unwrap();
    assert_eq!((m.interval, m.duration.map(|d| d.get())), (50, Some(1.5)));
    assert!(m.command.is_empty());
    // neither is a usage error at run time (exit 2), not a parse error
    assert!(parse(&[]).unwrap().command.is_empty());
    for bad in [
        &["--duration", "5", "--", "sleep", "1"][..],
        &["--duration", "0"],
        &["--duration", "inf"],
        &["--duration", "1e20"],
        &["--duration", "2592001"],
        &["--interval", "0"],
        &["sleep", "1"],
        &["--until-eof", "--duration", "5"],
        &["--until-eof", "--", "sleep", "1"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
    let m = parse(&["--until-eof", "--output", "-"]).unwrap();
    assert!(m.until_eof && m.command.is_empty() && m.duration.is_none());
    assert_eq!(m.output, PathBuf::from("-"));
}

#[test]
fn calibrate_counts_are_bounded_as_they_are_parsed() {
    let parse = |args: &[&str]| {
        let mut v = vec!["mlxrun", "calibrate"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v)
    };
    assert!(parse(&["--requests", "1000000", "--concurrency", "65536"]).is_ok());
    for bad in [
        &["--requests", "0"][..],
        &["--requests", "1000001"],
        &["--requests", "18446744073709551615"],
        &["--concurrency", "0"],
        &["--concurrency", "65537"],
        &["--tokens", "4294967295"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}
