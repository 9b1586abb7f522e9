//! The `mlxrun` binary: parse arguments, run the library, map the outcome to
//! an exit code (see `mlxrun --help`).

use clap::Parser;

fn main() {
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
    // The runner is driven on this (main) thread, so children spawned by it
    // get their parent-death signal only when mlxrun itself exits.
    let code = match runtime.block_on(mlxrun::cli::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            mlxrun::error::exit_code(&e)
        }
    };
    mlxrun::shutdown::terminate_all_blocking(std::time::Duration::from_secs(5));
    drop(runtime);
    std::process::exit(code);
}
