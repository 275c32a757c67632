//! The `civictext` command. All the work happens in the library.

fn main() -> std::process::ExitCode {
    civictext::cli::main()
}
