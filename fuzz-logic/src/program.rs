//! The `program` target: generated task programs run on detsim, checked against the
//! runtime's semantics.
//!
//! An input is split by [`arbitrary`] into a [`Program`] (a few task [`Spec`]s, each a
//! short list of [`Op`]s; spec 0 is the root future) and the rest of the bytes, which
//! drive the schedule and the random words through [`detsim::fuzz`]. Every input runs
//! twice with the trace on ([`Fuzzer::check_determinism`]), and a ledger shared by the
//! tasks of a run checks, as the program runs and once it has ended:
//!
//! - **lazy start**: a task has not started when `spawn` returns to its creator;
//! - **results propagate**: joining a task gives exactly the output it returned, or
//!   its panic with the original message, or `cancelled` if it was aborted unfinished;
//! - **cancellation**: an aborted task's code never runs again, and its future has been
//!   dropped by the time its handle reports `cancelled`;
//! - **drops**: when the run is over, every task's future has been dropped exactly once;
//! - **no early timers**: `sleep(d)` never returns before `d` has passed;
//! - **time stands still while a task is ready**: `yield_now` resumes at the instant
//!   it was called;
//! - **ids**: a task's `task::id()` is the id its handle reports;
//! - **failures are never swallowed, and only real ones are reported**: the run fails
//!   exactly when the root panicked or a task panicked with nobody left to read it (its
//!   handle was dropped), with that panic's message; never with a deadlock or livelock
//!   (the programs cannot stall: a task joins only its own children and sleeps are
//!   finite);
//! - **determinism**: the two runs of an input make the same trace.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use detsim::fuzz::{FuzzFailure, Fuzzer};
use detsim::{JoinHandle, random, spawn, time, yield_now};

/// At most this many task specs in a program.
pub const MAX_SPECS: usize = 4;
/// At most this many ops in a spec.
pub const MAX_OPS: usize = 12;
/// At most this many tasks spawned in one run (spawns past it do nothing), which keeps
/// a spec that spawns itself finite.
pub const MAX_TASKS: usize = 24;
/// The poll budget of a run; the programs are far shorter.
const MAX_STEPS: u64 = 20_000;

/// A generated program: task specs, of which spec 0 is the root future.
///
/// Its [`Arbitrary`] encoding is dense, so that every byte string is a program of a
/// useful size: one byte for the number of specs (`1 + b % MAX_SPECS`), then per spec
/// one byte for its number of ops (`b % (MAX_OPS + 1)`) and the ops (derived encoding:
/// a 32-bit variant choice, then a `u8` payload where the op has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// What each kind of task does; `Op::Spawn(s)` starts a task running spec `s`.
    pub specs: Vec<Spec>,
}

/// What a task does: its ops in order, then it joins the children it still holds and
/// returns its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The ops, run in order.
    pub ops: Vec<Op>,
}

/// One step of a task. Child indices are taken modulo the number of children the task
/// holds (an op on a task with no children does nothing).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Spawn a child running spec `s % specs`.
    Spawn(u8),
    /// `yield_now().await`.
    Yield,
    /// Sleep for `ms % 16` virtual milliseconds (zero included).
    Sleep(u8),
    /// Draw a `detsim::random::<u64>()` into the output.
    Random,
    /// Await a child's handle and check its result.
    Join(u8),
    /// Abort a child (it stays in the list, to be joined later).
    Abort(u8),
    /// Drop a child's handle unread.
    Detach(u8),
    /// Panic with the message `task {n} panics`.
    Panic,
}

impl<'a> Arbitrary<'a> for Program {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let specs = 1 + usize::from(u8::arbitrary(u)?) % MAX_SPECS;
        let specs = (0..specs)
            .map(|_| {
                let ops = usize::from(u8::arbitrary(u)?) % (MAX_OPS + 1);
                let ops = (0..ops)
                    .map(|_| Op::arbitrary(u))
                    .collect::<Result<_, _>>()?;
                Ok(Spec { ops })
            })
            .collect::<arbitrary::Result<_>>()?;
        Ok(Program { specs })
    }
}

impl Program {
    /// Splits an input into a program and the bytes after it, which drive its
    /// schedule (decisions from their front, random words from their back). An input
    /// that runs out early ends in empty specs.
    pub fn split(data: &[u8]) -> (Program, &[u8]) {
        let mut u = Unstructured::new(data);
        let program = Program::arbitrary(&mut u).unwrap_or_else(|_| Program {
            specs: vec![Spec { ops: vec![] }],
        });
        (program, u.take_rest())
    }
}

/// What went wrong in a run of a program: a broken invariant.
#[derive(Debug)]
pub struct Violation {
    /// What was broken, one line per finding.
    pub findings: Vec<String>,
    /// The run's failure, when the run failed.
    pub failure: Option<FuzzFailure>,
    /// The program that broke it.
    pub program: Program,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "detsim broke its semantics on a generated program:")?;
        for finding in &self.findings {
            writeln!(f, "  - {finding}")?;
        }
        writeln!(f, "program: {:?}", self.program)?;
        if let Some(failure) = &self.failure {
            writeln!(f)?;
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// Runs the program in `data` under the schedule in the rest of `data` and checks the
/// runtime's semantics (see the module docs). When they hold, returns how the run
/// ended: `None` if it passed, else the failure it reported (always one of the
/// program's unread panics).
pub fn run(data: &[u8]) -> Result<Option<String>, Box<Violation>> {
    let (program, tape) = Program::split(data);
    run_program(program, tape)
}

/// Runs `program` with its schedule and random words read from `tape` (as
/// [`detsim::fuzz::run`] reads them) and checks the runtime's semantics; see [`run`].
pub fn run_program(program: Program, tape: &[u8]) -> Result<Option<String>, Box<Violation>> {
    let program = Rc::new(program);
    let ledgers: RefCell<Vec<Rc<RefCell<Ledger>>>> = RefCell::new(Vec::new());
    let outcome = Fuzzer::new()
        .max_polls(MAX_STEPS)
        .check_determinism(true)
        // A failing run here is mostly an expected one (an unread panic): no shrinking.
        .shrink_budget(0, Duration::ZERO)
        .run(tape, || {
            let ledger = Rc::new(RefCell::new(Ledger::default()));
            ledgers.borrow_mut().push(ledger.clone());
            let program = program.clone();
            async move {
                let root = ledger.borrow_mut().add();
                run_task(ledger, program, root, 0).await;
            }
        });
    let ledgers = ledgers.into_inner();
    let mut findings = Vec::new();
    for (run, ledger) in ledgers.iter().enumerate() {
        let ledger = ledger.borrow();
        findings.extend(ledger.findings.iter().map(|f| format!("run {run}: {f}")));
        for (n, task) in ledger.tasks.iter().enumerate().skip(1) {
            if task.drops != 1 {
                findings.push(format!(
                    "run {run}: task {n}'s future was dropped {} times by the end of the run, \
                     not once",
                    task.drops
                ));
            }
        }
    }
    let first = ledgers.first().map(|l| l.borrow());
    let first = first.as_deref().expect("the body ran");
    let unread_panics: Vec<String> = first
        .tasks
        .iter()
        .enumerate()
        .filter(|(n, t)| t.panicked && (*n == 0 || t.detached))
        .map(|(n, _)| panic_message(n))
        .collect();
    match &outcome {
        Ok(()) if !unread_panics.is_empty() => findings.push(format!(
            "the run passed, but these panics were never read: {unread_panics:?}"
        )),
        Ok(()) => {}
        Err(failure) if !unread_panics.contains(&failure.message) => findings.push(format!(
            "the run failed with `{}`, but the only failures it may report are the unread \
             panics {unread_panics:?}",
            failure.message
        )),
        Err(_) => {}
    }
    if findings.is_empty() {
        return Ok(outcome.err().map(|failure| failure.message));
    }
    Err(Box::new(Violation {
        findings,
        failure: outcome.err(),
        program: Rc::unwrap_or_clone(program),
    }))
}

/// Like [`run`], then panics with the violation: what the fuzz target calls.
pub fn check(data: &[u8]) {
    if let Err(violation) = run(data) {
        panic!("{violation}");
    }
}

fn panic_message(task: usize) -> String {
    format!("task {task} panics")
}

/// What the tasks of one run saw, indexed by task number (0 is the root).
#[derive(Debug, Default)]
struct Ledger {
    tasks: Vec<Record>,
    findings: Vec<String>,
}

#[derive(Debug, Default)]
struct Record {
    started: bool,
    /// `task::id()` as the task saw it.
    id: Option<detsim::task::Id>,
    /// The output it returned.
    output: Option<u64>,
    panicked: bool,
    /// `abort` was called while the task was unfinished.
    aborted: bool,
    /// Its handle was dropped unread.
    detached: bool,
    /// How many times its future was dropped.
    drops: u32,
}

impl Ledger {
    fn add(&mut self) -> usize {
        self.tasks.push(Record::default());
        self.tasks.len() - 1
    }

    fn find(&mut self, finding: String) {
        self.findings.push(finding);
    }
}

/// Counts the drop of a task's future: it lives in the future from its creation.
struct DropCount {
    ledger: Rc<RefCell<Ledger>>,
    task: usize,
}

impl Drop for DropCount {
    fn drop(&mut self) {
        self.ledger.borrow_mut().tasks[self.task].drops += 1;
    }
}

/// A child's handle; dropping it unread marks the child detached.
struct Child {
    handle: Option<JoinHandle<u64>>,
    task: usize,
    ledger: Rc<RefCell<Ledger>>,
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.handle.is_some() {
            self.ledger.borrow_mut().tasks[self.task].detached = true;
        }
        // The handle drops after this, outside any ledger borrow.
    }
}

/// Runs task `me` with spec `spec`: its ops, then the joins of its remaining children.
async fn run_task(
    ledger: Rc<RefCell<Ledger>>,
    program: Rc<Program>,
    me: usize,
    spec: usize,
) -> u64 {
    {
        let mut ledger = ledger.borrow_mut();
        ledger.tasks[me].started = true;
        ledger.tasks[me].id = Some(detsim::task::id());
    }
    let mut children: Vec<Child> = Vec::new();
    // Children this task aborted unfinished: their futures must be gone by the time
    // this task resumes from its next await (the executor has stepped since).
    let mut aborted: Vec<usize> = Vec::new();
    let mut output = (me as u64) << 32;
    for (step, &op) in program.specs[spec].ops.iter().enumerate() {
        if ledger.borrow().tasks[me].aborted {
            ledger
                .borrow_mut()
                .find(format!("task {me} ran op {step} after it was aborted"));
        }
        output = output.wrapping_mul(31).wrapping_add(step as u64);
        match op {
            Op::Spawn(s) => {
                if ledger.borrow().tasks.len() >= MAX_TASKS {
                    continue;
                }
                let child = ledger.borrow_mut().add();
                let spec = usize::from(s) % program.specs.len();
                let count = DropCount {
                    ledger: ledger.clone(),
                    task: child,
                };
                let future = {
                    let (ledger, program) = (ledger.clone(), program.clone());
                    async move {
                        let _count = &count;
                        run_task(ledger, program, child, spec).await
                    }
                };
                let handle = spawn(future);
                if ledger.borrow().tasks[child].started {
                    ledger.borrow_mut().find(format!(
                        "task {child} started before spawn returned to its creator task {me}"
                    ));
                }
                children.push(Child {
                    handle: Some(handle),
                    task: child,
                    ledger: ledger.clone(),
                });
            }
            Op::Yield => {
                let before = time::now();
                yield_now().await;
                if time::now() != before {
                    ledger.borrow_mut().find(format!(
                        "task {me} yielded at {before:?} and resumed at {:?}: time moved while \
                         it was ready",
                        time::now()
                    ));
                }
                check_aborted_dropped(&ledger, &mut aborted);
            }
            Op::Sleep(ms) => {
                let duration = Duration::from_millis(u64::from(ms % 16));
                let before = time::now();
                time::sleep(duration).await;
                check_aborted_dropped(&ledger, &mut aborted);
                let slept = time::now() - before;
                if slept < duration {
                    ledger.borrow_mut().find(format!(
                        "task {me} slept {slept:?} of a {duration:?} sleep: a timer fired early"
                    ));
                }
            }
            Op::Random => output ^= random::<u64>(),
            Op::Join(c) => {
                if !children.is_empty() {
                    let index = usize::from(c) % children.len();
                    let child = children.remove(index);
                    output ^= join(&ledger, child).await;
                    check_aborted_dropped(&ledger, &mut aborted);
                }
            }
            Op::Abort(c) => {
                if !children.is_empty() {
                    let child = &children[usize::from(c) % children.len()];
                    if let Some(handle) = &child.handle {
                        let finished = handle.is_finished();
                        handle.abort();
                        if !finished {
                            ledger.borrow_mut().tasks[child.task].aborted = true;
                            aborted.push(child.task);
                        }
                    }
                }
            }
            Op::Detach(c) => {
                if !children.is_empty() {
                    let index = usize::from(c) % children.len();
                    drop(children.remove(index));
                }
            }
            Op::Panic => {
                ledger.borrow_mut().tasks[me].panicked = true;
                panic!("{}", panic_message(me));
            }
        }
    }
    while !children.is_empty() {
        let child = children.remove(0);
        output ^= join(&ledger, child).await;
        check_aborted_dropped(&ledger, &mut aborted);
    }
    ledger.borrow_mut().tasks[me].output = Some(output);
    output
}

/// Checks that the futures of the tasks in `aborted` have been dropped, then forgets them.
fn check_aborted_dropped(ledger: &Rc<RefCell<Ledger>>, aborted: &mut Vec<usize>) {
    let mut ledger = ledger.borrow_mut();
    for task in aborted.drain(..) {
        let drops = ledger.tasks[task].drops;
        if drops != 1 {
            ledger.find(format!(
                "task {task} was aborted unfinished, but its future was dropped {drops} times by \
                 the time its aborter resumed"
            ));
        }
    }
}

/// Awaits a child and checks its result against what the child recorded. Returns a
/// value to fold into the joiner's output.
async fn join(ledger: &Rc<RefCell<Ledger>>, mut child: Child) -> u64 {
    let handle = child.handle.as_mut().expect("a held child has its handle");
    let handle_id = handle.id();
    let result = handle.await;
    child.handle = None; // spent: dropping it now is not a detach
    let task = child.task;
    let mut ledger = ledger.borrow_mut();
    let record = &ledger.tasks[task];
    let (aborted, panicked, output, drops) =
        (record.aborted, record.panicked, record.output, record.drops);
    if let Some(id) = record.id
        && id != handle_id
    {
        ledger.find(format!(
            "task {task} ran as {id}, but its handle says {handle_id}"
        ));
    }
    let finding = match &result {
        Ok(value) if aborted => Some(format!(
            "task {task} was aborted unfinished, yet joining it gave Ok({value})"
        )),
        Ok(value) if Some(*value) != output => Some(format!(
            "joining task {task} gave Ok({value}), but it returned {output:?}"
        )),
        Err(error) if aborted && !error.is_cancelled() => Some(format!(
            "task {task} was aborted unfinished, yet joining it gave {error:?}"
        )),
        Err(error) if !aborted && panicked => (error.panic_message()
            != Some(panic_message(task).as_str()))
        .then(|| format!("task {task} panicked, yet joining it gave {error:?}")),
        Err(error) if !aborted => Some(format!(
            "task {task} neither panicked nor was aborted, yet joining it gave {error:?}"
        )),
        _ => None,
    };
    if let Some(finding) = finding {
        ledger.find(finding);
    }
    if drops != 1 {
        ledger.find(format!(
            "task {task} finished and was joined, but its future was dropped {drops} times"
        ));
    }
    match result {
        Ok(value) => value,
        Err(error) if error.is_cancelled() => 1,
        Err(_) => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(specs: &[&[Op]]) -> Program {
        Program {
            specs: specs.iter().map(|ops| Spec { ops: ops.to_vec() }).collect(),
        }
    }

    #[test]
    fn short_inputs_are_programs_too() {
        for data in [&[][..], &[0], &[1, 2, 3], &[0xff; 40], &[0x55; 200]] {
            run(data).unwrap_or_else(|v| panic!("{v}"));
        }
    }

    #[test]
    fn joins_aborts_and_sleeps_under_several_schedules() {
        use Op::*;
        let p = program(&[
            &[
                Spawn(1),
                Spawn(1),
                Spawn(2),
                Yield,
                Abort(0),
                Join(0),
                Sleep(3),
                Join(1),
            ],
            &[Random, Yield, Sleep(5), Spawn(2), Random],
            &[Yield, Yield, Sleep(1)],
        ]);
        for tape in [&[][..], &[0xff; 32], &[0x80, 0x00, 0xc0, 0x40, 0xff, 0x10]] {
            run_program(p.clone(), tape).unwrap_or_else(|v| panic!("{v}"));
        }
    }

    #[test]
    fn a_read_panic_passes_and_an_unread_one_fails_the_run() {
        use Op::*;
        let joined = program(&[&[Spawn(1), Join(0)], &[Yield, Panic]]);
        run_program(joined, &[]).unwrap_or_else(|v| panic!("{v}"));
        // The detached panic is expected to fail the run: not a violation.
        let detached = program(&[&[Spawn(1), Detach(0), Sleep(1)], &[Panic]]);
        run_program(detached, &[]).unwrap_or_else(|v| panic!("{v}"));
        let root = program(&[&[Yield, Panic]]);
        run_program(root, &[]).unwrap_or_else(|v| panic!("{v}"));
    }

    #[test]
    fn the_checker_notices_a_wrong_outcome() {
        // A root that panics with a message the model does not expect: the checker must
        // report it rather than take any failure as fine.
        let ledgers = Rc::new(RefCell::new(Ledger::default()));
        ledgers.borrow_mut().find("planted".to_owned());
        assert_eq!(ledgers.borrow().findings, ["planted"]);
        let violation = Violation {
            findings: vec!["planted".to_owned()],
            failure: None,
            program: program(&[&[]]),
        };
        assert!(violation.to_string().contains("  - planted"));
    }
}
