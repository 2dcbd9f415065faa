//! Procedural macros of detsim: `#[detsim::test]`, and, for the tokio facade
//! (`detsim-tokio`) under `--cfg detsim`, `#[tokio::test]`, `#[tokio::main]` and the
//! seeded `select!`.
//!
//! # Design
//! - `#[detsim::test]` ([`test`]) turns an `async fn` into a `#[test]` that runs its body
//!   as a detsim sweep: `::detsim::Builder::new()…check(|| async { body })`.
//! - [`tokio_test`] and [`tokio_main`] are what `detsim-tokio` exports as
//!   `#[tokio::test]` and `#[tokio::main]` under `--cfg detsim`; they accept tokio's
//!   arguments and call into the facade's hidden `__private` module (at `::tokio` by
//!   default, or the path given by `crate = "…"`, as tokio's own macros do).
//! - [`select_impl`] is the body of the facade's `select!`: a `macro_rules!` wrapper
//!   passes its `$crate` so the expansion finds the facade under any name. Unless the
//!   `select!` is `biased;`, every poll of it asks the run for a
//!   `DecisionKind::Select` decision among the enabled branches, and polls them in
//!   source order starting from the chosen one (tokio draws that start from a thread
//!   RNG instead); the decision is recorded, replayed and shrunk like a task choice.
//!
//! # Determinism
//! Expansions contain no randomness of their own: the only choice a `select!` makes
//! goes through the run's chooser.
//!
//! # Example
//! ```ignore
//! #[detsim::test(seeds = 500, scheduler = "pct:3")]
//! async fn counter() {
//!     let handle = detsim::spawn(async { 1 + 1 });
//!     assert_eq!(handle.await.unwrap(), 2);
//! }
//! ```

mod select;
mod test;

use proc_macro::TokenStream;

/// Runs an `async fn` as a detsim test: a `#[test]` whose body is swept over seeds with
/// `detsim::Builder` (every `DETSIM_*` variable applies), failing with detsim's report
/// and replay command.
///
/// Arguments (all optional): `seeds = N` (the sweep's length, default
/// `detsim::DEFAULT_SEEDS`; `DETSIM_SEEDS` overrides), `scheduler = "pct:3"` (any
/// value `DETSIM_SCHEDULER` accepts; the variable overrides) and `exhaustive = K`
/// (every schedule with at most `K` deviations from FIFO order instead of seeds, as
/// `detsim::Builder::exhaustive`; `DETSIM_EXHAUSTIVE` overrides). The function takes no
/// arguments and returns `()` or a `Result<(), E: Debug>` (an `Err` fails the seed).
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test::detsim_test(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// `#[tokio::test]` of the tokio facade under `--cfg detsim`: the body runs as a detsim
/// sweep (see the facade's docs for the default seed count and what `flavor`,
/// `worker_threads` and `start_paused` mean in simulation).
#[proc_macro_attribute]
pub fn tokio_test(args: TokenStream, item: TokenStream) -> TokenStream {
    test::tokio_test(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// `#[tokio::main]` of the tokio facade under `--cfg detsim`: `main` runs its body as
/// one simulation on the facade's `Runtime` (seed 0, or `DETSIM_SEED`).
#[proc_macro_attribute]
pub fn tokio_main(args: TokenStream, item: TokenStream) -> TokenStream {
    test::tokio_main(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The body of the facade's `select!`; called as `select_impl!(($crate) branches…)`.
/// Not meant to be called directly.
#[doc(hidden)]
#[proc_macro]
pub fn select_impl(input: TokenStream) -> TokenStream {
    select::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
