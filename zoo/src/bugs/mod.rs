//! The bugs, one per file. Each file owns one body and says what the bug needs of the
//! schedule to show.

mod aba_slot;
mod abba_deadlock;
mod cancel_half_update;
mod cancel_unsafe_timeout;
mod check_then_act;
mod double_checked_init;
mod lost_update;
mod missed_notification;
mod ordering_assumption;
mod rare_three_step;
mod starvation;
mod strict_alternation;
mod timeout_race;
mod uninterrupted_run;

pub use aba_slot::aba_slot;
pub use abba_deadlock::abba_deadlock;
pub use cancel_half_update::cancel_half_update;
pub use cancel_unsafe_timeout::cancel_unsafe_timeout;
pub use check_then_act::check_then_act;
pub use double_checked_init::double_checked_init;
pub use lost_update::lost_update;
pub use missed_notification::missed_notification;
pub use ordering_assumption::ordering_assumption;
pub use rare_three_step::rare_three_step;
pub use starvation::starvation;
pub use strict_alternation::strict_alternation;
pub use timeout_race::timeout_race;
pub use uninterrupted_run::uninterrupted_run;
