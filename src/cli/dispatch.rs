//! Runs a parsed command line: each subcommand calls into the library and
//! maps its outcome to an exit code.

use std::path::PathBuf;

use super::{Cli, Command, RunArgs, ServeCommand, TuneArgs};
use crate::cmd::analyze::AnalyzeOptions;
use crate::error::{EXIT_BAD_INPUT, EXIT_OK, UsageError};
use crate::run::RunOptions;
use crate::scenario::{Overrides, load};

/// Run the parsed command line; returns the exit code.
pub async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Some(Command::Run(args)) => run_scenario(args).await,
        Some(Command::Tune(args)) => tune_scenario(args).await,
        Some(Command::Resume {
            run_dir,
            sets,
            plain,
        }) => resume(run_dir, sets, plain).await,
        None if cli.run.scenario.is_some() || cli.run.resume.is_some() => {
            run_scenario(cli.run).await
        }
        None => crate::launcher::start(false).await,
        Some(Command::Launch) => crate::launcher::start(true).await,
        Some(Command::Plan { scenario, sets }) => {
            let resolved = load(&scenario, &Overrides::from_process(sets))?;
            let text = crate::cmd::plan::render(&resolved).map_err(UsageError)?;
            print!("{text}");
            Ok(EXIT_OK)
        }
        Some(Command::Validate { files, sets }) => {
            let mut bad = 0;
            for f in &files {
                match load(f, &Overrides::from_process(sets.clone())) {
                    Ok(r) => {
                        let n = r.plan.points.len();
                        println!("ok {} ({n} points)", f.display());
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            Ok(if bad == 0 { EXIT_OK } else { EXIT_BAD_INPUT })
        }
        Some(Command::Analyze {
            file,
            field,
            order,
            count,
            columns,
        }) => {
            let opts = AnalyzeOptions {
                file,
                field,
                order,
                count,
                columns,
            };
            let table =
                crate::cmd::analyze::analyze(&opts).map_err(|e| UsageError(e.to_string()))?;
            print!("{table}");
            Ok(EXIT_OK)
        }
        Some(Command::StubServer(cfg)) => crate::stub::cmd::run(cfg).await,
        Some(Command::Calibrate(args)) => crate::cmd::calibrate::run(args).await,
        Some(Command::Report { run_dir, compare }) => {
            let w = crate::report::write(&run_dir, &compare).map_err(UsageError)?;
            println!("report_md={}", w.markdown.display());
            println!("report_html={}", w.html.display());
            for c in &w.comparisons {
                println!("compare {c}");
            }
            Ok(EXIT_OK)
        }
        Some(Command::ValidateReport { files }) => Ok(crate::cmd::validate_report::run(&files)),
        Some(Command::Monitor(args)) => crate::monitor::cmd::run(args).await,
        Some(Command::Serve(cmd)) => serve(cmd).await,
        Some(Command::Init { path, model, force }) => {
            crate::cmd::init::write(&path, model.as_deref(), force)?;
            Ok(EXIT_OK)
        }
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            use std::io::Write;
            // into a buffer: the generator panics on a write error (a
            // closed pipe, `| head`), which is no error here
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mlxrun", &mut script);
            match std::io::stdout().write_all(&script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(EXIT_OK),
            }
        }
    }
}

async fn serve(cmd: ServeCommand) -> anyhow::Result<i32> {
    match cmd {
        ServeCommand::Up {
            scenario,
            sets,
            config,
        } => {
            crate::serve::up::up(crate::serve::up::UpArgs {
                scenario,
                sets,
                config,
            })
            .await
        }
        ServeCommand::Down { target, sets } => crate::serve::down::down(&target, &sets).await,
        ServeCommand::Status { target, sets, json } => {
            crate::serve::status::status(&target, &sets, json).await
        }
    }
}

async fn run_scenario(mut args: RunArgs) -> anyhow::Result<i32> {
    if let Some(n) = args.repeats {
        // after every --set, as the last word on the field
        args.sets.push(format!("run.repeats={n}"));
    }
    let Some(path) = args.scenario else {
        if let Some(dir) = args.resume {
            return resume(dir, args.sets, args.plain).await;
        }
        return Err(UsageError(
            "no scenario given\n  next: mlxrun run scenarios/quickstart.toml".into(),
        )
        .into());
    };
    let resume = args
        .resume
        .as_deref()
        .map(crate::resume::paths)
        .transpose()?;
    let resolved = load(&path, &Overrides::from_process(args.sets))?;
    run_to_exit(
        &resolved,
        RunOptions {
            plain_progress: args.plain,
            resume,
            tune: false,
        },
    )
    .await
}

/// `mlxrun tune FILE`: the search of the scenario's matrix.
async fn tune_scenario(args: TuneArgs) -> anyhow::Result<i32> {
    let resume = args
        .resume
        .as_deref()
        .map(crate::resume::paths)
        .transpose()?;
    let resolved = load(&args.scenario, &Overrides::from_process(args.sets))?;
    run_to_exit(
        &resolved,
        RunOptions {
            plain_progress: args.plain,
            resume,
            tune: true,
        },
    )
    .await
}

/// `mlxrun resume RUN_DIR`: the run's saved scenario (with `sets`), resumed.
async fn resume(run_dir: PathBuf, sets: Vec<String>, plain: bool) -> anyhow::Result<i32> {
    let paths = crate::resume::paths(&run_dir)?;
    let resolved = crate::resume::saved_scenario(&paths, sets)?;
    // a search resumes as a search
    let tune = paths.run_dir.join(crate::run::tune_log::TUNE_FILE).exists();
    run_to_exit(
        &resolved,
        RunOptions {
            plain_progress: plain,
            resume: Some(paths),
            tune,
        },
    )
    .await
}

/// Run, then map the outcome to an exit code (the run as every front door
/// runs it: [`crate::run::run_to_exit`]).
async fn run_to_exit(
    resolved: &crate::scenario::Resolved,
    opts: RunOptions,
) -> anyhow::Result<i32> {
    Ok(crate::run::run_to_exit(resolved, &opts, crate::run::print_outcome_notes).await)
}
