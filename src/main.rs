//! The `mlxrun` binary: parse arguments, run the library, map the outcome to
//! an exit code (see `mlxrun --help`).

use clap::Parser;

fn main() {
    // `mlxrun __supervise …`: this executable as the supervisor of one
    // child (see mlxrun::supervisor); nothing else of mlxrun runs
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv
        .get(1)
        .is_some_and(|a| a == mlxrun::supervisor::SUBCOMMAND)
    {
        std::process::exit(mlxrun::supervisor::watch::main(&argv[1..]));
    }
    // `mlxrun __host …`: what mlxrun runs on another host over ssh
    if argv
        .get(1)
        .is_some_and(|a| a == mlxrun::remote::HOST_SUBCOMMAND)
    {
        std::process::exit(mlxrun::remote::host_main(&argv[1..]));
    }
    if let Ok(me) = std::env::current_exe() {
        mlxrun::supervisor::set_program(me);
    }
    // before anything starts: children (servers, nginx) inherit it
    let _ = mlxrun::limits::raise_open_files();
    let cli = mlxrun::cli::Cli::parse();
    mlxrun::shutdown::install_panic_hook();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(mlxrun::cli::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            mlxrun::run::exit_code_of(&e)
        }
    };
    // a panic on another thread ends the process with its own code
    mlxrun::shutdown::hold_while_panicking();
    mlxrun::shutdown::terminate_all_blocking(std::time::Duration::from_secs(5));
    drop(runtime);
    std::process::exit(code);
}
