//! Searches and summaries over entries. The SQL text is assembled from fixed fragments chosen
//! by which filters are set; every value from the query is a bound parameter, never text.

use crate::error::Context;
use crate::rows::{entries_from_rows, entry_from_row, int};
use chronicle_core::{Entry, timefmt};
use chronicle_store::{EntryQuery, Group, GroupBy, Order, StoreError};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use time::{Duration, OffsetDateTime};

/// A WHERE clause under construction: conditions joined by AND, and their parameters.
#[derive(Default)]
struct Filter {
    conditions: Vec<String>,
    params: Vec<Value>,
}

impl Filter {
    /// Adds a parameter and returns its placeholder (`?N`), usable more than once.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.params.push(value.into());
        format!("?{}", self.params.len())
    }

    fn eq(&mut self, column: &str, value: Option<String>) {
        if let Some(value) = value {
            let p = self.bind(value);
            self.conditions.push(format!("{column} = {p}"));
        }
    }

    fn of(q: &EntryQuery) -> Filter {
        let mut f = Filter::default();
        f.conditions
            .push(chronicle_store::WITHIN_HEAD_SQL.to_owned());
        if let Some(actor) = &q.actor {
            let p = f.bind(actor.clone());
            f.conditions
                .push(format!("(actor_id = {p} OR actor_email = {p})"));
        }
        f.eq("entity_type", q.entity_type.clone());
        f.eq("entity_id", q.entity_id.clone());
        f.eq("operation", q.operation.map(|o| o.as_str().to_owned()));
        f.eq("severity", q.severity.map(|s| s.as_str().to_owned()));
        f.eq("correlation_id", q.correlation_id.clone());
        f.eq("transaction_id", q.transaction_id.map(|u| u.to_string()));
        f.eq("parent_id", q.parent_id.map(|u| u.to_string()));
        f.eq("rollback_id", q.rollback_id.map(|u| u.to_string()));
        // Stored timestamps are fixed-width UTC text, so text order is time order.
        if let Some(from) = q.from {
            let p = f.bind(bound(from));
            f.conditions.push(format!("ts >= {p}"));
        }
        if let Some(to) = q.to {
            let p = f.bind(bound(to));
            f.conditions.push(format!("ts < {p}"));
        }
        if let Some(pointer) = &q.field {
            // A change touches the field when it is at the field, beneath it (`/a` matches a
            // change of `/a/b`, not of `/ab`), or above it with the field inside its old or
            // new value (deleting `/a` = {"b": 1} took `/a/b` with it; creating `{}` at the
            // root touched no field). Prefixes are compared with substr, not LIKE, so `%` and
            // `_` in a pointer are literal characters.
            let exact = f.bind(pointer.clone());
            let below = f.bind(format!("{pointer}/"));
            f.conditions.push(format!(
                "EXISTS (SELECT 1 FROM (SELECT fc.value ->> '$.path' AS path, \
                     fc.value -> '$.old' AS old_value, fc.value -> '$.new' AS new_value \
                   FROM json_each(entries.canonical, '$.change_set.field_changes') AS fc) \
                 WHERE path = {exact} \
                    OR substr(path, 1, length({below})) = {below} \
                    OR (substr({exact}, 1, length(path) + 1) = path || '/' \
                        AND (chronicle_json_has(old_value, substr({exact}, length(path) + 1)) \
                          OR chronicle_json_has(new_value, substr({exact}, length(path) + 1)))))"
            ));
        }
        if let Some(tag) = &q.tag {
            let p = f.bind(tag.clone());
            f.conditions.push(format!(
                "EXISTS (SELECT 1 FROM json_each(entries.canonical, '$.tags') AS tg WHERE tg.value = {p})"
            ));
        }
        if q.source_system.is_some() || q.source_record_id.is_some() || q.import_id.is_some() {
            // The same condition as the partial indexes' (migration 3), so that they serve;
            // then a source is what `Source::of_metadata` reads: one with a text `system`.
            f.conditions
                .push("instr(canonical, '\"source\":') > 0".to_owned());
            f.conditions
                .push("json_type(canonical, '$.metadata.source.system') = 'text'".to_owned());
        }
        for (path, value) in [
            ("$.metadata.source.system", &q.source_system),
            ("$.metadata.source.record_id", &q.source_record_id),
            ("$.metadata.source.import_id", &q.import_id),
        ] {
            if let Some(value) = value {
                let p = f.bind(value.clone());
                f.conditions
                    .push(format!("json_extract(canonical, '{path}') = {p}"));
            }
        }
        if let Some(text) = &q.q {
            let p = f.bind(text.to_lowercase());
            f.conditions.push(format!(
                "(instr(chronicle_lower(canonical ->> '$.reason'), {p}) > 0 \
                  OR instr(chronicle_lower(canonical ->> '$.summary'), {p}) > 0)"
            ));
        }
        if let Some(cursor) = q.cursor {
            let p = f.bind(int(cursor));
            let op = match q.order {
                Order::Asc => ">",
                Order::Desc => "<",
            };
            f.conditions.push(format!("seq {op} {p}"));
        }
        if let Some(max) = q.max_seq {
            let p = f.bind(int(max));
            f.conditions.push(format!("seq <= {p}"));
        }
        f
    }

    fn clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// A bound on the timestamp as stored text. Stored times are whole microseconds, so a bound
/// with a finer fraction is rounded up: `t >= b` and `t < b` then hold for exactly the same
/// stored times as before.
fn bound(t: OffsetDateTime) -> String {
    let floor = timefmt::truncate(t);
    if floor == t.to_offset(time::UtcOffset::UTC) {
        timefmt::format(floor)
    } else {
        timefmt::format(floor + Duration::microseconds(1))
    }
}

pub(crate) fn search(conn: &Connection, q: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
    let mut f = Filter::of(q);
    let order = match q.order {
        Order::Asc => "ASC",
        Order::Desc => "DESC",
    };
    let limit = f.bind(int(q.limit as u64));
    let sql = format!(
        "SELECT seq, canonical, leaf_hash FROM entries{} ORDER BY seq {order} LIMIT {limit}",
        f.clause()
    );
    let rows = conn
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_map(params_from_iter(f.params), entry_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .ctx("searching entries")?;
    entries_from_rows(rows)
}

pub(crate) fn summary(
    conn: &Connection,
    q: &EntryQuery,
    by: GroupBy,
) -> Result<Vec<Group>, StoreError> {
    let f = Filter::of(q);
    let key = match by {
        GroupBy::Actor => "coalesce(actor_id, actor_email, '')",
        GroupBy::Operation => "operation",
        GroupBy::EntityType => "coalesce(entity_type, '')",
        // `2026-11-27T13:04:05.123456Z` → `2026-11-27T13:00:00Z` and `2026-11-27`.
        GroupBy::Hour => "substr(ts, 1, 13) || ':00:00Z'",
        GroupBy::Day => "substr(ts, 1, 10)",
    };
    let sql = format!(
        "SELECT {key} AS k, count(*) AS n FROM entries{} GROUP BY k ORDER BY n DESC, k ASC",
        f.clause()
    );
    let groups = conn
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_map(params_from_iter(f.params), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .ctx("summarising entries")?;
    Ok(groups
        .into_iter()
        .map(|(key, n)| Group {
            key,
            count: u64::try_from(n).unwrap_or(0),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_round_sub_microsecond_times_up() {
        let t = timefmt::parse("2026-01-01T00:00:00.000001Z").unwrap();
        assert_eq!(bound(t), "2026-01-01T00:00:00.000001Z");
        let finer = t + Duration::nanoseconds(1);
        assert_eq!(bound(finer), "2026-01-01T00:00:00.000002Z");
        let offset = t.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(bound(offset), "2026-01-01T00:00:00.000001Z");
    }

    #[test]
    fn every_value_is_a_parameter_and_none_is_sql_text() {
        let evil = "x'); DROP TABLE entries; --".to_owned();
        let q = EntryQuery {
            actor: Some(evil.clone()),
            entity_type: Some(evil.clone()),
            field: Some(evil.clone()),
            tag: Some(evil.clone()),
            q: Some(evil.clone()),
            correlation_id: Some(evil.clone()),
            ..EntryQuery::default()
        };
        let f = Filter::of(&q);
        assert!(!f.clause().contains("DROP"), "{}", f.clause());
        assert_eq!(
            f.params.len(),
            7,
            "the field filter binds the pointer twice"
        );
    }
}
