//! Counting reads per credential, route and window (pure: times are passed in, so it is
//! tested without clocks). See [`super`] for what is recorded when.

use chronicle_core::RequestContext;
use chronicle_core::timefmt;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Windows tracked at once. Past this, ended windows are summed up first; if every one is
/// still live, the read is recorded on its own instead of counted (never unrecorded).
pub const MAX_WINDOWS: usize = 10_000;

/// Distinct queries an aggregate lists; more are counted, not listed.
pub const MAX_QUERIES: usize = 20;

/// Distinct entities an aggregate lists; more are counted, not listed.
pub const MAX_ENTITIES: usize = 100;

/// One read of the audit trail.
#[derive(Clone, Debug)]
pub struct Access {
    /// The route as routed (`/v1/audit/entries/{id}`): reads of different ids share a window.
    pub route: &'static str,
    /// The path as asked (`/v1/audit/entries/0190…`).
    pub path: String,
    /// The query string (the filters), `""` when none.
    pub query: String,
    /// Entries (or groups) returned, when the read returns any.
    pub returned: Option<usize>,
    /// The entities the returned entries are about, as `type/id`.
    pub entities: Vec<String>,
    /// What the reader did, in words (`searched entries`).
    pub what: String,
}

impl Access {
    /// A read of `route`, as asked in `uri`.
    pub fn new(route: &'static str, uri: &axum::http::Uri, what: impl Into<String>) -> Access {
        Access {
            route,
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or("").to_owned(),
            returned: None,
            entities: Vec::new(),
            what: what.into(),
        }
    }

    /// How many entries (or groups) the read returned.
    pub fn returned(mut self, n: usize) -> Access {
        self.returned = Some(n);
        self
    }

    /// The entities the returned entries are about (`type/id`).
    pub fn about(mut self, entities: Vec<String>) -> Access {
        self.entities = entities;
        self
    }
}

/// What [`Windows::note`] decided for a read.
#[derive(Debug)]
pub enum Noted {
    /// Inside a live window: counted, nothing to write.
    Counted,
    /// The read opens a window (or cannot be counted): write it on its own, after the summary
    /// of the key's window that ended, if there is one.
    Record { ended: Option<Box<Summary>> },
}

/// One window of reads by one credential on one route, as it is summed up.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The context of the window's first read (actor, address, user agent).
    pub context: RequestContext,
    pub route: &'static str,
    pub count: u64,
    pub returned: u64,
    pub first_at: OffsetDateTime,
    pub last_at: OffsetDateTime,
    pub window: Duration,
    pub queries: BTreeSet<String>,
    /// Distinct queries beyond those listed.
    pub more_queries: bool,
    pub entities: BTreeSet<String>,
    pub more_entities: bool,
}

impl Summary {
    fn open(
        context: RequestContext,
        access: &Access,
        at: OffsetDateTime,
        window: Duration,
    ) -> Self {
        let mut s = Summary {
            context,
            route: access.route,
            count: 0,
            returned: 0,
            first_at: at,
            last_at: at,
            window,
            queries: BTreeSet::new(),
            more_queries: false,
            entities: BTreeSet::new(),
            more_entities: false,
        };
        s.add(access, at);
        s
    }

    fn add(&mut self, access: &Access, at: OffsetDateTime) {
        self.count += 1;
        self.returned += access.returned.unwrap_or(0) as u64;
        self.last_at = at;
        bounded_insert(
            &mut self.queries,
            &mut self.more_queries,
            &access.query,
            MAX_QUERIES,
        );
        for entity in &access.entities {
            bounded_insert(
                &mut self.entities,
                &mut self.more_entities,
                entity,
                MAX_ENTITIES,
            );
        }
    }

    /// The aggregate entry's summary line and metadata.
    pub fn describe(&self) -> (String, Value) {
        let summary = format!(
            "{} reads of {} within {} s",
            self.count,
            self.route,
            self.window.as_secs()
        );
        let metadata = json!({
            "route": self.route,
            "count": self.count,
            "returned": self.returned,
            "window_secs": self.window.as_secs(),
            "first_at": timefmt::format(self.first_at),
            "last_at": timefmt::format(self.last_at),
            "queries": self.queries,
            "queries_truncated": self.more_queries,
            "entities": self.entities,
            "entities_truncated": self.more_entities,
        });
        (summary, metadata)
    }
}

fn bounded_insert(set: &mut BTreeSet<String>, more: &mut bool, value: &str, max: usize) {
    if set.contains(value) {
        return;
    }
    if set.len() < max {
        set.insert(value.to_owned());
    } else {
        *more = true;
    }
}

/// The metadata of a read recorded on its own (the first of its window).
pub fn single(access: &Access, window: Duration) -> (String, Value) {
    let summary = match access.returned {
        Some(n) => format!("{}: {n} returned", access.what),
        None => access.what.clone(),
    };
    let metadata = json!({
        "route": access.route,
        "path": access.path,
        "query": access.query,
        "count": 1,
        "returned": access.returned,
        "entities": access.entities,
        "window_secs": window.as_secs(),
    });
    (summary, metadata)
}

/// The key a read is counted under: the credential (the actor as the request context has it:
/// with authentication on, the token's name, email, role and, for a service, `via`) and the
/// route.
fn key_of(context: &RequestContext, route: &str) -> String {
    let a = &context.actor;
    let part = |s: &Option<String>| s.clone().unwrap_or_default();
    format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{route}",
        part(&a.id),
        part(&a.email),
        part(&a.role),
        part(&a.via)
    )
}

/// Live windows per key, and summaries of ended ones whose entry could not be written yet.
#[derive(Debug, Default)]
pub struct Windows {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    live: HashMap<String, (Instant, Summary)>,
    /// Summaries whose write failed, retried by the next flush.
    pending: Vec<Summary>,
}

impl Windows {
    /// Counts `access` by `context` at `now` (`at`: the same moment as wall-clock time).
    pub fn note(
        &self,
        context: &RequestContext,
        access: &Access,
        now: Instant,
        at: OffsetDateTime,
        window: Duration,
    ) -> Noted {
        let key = key_of(context, access.route);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut ended = None;
        if let Some((started, summary)) = inner.live.get_mut(&key) {
            if now.duration_since(*started) < window {
                summary.add(access, at);
                return Noted::Counted;
            }
            let (_, old) = inner.live.remove(&key).expect("present");
            // A window of one read was already recorded by that read.
            ended = (old.count > 1).then(|| Box::new(old));
        }
        if inner.live.len() >= MAX_WINDOWS {
            let over = inner.take_ended(now, window);
            inner.pending.extend(over);
        }
        if inner.live.len() < MAX_WINDOWS {
            let summary = Summary::open(context.clone(), access, at, window);
            inner.live.insert(key, (now, summary));
        }
        Noted::Record { ended }
    }

    /// Forgets the window `access` opened, when recording its first read failed: the next
    /// read opens it again rather than being counted under a window nobody recorded.
    pub fn abandon(&self, context: &RequestContext, access: &Access) {
        let key = key_of(context, access.route);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.live.remove(&key);
    }

    /// Summaries to write: those of windows over at `now` (all windows when `now` is None,
    /// at shutdown) that counted more than their first read, and those whose write failed
    /// before.
    pub fn take(&self, now: Option<Instant>, window: Duration) -> Vec<Summary> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::mem::take(&mut inner.pending);
        match now {
            Some(now) => out.extend(inner.take_ended(now, window)),
            None => out.extend(
                inner
                    .live
                    .drain()
                    .map(|(_, (_, s))| s)
                    .filter(|s| s.count > 1),
            ),
        }
        out
    }

    /// Puts back summaries whose write failed, for the next flush.
    pub fn retry(&self, summaries: impl IntoIterator<Item = Summary>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.pending.extend(summaries);
    }
}

impl Inner {
    fn take_ended(&mut self, now: Instant, window: Duration) -> Vec<Summary> {
        let ended: Vec<String> = self
            .live
            .iter()
            .filter(|(_, (started, _))| now.duration_since(*started) >= window)
            .map(|(k, _)| k.clone())
            .collect();
        ended
            .into_iter()
            .filter_map(|k| self.live.remove(&k))
            .map(|(_, s)| s)
            .filter(|s| s.count > 1)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronicle_core::entry::Actor;

    fn ctx(actor: &str) -> RequestContext {
        RequestContext {
            actor: Actor {
                id: Some(actor.into()),
                ..Actor::default()
            },
            ..RequestContext::default()
        }
    }

    fn read(route: &'static str, query: &str, entities: &[&str]) -> Access {
        Access {
            route,
            path: route.into(),
            query: query.into(),
            returned: Some(entities.len()),
            entities: entities.iter().map(|e| e.to_string()).collect(),
            what: "searched".into(),
        }
    }

    const W: Duration = Duration::from_secs(60);

    #[test]
    fn the_first_read_of_a_window_is_recorded_and_the_rest_are_summed_up_when_it_ends() {
        let w = Windows::default();
        let t0 = Instant::now();
        let at = OffsetDateTime::UNIX_EPOCH;
        let ann = ctx("ann");
        let first = w.note(&ann, &read("/s", "a=1", &["x/1"]), t0, at, W);
        assert!(matches!(first, Noted::Record { ended: None }));
        for i in 0..9 {
            let q = format!("a={}", i % 3);
            let n = w.note(&ann, &read("/s", &q, &["x/1", "x/2"]), t0 + W / 2, at, W);
            assert!(matches!(n, Noted::Counted));
        }
        // Another route, another credential: windows of their own.
        assert!(matches!(
            w.note(&ann, &read("/t", "", &[]), t0, at, W),
            Noted::Record { ended: None }
        ));
        assert!(matches!(
            w.note(&ctx("bob"), &read("/s", "", &[]), t0, at, W),
            Noted::Record { ended: None }
        ));
        // Nothing has ended yet.
        assert!(w.take(Some(t0 + W / 2), W).is_empty());
        // The next read after the window hands over its summary and opens a new one.
        let Noted::Record { ended: Some(s) } = w.note(&ann, &read("/s", "", &[]), t0 + W, at, W)
        else {
            panic!("the window ended");
        };
        assert_eq!(s.count, 10);
        assert_eq!(s.returned, 1 + 9 * 2);
        assert_eq!(
            s.queries.iter().map(String::as_str).collect::<Vec<_>>(),
            ["a=0", "a=1", "a=2"]
        );
        assert_eq!(s.entities.len(), 2);
        assert_eq!(s.context.actor.id.as_deref(), Some("ann"));
        // Windows of a single read were recorded by it: no summary for them.
        assert!(w.take(Some(t0 + 2 * W), W).is_empty());
    }

    #[test]
    fn shutdown_sums_up_live_windows_and_failed_writes_are_retried() {
        let w = Windows::default();
        let t0 = Instant::now();
        let at = OffsetDateTime::UNIX_EPOCH;
        for _ in 0..3 {
            w.note(&ctx("ann"), &read("/s", "", &[]), t0, at, W);
        }
        let all = w.take(None, W);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].count, 3);
        w.retry(all);
        assert_eq!(w.take(Some(t0), W).len(), 1);
        assert!(w.take(None, W).is_empty());
    }

    #[test]
    fn lists_are_bounded_and_say_so() {
        let w = Windows::default();
        let t0 = Instant::now();
        let at = OffsetDateTime::UNIX_EPOCH;
        for i in 0..(MAX_QUERIES + 5) {
            let entities: Vec<String> = (0..10).map(|j| format!("e/{i}-{j}")).collect();
            let entities: Vec<&str> = entities.iter().map(String::as_str).collect();
            w.note(
                &ctx("ann"),
                &read("/s", &format!("q={i}"), &entities),
                t0,
                at,
                W,
            );
        }
        let s = &w.take(None, W)[0];
        assert_eq!(s.queries.len(), MAX_QUERIES);
        assert!(s.more_queries);
        assert_eq!(s.entities.len(), MAX_ENTITIES);
        assert!(s.more_entities);
    }

    #[test]
    fn past_the_tracked_limit_a_read_is_recorded_on_its_own() {
        let w = Windows::default();
        let t0 = Instant::now();
        let at = OffsetDateTime::UNIX_EPOCH;
        for i in 0..MAX_WINDOWS {
            w.note(&ctx(&format!("a{i}")), &read("/s", "", &[]), t0, at, W);
        }
        // Every window is live: the newcomer is recorded each time, never silently counted.
        for _ in 0..2 {
            assert!(matches!(
                w.note(&ctx("late"), &read("/s", "", &[]), t0, at, W),
                Noted::Record { ended: None }
            ));
        }
    }
}
