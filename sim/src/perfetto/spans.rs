//! Spans in the trace file: the runtime's [`EventKind::SpanBegin`] to
//! [`EventKind::SpanEnd`] stretches (locks held and waited for, the operations of a
//! recorded history) as complete slices on tracks of their own.
//!
//! # Where they go
//! - a span on its task's track ([`SpanTrack::Task`]) goes on a track beside the
//!   task's, in the task's process, named `t2 bob · locks`;
//! - a named span ([`SpanTrack::Named`]) goes on the track it names (`client 3`) in a
//!   process of its group's own (`history 1`), after the nodes' processes;
//! - spans of one track that overlap (a task holding two locks, a client whose
//!   timed-out operation is still open when it starts the next) go on extra tracks of
//!   the same name (`client 3 (2)`), so that slices on one track never overlap;
//! - a span still open at the end of what the file shows ends there, and says so; a
//!   marked span ([`EventKind::SpanMark`]) starts with `✗` and carries the marks.
//!
//! [`EventKind::SpanBegin`]: detsim_runtime::trace::EventKind::SpanBegin
//! [`EventKind::SpanEnd`]: detsim_runtime::trace::EventKind::SpanEnd
//! [`EventKind::SpanMark`]: detsim_runtime::trace::EventKind::SpanMark

use std::collections::BTreeMap;

use detsim_runtime::task::Id;
use detsim_runtime::trace::{SpanId, SpanTrack, Trace};

use super::TraceEvent;
use crate::explain::label;

/// Where the task-track lanes' thread ids start: lane `k` of task `t` is
/// `TASK_LANES * (k + 1) + t + 1`, clear of the tasks' own `t + 1`.
const TASK_LANES: u64 = 1 << 32;

/// The spans of the events a file shows, as they are laid out.
#[derive(Default)]
pub(super) struct Spans {
    spans: BTreeMap<SpanId, Span>,
    /// The latest `ts` laid out.
    last: f64,
}

struct Span {
    task: Id,
    track: SpanTrack,
    name: String,
    start: f64,
    /// When it ended, and what its name gains there.
    end: Option<(f64, Option<String>)>,
    marks: Vec<String>,
}

/// A track of spans, before it is split into lanes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Task(Id),
    Named { group: String, track: String },
}

impl Spans {
    pub(super) fn saw(&mut self, ts: f64) {
        self.last = self.last.max(ts);
    }

    pub(super) fn begin(&mut self, span: SpanId, task: Id, track: &SpanTrack, name: &str, ts: f64) {
        self.spans.insert(
            span,
            Span {
                task,
                track: track.clone(),
                name: name.to_owned(),
                start: ts,
                end: None,
                marks: Vec::new(),
            },
        );
    }

    /// Ends `span` (one that began before what the file shows is left out).
    pub(super) fn end(&mut self, span: SpanId, outcome: &Option<String>, ts: f64) {
        if let Some(s) = self.spans.get_mut(&span) {
            s.end = Some((ts, outcome.clone()));
        }
    }

    pub(super) fn mark(&mut self, span: SpanId, text: &str) {
        if let Some(s) = self.spans.get_mut(&span) {
            s.marks.push(text.to_owned());
        }
    }

    /// The slices, and the metadata events that name their tracks and processes;
    /// named groups become processes `first_pid`, `first_pid + 1`, …; `task_pid` is
    /// each task's process by its track's `tid` (1 when absent).
    pub(super) fn into_events(
        self,
        trace: &Trace,
        task_pid: &BTreeMap<u64, u64>,
        first_pid: u64,
    ) -> Vec<TraceEvent> {
        let (lanes, placed) = self.place();
        let mut out = Vec::new();
        let named = NamedTracks::lay_out(&lanes, first_pid, &mut out);
        out.extend(task_lane_metadata(trace, &lanes, task_pid));
        for placed in placed {
            out.push(placed.slice(trace, task_pid, &named));
        }
        out
    }

    /// Each span's track and lane, in the order spans began (the first lane of the
    /// track free by then), with each track's lanes by when they end.
    fn place(self) -> (BTreeMap<Key, Vec<f64>>, Vec<Placed>) {
        let mut lanes: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
        let end_of_file = self.last + 0.5;
        let mut placed = Vec::with_capacity(self.spans.len());
        for span in self.spans.into_values() {
            let key = span.key();
            let end = span.end.as_ref().map_or(end_of_file, |(ts, _)| *ts);
            let ends = lanes.entry(key.clone()).or_default();
            let lane = match ends.iter().position(|&e| e <= span.start) {
                Some(lane) => lane,
                None => {
                    ends.push(0.0);
                    ends.len() - 1
                }
            };
            ends[lane] = end;
            placed.push(Placed {
                key,
                lane,
                end,
                span,
            });
        }
        (lanes, placed)
    }
}

impl Span {
    fn key(&self) -> Key {
        match &self.track {
            SpanTrack::Task => Key::Task(self.task),
            SpanTrack::Named { group, track } => Key::Named {
                group: group.clone(),
                track: track.clone(),
            },
        }
    }
}

/// A span on its lane of its track, with when it ends in the file.
struct Placed {
    key: Key,
    lane: usize,
    end: f64,
    span: Span,
}

/// The processes of the named groups and the thread ids of their tracks' lanes.
struct NamedTracks<'a> {
    /// `(pid, tid)` by group, track and lane.
    tids: BTreeMap<(&'a str, &'a str, usize), (u64, u64)>,
}

impl<'a> NamedTracks<'a> {
    /// Processes for the groups, in name order, from `first_pid`; tracks within by
    /// name (numbers compared as numbers), then lane; their metadata events into `out`.
    fn lay_out(
        lanes: &'a BTreeMap<Key, Vec<f64>>,
        first_pid: u64,
        out: &mut Vec<TraceEvent>,
    ) -> Self {
        let mut pids: BTreeMap<&str, u64> = BTreeMap::new();
        let mut tracks: BTreeMap<(&str, (&str, u64), &str), usize> = BTreeMap::new();
        for (key, lanes) in lanes {
            if let Key::Named { group, track } = key {
                let next = first_pid + pids.len() as u64;
                pids.entry(group).or_insert(next);
                tracks.insert((group, natural(track), track), lanes.len());
            }
        }
        for (group, &pid) in &pids {
            out.extend(process_metadata(pid, group));
        }
        let mut tids = BTreeMap::new();
        let mut next_tid: BTreeMap<&str, u64> = BTreeMap::new();
        for (&(group, _, track), &count) in &tracks {
            for lane in 0..count {
                let tid = next_tid.entry(group).or_insert(0);
                *tid += 1;
                let pid = pids[group];
                tids.insert((group, track, lane), (pid, *tid));
                out.extend(thread_metadata(pid, *tid, lane_name(track, lane), *tid));
            }
        }
        NamedTracks { tids }
    }
}

/// The metadata events of the lanes beside each task's track (`t2 bob · locks`).
fn task_lane_metadata(
    trace: &Trace,
    lanes: &BTreeMap<Key, Vec<f64>>,
    task_pid: &BTreeMap<u64, u64>,
) -> Vec<TraceEvent> {
    let mut out = Vec::new();
    for (key, count) in lanes {
        if let Key::Task(task) = key {
            let pid = pid_of_task(task_pid, *task);
            for lane in 0..count.len() {
                let name = lane_name(&format!("{} · locks", label(trace, *task)), lane);
                out.extend(thread_metadata(
                    pid,
                    task_lane_tid(*task, lane),
                    name,
                    task.as_u64(),
                ));
            }
        }
    }
    out
}

impl Placed {
    /// The complete slice (`X`) of the span on its lane.
    fn slice(
        self,
        trace: &Trace,
        task_pid: &BTreeMap<u64, u64>,
        named: &NamedTracks<'_>,
    ) -> TraceEvent {
        let Placed {
            key,
            lane,
            end,
            span,
        } = self;
        let (pid, tid, cat) = match &key {
            Key::Task(task) => (
                pid_of_task(task_pid, *task),
                task_lane_tid(*task, lane),
                "sync",
            ),
            Key::Named { group, track } => {
                let (pid, tid) = named.tids[&(group.as_str(), track.as_str(), lane)];
                let cat = if group.starts_with("history") {
                    "history"
                } else {
                    "span"
                };
                (pid, tid, cat)
            }
        };
        let outcome = span
            .end
            .as_ref()
            .and_then(|(_, o)| o.as_deref())
            .unwrap_or("");
        let marked = if span.marks.is_empty() { "" } else { "✗ " };
        let mut slice = TraceEvent::new(
            format!("{marked}{}{outcome}", span.name),
            cat,
            "X",
            span.start,
            span.task,
        );
        slice.pid = pid;
        slice.tid = tid;
        slice.dur = Some((end - span.start).max(0.001));
        if matches!(key, Key::Named { .. }) {
            slice = slice.arg("task", label(trace, span.task));
        }
        if span.end.is_none() {
            slice = slice.arg("open at the end of the run", true);
        }
        if !span.marks.is_empty() {
            slice = slice.arg("marked", span.marks.join("; "));
            slice.cname = Some("terrible");
        }
        slice
    }
}

/// The process of `task`'s track (1 when absent).
fn pid_of_task(task_pid: &BTreeMap<u64, u64>, task: Id) -> u64 {
    task_pid.get(&(task.as_u64() + 1)).copied().unwrap_or(1)
}

/// The thread id of lane `lane` beside `task`'s track.
fn task_lane_tid(task: Id, lane: usize) -> u64 {
    TASK_LANES * (lane as u64 + 1) + task.as_u64() + 1
}

/// The `process_name` and `process_sort_index` events of process `pid`.
fn process_metadata(pid: u64, name: &str) -> [TraceEvent; 2] {
    let mut named =
        TraceEvent::new("process_name".into(), "__metadata", "M", 0.0, Id::ROOT).arg("name", name);
    let mut sorted = TraceEvent::new(
        "process_sort_index".into(),
        "__metadata",
        "M",
        0.0,
        Id::ROOT,
    )
    .arg("sort_index", pid);
    for event in [&mut named, &mut sorted] {
        event.pid = pid;
    }
    [named, sorted]
}

/// `name`, or `name (k)` for lane `k - 1` past the first.
fn lane_name(name: &str, lane: usize) -> String {
    match lane {
        0 => name.to_owned(),
        _ => format!("{name} ({})", lane + 1),
    }
}

/// A sort key that orders `client 9` before `client 10`: the name without its
/// trailing digits, and their value.
fn natural(name: &str) -> (&str, u64) {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    (stem, name[stem.len()..].parse().unwrap_or(0))
}

/// The `thread_name` and `thread_sort_index` events of track `tid` in process `pid`.
fn thread_metadata(pid: u64, tid: u64, name: String, sort_index: u64) -> [TraceEvent; 2] {
    let mut named =
        TraceEvent::new("thread_name".into(), "__metadata", "M", 0.0, Id::ROOT).arg("name", name);
    let mut sorted = TraceEvent::new("thread_sort_index".into(), "__metadata", "M", 0.0, Id::ROOT)
        .arg("sort_index", sort_index);
    for event in [&mut named, &mut sorted] {
        event.pid = pid;
        event.tid = tid;
    }
    [named, sorted]
}
