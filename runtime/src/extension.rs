//! Run-scoped state for crates built on the runtime (the simulated network of
//! `detsim-net`, for one): a slot per type that lives exactly as long as one run.
//!
//! Invariants:
//! - a value is created by the first [`run_state`] call of a run that asks for its type,
//!   and dropped when the run ends (after every task has been dropped, so tasks'
//!   destructors can still reach it) or, at the latest, when the next run starts: no
//!   state leaks from one run into the next;
//! - the core is not borrowed while `init` runs or while the value is used: the value
//!   is handed out as an `Rc`, and its own interior mutability is its owner's business;
//! - lookups walk a short `Vec` in creation order, never a hash map;
//! - a run's inputs ([`run_input`], set by the runtime's owner with
//!   [`Runtime::set_run_input`](crate::Runtime::set_run_input)) hold for every run until
//!   replaced, and its outputs ([`set_run_output`], taken with
//!   [`Runtime::take_run_output`](crate::Runtime::take_run_output)) are cleared when the
//!   next run starts: per-run data goes in and out this way, never through thread-locals.

use std::any::{Any, TypeId};
use std::rc::Rc;

use crate::context;

/// The run's value of type `T`, created with `init` on first use in this run.
///
/// The value is dropped when the run ends. `init` runs outside any borrow of the
/// executor, so it may call other free functions (`time::now`, [`crate::choice::run_stream`]).
///
/// # Panics
/// Outside a simulation.
pub fn run_state<T: Any>(init: impl FnOnce() -> T) -> Rc<T> {
    if let Some(value) = try_run_state::<T>() {
        return value;
    }
    let fresh: Rc<dyn Any> = Rc::new(init());
    let value = context::with_core("detsim_runtime::extension::run_state", |core| {
        core.extension_or_insert(TypeId::of::<T>(), fresh)
    });
    value
        .downcast::<T>()
        .unwrap_or_else(|_| unreachable!("extensions are keyed by their type"))
}

/// The run's value of type `T` if this run created one; `None` otherwise and outside a
/// simulation.
pub fn try_run_state<T: Any>() -> Option<Rc<T>> {
    let value = context::try_with_core(|core| core.extension(TypeId::of::<T>())).flatten()?;
    Some(
        value
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("extensions are keyed by their type")),
    )
}

/// The run's input of type `T`, as the runtime's owner set it with
/// [`Runtime::set_run_input`](crate::Runtime::set_run_input); `None` if it set none, and
/// outside a simulation.
pub fn run_input<T: Any + Clone>() -> Option<T> {
    context::try_with_core(|core| {
        core.run_inputs
            .iter()
            .find(|(id, _)| *id == TypeId::of::<T>())
            .and_then(|(_, value)| value.downcast_ref::<T>().cloned())
    })
    .flatten()
}

/// Leaves `value` as the run's output of type `T` (replacing an earlier one), for the
/// runtime's owner to take after the run with
/// [`Runtime::take_run_output`](crate::Runtime::take_run_output).
///
/// # Panics
/// Outside a simulation.
pub fn set_run_output<T: Any>(value: T) {
    context::with_core("detsim_runtime::extension::set_run_output", |core| {
        core.run_outputs.retain(|(id, _)| *id != TypeId::of::<T>());
        core.run_outputs.push((TypeId::of::<T>(), Box::new(value)));
    });
}
