//! The `qusers` binary: everything lives in the library.

fn main() {
    std::process::exit(qusers::cli::main());
}
