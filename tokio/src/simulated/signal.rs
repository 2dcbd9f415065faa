//! `tokio::signal` on detsim: [`ctrl_c`] completes when the simulation sends ctrl-c
//! ([`crate::simulation::send_ctrl_c`]), never on its own. Unix and Windows signal streams
//! (`signal::unix`, `signal::windows`) are not simulated.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::simulation::control;

/// Completes when the simulation sends ctrl-c after this future was first polled
/// (as with tokio, a ctrl-c sent before anyone listens is not seen by later
/// listeners). Never completes otherwise: a test that waits for it and never sends it
/// ends in detsim's deadlock report.
pub async fn ctrl_c() -> io::Result<()> {
    CtrlC { seen: None }.await;
    Ok(())
}

/// Waits for the next ctrl-c after its first poll.
struct CtrlC {
    /// The count of ctrl-c sent in this run when first polled.
    seen: Option<u64>,
}

impl Future for CtrlC {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let sent = control::ctrl_c_count(cx.waker());
        let seen = *self.seen.get_or_insert(sent);
        if sent > seen {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
