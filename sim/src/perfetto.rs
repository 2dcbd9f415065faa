//! Trace files: a run's [`Trace`] in Chrome's trace-event JSON format, which
//! ui.perfetto.dev and `chrome://tracing` open.
//!
//! # What the file holds
//! - one track per task (`pid` 1, `tid` = task number + 1), named as reports name the
//!   task (`t2 reader`, a `thread_name` metadata event) and sorted by id;
//! - a complete slice (`"ph": "X"`) per poll, named `poll` (or `poll, ahead of t1 …`
//!   when the scheduler deviated from asyncio's order), whose `args` give the step,
//!   the simulated time, how many tasks were ready and where a detsim future suspended
//!   the task;
//! - instant events (`"ph": "i"`) for spawns, wakes, completions, panics, aborts,
//!   decisions (`select!` branches, network deliveries, faults), tasks dropped at the
//!   end, and, across every track, clock jumps; a short `timer fired` slice on the
//!   woken task's track for each timer;
//! - flow arrows (`"ph": "s"` / `"f"`, one id each) from each wake, spawn and timer to
//!   the poll it caused;
//! - the run's spans as slices on tracks of their own (`spans.rs`): beside each task,
//!   the locks and permits it held and waited for (`t2 bob · locks`); in a process per
//!   recorded history (`history 1`), a track per client with a slice per operation,
//!   from invocation to completion, indeterminate ones named so, and the operations of
//!   a linearizability violation marked `✗`.
//!
//! # The timeline
//! Polls take no simulated time, so laid out at their simulated time they would have no
//! width. The file lays the run out on a synthetic timeline instead: the run is cut
//! into units — each poll (with the wakes it causes) is one, and so is each stretch of
//! events between polls (a clock jump and the timers it fires, the end of the run) —
//! and unit `u` starts at `ts = simulated time in µs + u`. So `ts` grows with the
//! simulated clock and every poll is a 1 µs slice; the exact simulated time and the
//! step are in each slice's `args`. Events inside a unit are spread evenly across it,
//! in trace order.
//!
//! Tasks are grouped by node ([`detsim_runtime::node`]): the tasks on no node (the
//! root and what it spawns) are process 1, named by the run's title; each node is a
//! process of its own (2, 3, … in order of its first task), named after the node, so
//! Perfetto shows a node's tasks together and can fold them.
//!
//! Invariant: the file depends only on the trace (and the title), so the same run
//! writes the same bytes.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::Duration;

use detsim_runtime::task::Id;
use detsim_runtime::trace::{Event, EventKind, Trace};
use serde::Serialize;

use crate::explain::label;
use crate::report::Failure;

mod spans;

/// The whole file.
#[derive(Serialize)]
struct TraceFile<'a> {
    #[serde(rename = "traceEvents")]
    trace_events: Vec<TraceEvent>,
    #[serde(rename = "displayTimeUnit")]
    display_time_unit: &'static str,
    #[serde(rename = "otherData")]
    other_data: OtherData<'a>,
}

/// Free-form metadata viewers show with the trace.
#[derive(Serialize)]
struct OtherData<'a> {
    title: &'a str,
    timeline: &'static str,
    /// How many of the run's first events the file leaves out (see [`MAX_EVENTS`] and
    /// [`to_json_within`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    left_out: Option<usize>,
    /// What a truncated file leaves out, and why, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// The most trace events a file shows: a longer run (a livelock uses up its whole poll
/// budget) shows its last ones, from the start of a poll, so that the file stays small
/// enough for a browser to open (about 100 MB at most; `DETSIM_TRACE_MAX_MB` caps the
/// file's bytes too, at 20 MB by default: see [`to_json_within`]).
pub(crate) const MAX_EVENTS: usize = 500_000;

/// One trace event (the fields of the trace-event format detsim uses).
#[derive(Serialize)]
struct TraceEvent {
    name: String,
    cat: &'static str,
    ph: &'static str,
    ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u64,
    tid: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    /// Flow binding point: `e` binds a flow end to the slice enclosing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    bp: Option<&'static str>,
    /// Instant scope: `t` (the track) or `g` (every track).
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    /// A color name of the trace viewer (`terrible`: red), for marked slices.
    #[serde(skip_serializing_if = "Option::is_none")]
    cname: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    args: BTreeMap<String, Arg>,
}

/// The value of one of an event's `args`.
#[derive(Serialize)]
#[serde(untagged)]
enum Arg {
    Text(String),
    Number(u64),
    Flag(bool),
}

impl From<String> for Arg {
    fn from(text: String) -> Self {
        Arg::Text(text)
    }
}

impl From<&str> for Arg {
    fn from(text: &str) -> Self {
        Arg::Text(text.to_owned())
    }
}

impl From<u64> for Arg {
    fn from(number: u64) -> Self {
        Arg::Number(number)
    }
}

impl From<bool> for Arg {
    fn from(flag: bool) -> Self {
        Arg::Flag(flag)
    }
}

impl TraceEvent {
    fn new(name: String, cat: &'static str, ph: &'static str, ts: f64, task: Id) -> Self {
        let (pid, tid) = track(task);
        TraceEvent {
            name,
            cat,
            ph,
            ts,
            dur: None,
            pid,
            tid,
            id: None,
            bp: None,
            s: None,
            cname: None,
            args: BTreeMap::new(),
        }
    }

    fn instant(name: String, cat: &'static str, ts: f64, task: Id) -> Self {
        let mut event = TraceEvent::new(name, cat, "i", ts, task);
        event.s = Some("t");
        event
    }

    fn arg(mut self, key: &str, value: impl Into<Arg>) -> Self {
        self.args.insert(key.to_owned(), value.into());
        self
    }
}

/// What the `timeline` metadata says about `ts`.
const TIMELINE: &str = "ts = simulated time in microseconds + one microsecond per poll or \
                        stretch between polls before it; every poll is a 1 us slice; args \
                        carry the exact simulated time and step";

/// The process and thread a task's events go on.
fn track(task: Id) -> (u64, u64) {
    (1, task.as_u64() + 1)
}

fn micros(time: Duration) -> f64 {
    time.as_nanos() as f64 / 1000.0
}

fn clock(time: Duration) -> String {
    format!("{}.{:06}s", time.as_secs(), time.subsec_micros())
}

/// Flow arrows from a wake (or spawn, or timer) to the poll it caused.
#[derive(Default)]
struct Flows {
    next: u64,
    /// The flow each task's next poll ends.
    pending: BTreeMap<Id, u64>,
}

impl Flows {
    /// Starts a flow on `from`'s track that `to`'s next poll ends.
    fn start(&mut self, out: &mut Vec<TraceEvent>, from: Id, to: Id, ts: f64) {
        self.next += 1;
        let mut start = TraceEvent::new("wake".into(), "flow", "s", ts, from);
        start.id = Some(self.next);
        out.push(start);
        self.pending.insert(to, self.next);
    }
}

/// A run of the trace that takes one unit of the timeline: a poll (from its `Poll` to
/// its `PollEnd`), or a stretch of events between polls (starting at a clock jump).
fn units(trace: &Trace) -> Vec<std::ops::Range<usize>> {
    let events = trace.events();
    let mut units = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let mut end = i + 1;
        match events[i].kind {
            EventKind::Poll { .. } => {
                while end < events.len() {
                    let kind = &events[end].kind;
                    if matches!(kind, EventKind::Poll { .. }) {
                        break;
                    }
                    end += 1;
                    if matches!(kind, EventKind::PollEnd { .. }) {
                        break;
                    }
                }
            }
            _ => {
                while end < events.len()
                    && !matches!(
                        events[end].kind,
                        EventKind::Poll { .. } | EventKind::TimeJump { .. }
                    )
                {
                    end += 1;
                }
            }
        }
        units.push(i..end);
        i = end;
    }
    units
}

/// The trace as a Chrome trace-event JSON document titled `title`, at most
/// [`MAX_EVENTS`] events long.
#[cfg(test)]
pub(crate) fn to_json(trace: &Trace, title: &str) -> String {
    to_json_capped(trace, title, MAX_EVENTS)
}

/// [`to_json`] in at most `max_bytes` (unless the file's metadata alone is longer): a
/// longer trace shows its last events, from the start of a poll, and its `otherData`
/// says how many events it leaves out (`left_out`) and why (`note`). Each retry shows
/// 90% of what would have fit at the last try's bytes per event, so a few tries do.
pub(crate) fn to_json_within(trace: &Trace, title: &str, max_bytes: usize) -> String {
    let mut cap = MAX_EVENTS;
    loop {
        let json = to_json_capped(trace, title, cap);
        let shown = cap.min(trace.events().len());
        if json.len() <= max_bytes || shown == 0 {
            return json;
        }
        let fits = (shown as u128 * max_bytes as u128 * 9 / 10 / json.len() as u128) as usize;
        cap = fits.min(shown - 1);
    }
}

/// [`to_json`] showing at most the last `cap` events (from a unit's start).
fn to_json_capped(trace: &Trace, title: &str, cap: usize) -> String {
    let skip_before = trace.events().len().saturating_sub(cap);
    let tasks = all_tasks(trace);
    let (processes, task_pid) = processes(trace, &tasks, title);
    let mut timeline = Timeline {
        trace,
        out: metadata(trace, &tasks, &processes),
        flows: Flows::default(),
        spans: spans::Spans::default(),
    };
    let mut left_out = None;
    for (unit, range) in units(trace).into_iter().enumerate() {
        if range.start < skip_before {
            left_out = Some(range.end);
            continue;
        }
        timeline.push_unit(unit, range);
    }
    let mut out = timeline.out;
    // Each task's events go on its node's process.
    for event in &mut out {
        if let Some(&pid) = task_pid.get(&event.tid) {
            event.pid = pid;
        }
    }
    let first_pid = processes.len() as u64 + 1;
    out.extend(timeline.spans.into_events(trace, &task_pid, first_pid));
    let file = TraceFile {
        trace_events: out,
        display_time_unit: "ns",
        other_data: OtherData {
            title,
            timeline: TIMELINE,
            left_out,
            note: left_out.map(|n| {
                format!(
                    "truncated: the first {n} of the run's {} events are left out, to keep \
                     the file under {MAX_EVENTS} events and DETSIM_TRACE_MAX_MB megabytes",
                    trace.events().len()
                )
            }),
        },
    };
    // About 150 bytes an event.
    let size_hint = file.trace_events.len() * 160;
    crate::json::to_string(&file, size_hint)
}

/// Every task of the run: the root, and every task spawned.
fn all_tasks(trace: &Trace) -> Vec<Id> {
    let mut tasks = vec![Id::ROOT];
    tasks.extend(trace.events().iter().filter_map(|e| match e.kind {
        EventKind::Spawn { task, .. } => Some(task),
        _ => None,
    }));
    tasks
}

/// The processes of the file, as `(pid, name)`, and the process of each task on a node
/// (by `tid`): a process per node, in order of each node's first task; 1 for no node.
fn processes<'a>(
    trace: &'a Trace,
    tasks: &[Id],
    title: &str,
) -> (Vec<(u64, String)>, BTreeMap<u64, u64>) {
    let mut node_pids: BTreeMap<&'a str, u64> = BTreeMap::new();
    let mut processes = vec![(1, title.to_owned())];
    let mut task_pid: BTreeMap<u64, u64> = BTreeMap::new();
    for &task in tasks {
        if let Some(node) = trace.node(task) {
            let next = processes.len() as u64 + 1;
            let pid = *node_pids.entry(node).or_insert_with(|| {
                processes.push((next, format!("node {node}")));
                next
            });
            task_pid.insert(track(task).1, pid);
        }
    }
    (processes, task_pid)
}

/// The metadata events that name and sort the processes and the task tracks.
fn metadata(trace: &Trace, tasks: &[Id], processes: &[(u64, String)]) -> Vec<TraceEvent> {
    let mut out = Vec::new();
    for (pid, name) in processes {
        let mut event = TraceEvent::new("process_name".into(), "__metadata", "M", 0.0, Id::ROOT)
            .arg("name", name.as_str());
        event.pid = *pid;
        out.push(event);
        let mut event = TraceEvent::new(
            "process_sort_index".into(),
            "__metadata",
            "M",
            0.0,
            Id::ROOT,
        )
        .arg("sort_index", *pid);
        event.pid = *pid;
        out.push(event);
    }
    for &task in tasks {
        out.push(
            TraceEvent::new("thread_name".into(), "__metadata", "M", 0.0, task)
                .arg("name", label(trace, task)),
        );
        out.push(
            TraceEvent::new("thread_sort_index".into(), "__metadata", "M", 0.0, task)
                .arg("sort_index", task.as_u64()),
        );
    }
    out
}

/// The file's events as they are laid out, unit by unit, with the flows still open.
struct Timeline<'a> {
    trace: &'a Trace,
    out: Vec<TraceEvent>,
    flows: Flows,
    spans: spans::Spans,
}

impl Timeline<'_> {
    /// Lays out unit number `unit`, the events in `range`, spread evenly across it.
    fn push_unit(&mut self, unit: usize, range: std::ops::Range<usize>) {
        let events = &self.trace.events()[range];
        let len = events.len() as f64;
        let base = micros(events[0].time) + unit as f64;
        for (pos, event) in events.iter().enumerate() {
            let ts = base + pos as f64 / len;
            self.push_event(event, ts, events);
        }
    }

    /// Lays out one event of `unit` at `ts`.
    fn push_event(&mut self, event: &Event, ts: f64, unit: &[Event]) {
        let trace = self.trace;
        self.spans.saw(ts);
        match &event.kind {
            EventKind::SpanBegin {
                span,
                task,
                track,
                name,
            } => self.spans.begin(*span, *task, track, name, ts),
            EventKind::SpanEnd { span, outcome } => self.spans.end(*span, outcome, ts),
            EventKind::SpanMark { span, text } => self.spans.mark(*span, text),
            EventKind::Poll {
                task,
                ready,
                first_in_line,
            } => self.push_poll(event, (*task, *ready, *first_in_line), ts, unit),
            EventKind::PollEnd { .. } => {}
            EventKind::Spawn {
                task,
                parent,
                location,
                ..
            } => {
                self.out.push(
                    TraceEvent::instant(
                        format!("spawn {}", label(trace, *task)),
                        "spawn",
                        ts,
                        *parent,
                    )
                    .arg("location", location.to_string()),
                );
                self.flows.start(&mut self.out, *parent, *task, ts);
            }
            EventKind::Wake { task, by: Some(by) } => {
                self.out.push(TraceEvent::instant(
                    format!("wake {}", label(trace, *task)),
                    "wake",
                    ts,
                    *by,
                ));
                self.flows.start(&mut self.out, *by, *task, ts);
            }
            EventKind::Wake { task, by: None } => {
                let mut slice = TraceEvent::new("timer fired".into(), "timer", "X", ts, *task)
                    .arg("simulated time", clock(event.time));
                slice.dur = Some(0.5 / unit.len() as f64);
                self.out.push(slice);
                self.flows.start(&mut self.out, *task, *task, ts);
            }
            EventKind::Abort { task, .. } => {
                self.out.push(instant(trace, &event.kind, ts));
                self.flows.pending.remove(task);
            }
            kind => self.out.push(instant(trace, kind, ts)),
        }
    }

    /// Lays out a poll of `task` (with `ready` tasks ready and `first_in_line` first in
    /// line) as a 1 µs slice, and ends the flow that woke it.
    fn push_poll(&mut self, event: &Event, poll: (Id, usize, Id), ts: f64, unit: &[Event]) {
        let (task, ready, first_in_line) = poll;
        let mut name = "poll".to_owned();
        if task != first_in_line {
            name = format!("poll, ahead of {}", label(self.trace, first_in_line));
        }
        let mut slice = TraceEvent::new(name, "poll", "X", ts, task)
            .arg("step", event.step)
            .arg("simulated time", clock(event.time))
            .arg("ready", ready as u64);
        slice.dur = Some(1.0);
        if task != first_in_line {
            slice = slice.arg("asyncio would have run", label(self.trace, first_in_line));
        }
        // Where the poll left the task, from its end.
        let at = unit.iter().find_map(|e| match &e.kind {
            EventKind::PollEnd { at, .. } => Some(*at),
            _ => None,
        });
        if let Some(Some(at)) = at {
            slice = slice.arg("suspended", crate::explain::site(self.trace, &at));
        }
        self.out.push(slice);
        if let Some(id) = self.flows.pending.remove(&task) {
            let mut end = TraceEvent::new("wake".into(), "flow", "f", ts, task);
            end.id = Some(id);
            end.bp = Some("e");
            self.out.push(end);
        }
    }
}

/// The instant event (on its task's track, or across every track) for an event that
/// neither slices nor flows.
fn instant(trace: &Trace, kind: &EventKind, ts: f64) -> TraceEvent {
    match kind {
        EventKind::TimeJump { to } => {
            let mut jump = TraceEvent::instant(
                format!("clock advances to {}", clock(*to)),
                "clock",
                ts,
                Id::ROOT,
            );
            jump.s = Some("g");
            jump
        }
        EventKind::Complete { task } => TraceEvent::instant("done".into(), "task", ts, *task),
        EventKind::Panic { task, message } => {
            TraceEvent::instant("panicked".into(), "task", ts, *task)
                .arg("message", message.as_str())
        }
        EventKind::Abort { task, by } => {
            let name = match by {
                Some(by) if by != task => format!("aborted by {}", label(trace, *by)),
                _ => "aborted".to_owned(),
            };
            TraceEvent::instant(name, "task", ts, *task)
        }
        EventKind::Decide {
            task,
            kind,
            options,
            chosen,
        } => TraceEvent::instant(
            format!("{kind}: option {} of {options}", chosen + 1),
            "decision",
            ts,
            *task,
        )
        .arg("deviation", *chosen != 0),
        EventKind::Dropped { task } => {
            TraceEvent::instant("dropped unfinished at end of run".into(), "task", ts, *task)
        }
        // Disk events (syncs, injected errors, what a crash kept) under `disk`; the
        // cluster's other events (kills, partitions, faults) under `cluster`.
        EventKind::Note { task, text } => {
            let cat = if text.starts_with("disk") || text.starts_with("crash ") {
                "disk"
            } else {
                "cluster"
            };
            TraceEvent::instant(text.clone(), cat, ts, *task)
        }
        other => TraceEvent::instant(format!("{other:?}"), "other", ts, Id::ROOT),
    }
}

/// Writes `trace` as a trace file at `path`, creating its directory, in at most
/// `DETSIM_TRACE_MAX_MB` megabytes (20 by default; see [`to_json_within`]).
pub(crate) fn write(trace: &Trace, title: &str, path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let max_bytes = crate::config::TraceLimits::read().max_bytes;
    std::fs::write(path, to_json_within(trace, title, max_bytes))
}

impl Failure {
    /// Writes the trace of the failing run (the shrunk one, once shrunk) to `path` as a
    /// Chrome trace-event JSON file, which ui.perfetto.dev and `chrome://tracing` open:
    /// one track per task, a slice per poll, instants for spawns, wakes, timers, clock
    /// jumps, decisions, aborts, panics, cluster events and disk events (category
    /// `disk`: syncs, injected errors, what each crash kept), and arrows from each wake to the poll it
    /// caused. The report already names a file written this way under the target
    /// directory ([`Failure::trace_file`]). A file over `DETSIM_TRACE_MAX_MB` megabytes
    /// (20 by default) leaves out the run's first events and says so in its
    /// `otherData`.
    pub fn write_trace(&self, path: impl AsRef<Path>) -> io::Result<()> {
        write(&self.trace, &self.title(), path.as_ref())
    }

    /// Where the report's trace file was written (`<target>/detsim-traces/<test>-<seed>.trace.json`),
    /// if it could be.
    pub fn trace_file(&self) -> Option<&Path> {
        match &self.trace_file {
            Some(Ok(path)) => Some(path),
            _ => None,
        }
    }

    /// What a viewer shows as the trace's process name.
    fn title(&self) -> String {
        match &self.test_name {
            Some(name) => format!("detsim: {name}, seed {:#x} ({})", self.seed, self.scheduler),
            None => format!("detsim: seed {:#x} ({})", self.seed, self.scheduler),
        }
    }

    /// Writes the trace file the report names, under the target directory, and prunes
    /// that directory to the newest `DETSIM_TRACE_KEEP` files
    /// ([`crate::artifacts::prune_traces`]).
    pub(crate) fn write_trace_file(&mut self) {
        let path = crate::artifacts::trace_file(self.test_name.as_deref(), self.seed);
        self.trace_file = Some(match self.write_trace(&path) {
            Ok(()) => {
                crate::artifacts::prune_traces(&path, crate::config::TraceLimits::read().keep);
                Ok(path)
            }
            Err(error) => Err(format!("{}: {error}", path.display())),
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn traced_run() -> Trace {
        let mut rt = detsim_runtime::Runtime::new(3);
        rt.set_trace(true);
        rt.run(async {
            let worker = detsim_runtime::spawn(async {
                for _ in 0..20 {
                    detsim_runtime::yield_now().await;
                }
            });
            detsim_runtime::time::sleep(Duration::from_millis(2)).await;
            worker.await.unwrap();
        })
        .unwrap();
        rt.take_trace().unwrap()
    }

    fn polls(json: &str) -> Vec<u64> {
        let file: Value = serde_json::from_str(json).unwrap();
        file["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["cat"] == "poll")
            .map(|e| e["args"]["step"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn a_long_run_shows_its_last_events_from_the_start_of_a_poll() {
        let trace = traced_run();
        let all = polls(&to_json(&trace, "t"));
        assert_eq!(all.len() as u64, all[all.len() - 1]);
        let capped = to_json_capped(&trace, "t", 10);
        let shown = polls(&capped);
        assert!(!shown.is_empty() && shown.len() < all.len(), "{shown:?}");
        assert_eq!(shown, all[all.len() - shown.len()..]);
        let file: Value = serde_json::from_str(&capped).unwrap();
        let left_out = file["otherData"]["left_out"].as_u64().unwrap() as usize;
        assert!(left_out >= trace.events().len() - 10, "{left_out}");
        // Flow ends only for flows that start in the file.
        let events = file["traceEvents"].as_array().unwrap();
        let starts: Vec<&Value> = events
            .iter()
            .filter(|e| e["ph"] == "s")
            .map(|e| &e["id"])
            .collect();
        assert!(
            events
                .iter()
                .filter(|e| e["ph"] == "f")
                .all(|e| starts.contains(&&e["id"]))
        );
        assert!(
            serde_json::from_str::<Value>(&to_json(&trace, "t")).unwrap()["otherData"]
                .get("left_out")
                .is_none()
        );
    }

    #[test]
    fn a_trace_over_the_size_limit_is_truncated_with_a_note() {
        let trace = traced_run();
        let whole = to_json(&trace, "t");
        assert_eq!(to_json_within(&trace, "t", whole.len()), whole);
        let max = whole.len() / 3;
        let cut = to_json_within(&trace, "t", max);
        assert!(cut.len() <= max, "{} > {max}", cut.len());
        let file: Value = serde_json::from_str(&cut).unwrap();
        let left_out = file["otherData"]["left_out"].as_u64().unwrap();
        let note = file["otherData"]["note"].as_str().unwrap();
        assert!(
            note.starts_with(&format!(
                "truncated: the first {left_out} of the run's {} events are left out",
                trace.events().len()
            )) && note.contains("DETSIM_TRACE_MAX_MB"),
            "{note}"
        );
        // What is left is the run's end.
        let (all, shown) = (polls(&whole), polls(&cut));
        assert!(!shown.is_empty() && shown.len() < all.len());
        assert_eq!(shown, all[all.len() - shown.len()..]);
        assert!(file["otherData"].get("note").is_some());
        let untouched: Value = serde_json::from_str(&whole).unwrap();
        assert!(untouched["otherData"].get("note").is_none());
    }

    #[test]
    fn the_same_trace_writes_the_same_bytes() {
        assert_eq!(to_json(&traced_run(), "t"), to_json(&traced_run(), "t"));
    }
}
