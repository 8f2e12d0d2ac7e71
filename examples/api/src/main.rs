//! The `api` binary: the SwiftBox shop API (see the crate docs and [`swiftbox_api_example::run()`]).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match swiftbox_api_example::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
