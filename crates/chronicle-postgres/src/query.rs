//! Searching entries. The WHERE clause is assembled from constant fragments, one per filter
//! that is set, and every value is a bound parameter: no input ever becomes SQL text.
//!
//! Which index serves which filter (each is declared on `entries` and so exists on every
//! month partition; `from`/`to` also prune whole partitions):
//!
//! | filter | index |
//! |---|---|
//! | (none), `cursor`, `max_seq`, order | `entries_pkey (seq, ts)` |
//! | `actor` | `entries_by_actor_id (actor_id, seq)` OR `entries_by_actor_email (actor_email, seq)` |
//! | `entity_type`, `entity_id` | `entries_by_entity (entity_type, entity_id, seq)` |
//! | `operation` | `entries_by_operation (operation, seq)` |
//! | `severity` | `entries_by_severity (severity, seq)` |
//! | `from`, `to` | partition pruning, then `entries_by_ts` (BRIN on ts) |
//! | `correlation_id` | `entries_by_correlation (correlation_id, seq)` |
//! | `parent_id` | `entries_by_parent (parent_id, seq)` |
//! | `transaction_id` | `entries_by_transaction (transaction_id, seq)` |
//! | `rollback_id` | `entries_by_rollback (rollback_id, seq)` |
//! | `field`, `tag` | `entries_by_term` (GIN on `chronicle_search_terms(canonical)`) |
//! | `source_system`, `source_record_id`, `import_id` | `entries_by_source` (GIN on `chronicle_source_terms(canonical)`) |
//! | `q` | none: a filter on the rows the other conditions select |
//! | entry by id | `entries_by_id (id)` |

use chronicle_core::timefmt;
use chronicle_store::{EntryQuery, GroupBy, Order};
use sqlx::{Postgres, QueryBuilder};
use time::{Duration, OffsetDateTime};

/// Appends ` AND <condition>` for every filter of `q` that is set.
fn push_filters(b: &mut QueryBuilder<Postgres>, q: &EntryQuery, text_search: TextSearch) {
    b.push(" AND ");
    b.push(chronicle_store::WITHIN_HEAD_SQL);
    if let Some(actor) = &q.actor {
        b.push(" AND (actor_id = ");
        b.push_bind(actor.clone());
        b.push(" OR actor_email = ");
        b.push_bind(actor.clone());
        b.push(")");
    }
    if let Some(v) = &q.entity_type {
        b.push(" AND entity_type = ");
        b.push_bind(v.clone());
    }
    if let Some(v) = &q.entity_id {
        b.push(" AND entity_id = ");
        b.push_bind(v.clone());
    }
    if let Some(v) = q.operation {
        b.push(" AND operation = ");
        b.push_bind(v.as_str());
    }
    if let Some(v) = q.from {
        b.push(" AND ts >= ");
        b.push_bind(bound(v));
    }
    if let Some(v) = q.to {
        b.push(" AND ts < ");
        b.push_bind(bound(v));
    }
    if let Some(v) = &q.correlation_id {
        b.push(" AND correlation_id = ");
        b.push_bind(v.clone());
    }
    if let Some(v) = q.transaction_id {
        b.push(" AND transaction_id = ");
        b.push_bind(v);
    }
    if let Some(v) = q.parent_id {
        b.push(" AND parent_id = ");
        b.push_bind(v);
    }
    if let Some(v) = q.rollback_id {
        b.push(" AND rollback_id = ");
        b.push_bind(v);
    }
    if let Some(v) = q.severity {
        b.push(" AND severity = ");
        b.push_bind(v.as_str());
    }
    if let Some(pointer) = &q.field {
        // The GIN index narrows the search to entries holding one of the pointer's terms (see
        // `field_terms`); the rule itself, the same as the embedded backend's, then decides: a
        // change at the field, beneath it (`/a` matches `/a/b`, not `/ab`), or above it with
        // the field inside its old or new value. Prefixes are compared with left(), not LIKE,
        // so `%` and `_` in a pointer are literal characters. The root pointer matches every
        // change, so no term narrows it down.
        if !pointer.is_empty() {
            b.push(" AND chronicle_search_terms(canonical) && ");
            b.push_bind(field_terms(pointer));
            b.push("::text[]");
        }
        b.push(
            " AND EXISTS (SELECT 1 FROM jsonb_array_elements((canonical::jsonb) \
                -> 'change_set' -> 'field_changes') AS fc WHERE fc ->> 'path' = ",
        );
        b.push_bind(pointer.clone());
        b.push(" OR left(fc ->> 'path', length(");
        b.push_bind(format!("{pointer}/"));
        b.push(")) = ");
        b.push_bind(format!("{pointer}/"));
        b.push(" OR (left(");
        b.push_bind(pointer.clone());
        b.push(", length(fc ->> 'path') + 1) = (fc ->> 'path') || '/' AND (chronicle_json_has(fc -> 'old', substr(");
        b.push_bind(pointer.clone());
        b.push(", length(fc ->> 'path') + 1)) OR chronicle_json_has(fc -> 'new', substr(");
        b.push_bind(pointer.clone());
        b.push(", length(fc ->> 'path') + 1)))))");
    }
    if let Some(tag) = &q.tag {
        b.push(" AND chronicle_search_terms(canonical) @> ");
        b.push_bind(vec![format!("t:{tag}")]);
        b.push("::text[]");
    }
    let source_terms: Vec<String> = [
        ("s:", &q.source_system),
        ("r:", &q.source_record_id),
        ("i:", &q.import_id),
    ]
    .into_iter()
    .filter_map(|(prefix, v)| v.as_ref().map(|v| format!("{prefix}{v}")))
    .collect();
    if !source_terms.is_empty() {
        // Exact: every term present means every given member equals (see migration 4).
        b.push(" AND chronicle_source_terms(canonical) @> ");
        b.push_bind(source_terms);
        b.push("::text[]");
    }
    if let Some(text) = &q.q {
        // Unicode lower case on both sides, as the embedded backend has it (Rust's
        // `str::to_lowercase`); ICU's root locale folds case the same way, whatever the
        // database's own locale. A missing reason or summary never matches.
        let lower = if text_search.icu {
            "lower((canonical::jsonb ->> 'reason') COLLATE \"und-x-icu\")"
        } else {
            "lower(canonical::jsonb ->> 'reason')"
        };
        b.push(" AND (strpos(");
        b.push(lower);
        b.push(", ");
        b.push_bind(text.to_lowercase());
        b.push(") > 0 OR strpos(");
        b.push(if text_search.icu {
            "lower((canonical::jsonb ->> 'summary') COLLATE \"und-x-icu\")"
        } else {
            "lower(canonical::jsonb ->> 'summary')"
        });
        b.push(", ");
        b.push_bind(text.to_lowercase());
        b.push(") > 0)");
    }
    if let Some(max) = q.max_seq {
        b.push(" AND seq <= ");
        b.push_bind(crate::rows::int(max));
    }
}

/// How the database can fold case for the `q` filter.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TextSearch {
    /// The ICU root collation (`und-x-icu`) exists: `lower()` then folds every script the way
    /// Rust does. Without it, `lower()` follows the database's locale.
    pub(crate) icu: bool,
}

/// The index terms of the entries that may touch the field `pointer` (see the migration that
/// defines `chronicle_search_terms`): changes at it or beneath it (`f:`), and changes at each
/// of its ancestors (`x:`), whose old or new value may hold it.
fn field_terms(pointer: &str) -> Vec<String> {
    let mut terms = vec![format!("f:{pointer}")];
    terms.extend(
        pointer
            .match_indices('/')
            .map(|(i, _)| format!("x:{}", &pointer[..i])),
    );
    terms
}

/// A bound on the timestamp. Stored times are whole microseconds, so a bound with a finer
/// fraction is rounded up: `ts >= b` and `ts < b` then hold for exactly the stored times they
/// held for before (the embedded backend rounds the same way).
fn bound(t: OffsetDateTime) -> OffsetDateTime {
    let floor = timefmt::truncate(t);
    if floor == t {
        floor
    } else {
        floor + Duration::microseconds(1)
    }
}

/// `SELECT seq, canonical, leaf_hash` of the matching entries, in order, after the cursor.
pub(crate) fn search(q: &EntryQuery, text_search: TextSearch) -> QueryBuilder<Postgres> {
    let mut b = QueryBuilder::new("SELECT seq, canonical, leaf_hash FROM entries WHERE TRUE");
    push_filters(&mut b, q, text_search);
    if let Some(cursor) = q.cursor {
        b.push(match q.order {
            Order::Asc => " AND seq > ",
            Order::Desc => " AND seq < ",
        });
        b.push_bind(crate::rows::int(cursor));
    }
    b.push(match q.order {
        Order::Asc => " ORDER BY seq ASC LIMIT ",
        Order::Desc => " ORDER BY seq DESC LIMIT ",
    });
    b.push_bind(crate::rows::int(q.limit as u64));
    b
}

/// `SELECT key, count` of the matching entries per group, largest first, ties by key
/// (bytewise, as SQLite orders text).
pub(crate) fn summary(
    q: &EntryQuery,
    by: GroupBy,
    text_search: TextSearch,
) -> QueryBuilder<Postgres> {
    let key = match by {
        GroupBy::Actor => "coalesce(actor_id, actor_email, '')",
        GroupBy::Operation => "operation",
        GroupBy::EntityType => "coalesce(entity_type, '')",
        GroupBy::Hour => "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24\":00:00Z\"')",
        GroupBy::Day => "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    };
    let mut b = QueryBuilder::new("SELECT ");
    b.push(key);
    b.push(" COLLATE \"C\" AS key, count(*) AS n FROM entries WHERE TRUE");
    push_filters(&mut b, q, text_search);
    if let Some(cursor) = q.cursor {
        b.push(match q.order {
            Order::Asc => " AND seq > ",
            Order::Desc => " AND seq < ",
        });
        b.push_bind(crate::rows::int(cursor));
    }
    b.push(" GROUP BY 1 ORDER BY n DESC, key");
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_filters_appear_and_values_are_bound() {
        let q = EntryQuery {
            actor: Some("x'; DROP TABLE entries; --".into()),
            field: Some("/a".into()),
            tag: Some("t".into()),
            q: Some("100%".into()),
            cursor: Some(9),
            order: Order::Desc,
            limit: 5,
            ..EntryQuery::default()
        };
        let b = search(&q, TextSearch::default());
        let sql = b.sql().as_str().to_owned();
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(!sql.contains("100%"), "{sql}");
        assert!(sql.contains("(actor_id = $1 OR actor_email = $2)"), "{sql}");
        assert!(
            sql.contains("chronicle_search_terms(canonical) && $3::text[]"),
            "{sql}"
        );
        assert!(
            sql.contains("chronicle_search_terms(canonical) @> $10::text[]"),
            "{sql}"
        );
        assert!(
            sql.contains("seq < $13 ORDER BY seq DESC LIMIT $14"),
            "{sql}"
        );
        assert!(!sql.contains("entity_type"), "{sql}");
    }

    #[test]
    fn a_field_is_looked_up_at_and_beneath_it_and_at_each_ancestor() {
        assert_eq!(field_terms("/a/b"), ["f:/a/b", "x:", "x:/a"]);
        assert_eq!(field_terms("/a~1b"), ["f:/a~1b", "x:"]);
        assert_eq!(field_terms("/"), ["f:/", "x:"]);
        assert_eq!(field_terms("a"), ["f:a"]);
    }

    #[test]
    fn time_bounds_round_sub_microsecond_times_up() {
        let t = timefmt::parse("2026-01-01T00:00:00.000001Z").unwrap();
        assert_eq!(bound(t), t);
        assert_eq!(
            bound(t + Duration::nanoseconds(1)),
            t + Duration::microseconds(1)
        );
    }

    #[test]
    fn summary_keys_group_and_order() {
        let b = summary(&EntryQuery::default(), GroupBy::Hour, TextSearch::default());
        let sql = b.sql().as_str().to_owned();
        assert!(
            sql.starts_with("SELECT to_char(ts AT TIME ZONE 'UTC'"),
            "{sql}"
        );
        assert!(sql.ends_with("GROUP BY 1 ORDER BY n DESC, key"), "{sql}");
    }
}
