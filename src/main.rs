fn main() -> std::process::ExitCode {
    xgen_desk::cli::main()
}
