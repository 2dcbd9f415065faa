//! What the facade brings into a user's crate graph. Everything a test links is in
//! scope for trait selection, so a dependency that adds impls on std's types changes
//! what user code means: `serde_json`'s `impl PartialEq<Value> for u32` makes the
//! `assert_eq!` below ambiguous (E0283), as it did in tokio's own `time_interval`
//! tests when detsim wrote its trace files with `serde_json`. This module guards by
//! compiling: it builds only while no crate the user links adds such impls.

// Loads detsim's crate graph in the plain build too (the simulated one links it
// through the facade).
use detsim as _;

#[test]
fn an_empty_vec_literal_compares_without_type_annotations() {
    let items: Vec<u32> = Vec::new();
    assert_eq!(items, vec![]);
    let counts: Vec<u64> = vec![1, 2];
    assert_ne!(counts, vec![]);
}
