//! Prints the program, tape length and outcome of `program` target inputs:
//! `cargo run -p detsim-fuzz-logic --example show_program -- FILE...`
use detsim_fuzz_logic::program::{self, Program};

fn main() {
    for path in std::env::args().skip(1) {
        let data = std::fs::read(&path).expect("a readable input file");
        let (p, tape) = Program::split(&data);
        let outcome = match program::run(&data) {
            Ok(None) => "holds; the run passed".to_owned(),
            Ok(Some(failure)) => format!("holds; the run failed with `{failure}`"),
            Err(violation) => format!("VIOLATION\n{violation}"),
        };
        println!(
            "{path}: {} bytes, tape {} bytes, {outcome}",
            data.len(),
            tape.len()
        );
        for (i, spec) in p.specs.iter().enumerate() {
            println!("  spec {i}: {:?}", spec.ops);
        }
    }
}
