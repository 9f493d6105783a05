//! The `stadtpuls` binary: command line, logging, exit codes. Everything else is in the crates.

#[cfg(target_os = "linux")]
mod alloc;
mod app;
mod cli;
mod push;

#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: alloc::HugePageAlloc = alloc::HugePageAlloc;

use clap::Parser;

fn main() -> std::process::ExitCode {
    #[cfg(target_os = "linux")]
    alloc::fix_malloc_thresholds();
    let cli = cli::Cli::parse();
    cli::init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cli.command.run());
    // Tasks still running (a Flight SQL call, a connection past its drain) are cancelled;
    // blocking work is not waited for beyond this, so the exit stays bounded.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
