//! Month partitions of `entries`.
//!
//! The writer makes sure that the partitions a group is about to write into exist before it
//! opens the group's transaction (creating a partition takes a short exclusive lock on
//! `entries`, which must not be held while the ledger head is locked). Anything that still
//! misses a partition lands in `entries_default`, so a write never fails for lack of one; a
//! month that already has rows in the default partition is left there (PostgreSQL refuses to
//! create a partition whose range the default partition holds rows of).

use crate::error::Context;
use chronicle_store::StoreError;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use time::{Date, Month as TimeMonth, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A calendar month in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Month {
    year: i32,
    month: u8,
}

impl Month {
    pub(crate) fn of(t: OffsetDateTime) -> Month {
        let t = t.to_offset(UtcOffset::UTC);
        Month {
            year: t.year(),
            month: t.month() as u8,
        }
    }

    pub(crate) fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Only four-digit years get a partition; anything else stays in the default one.
    fn supported(self) -> bool {
        (1..=9998).contains(&self.year)
    }

    fn name(self) -> String {
        format!("entries_y{:04}m{:02}", self.year, self.month)
    }

    fn start(self) -> OffsetDateTime {
        let month = TimeMonth::try_from(self.month).expect("months are 1-12");
        let date = Date::from_calendar_date(self.year, month, 1).expect("a supported month");
        PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc()
    }

    /// The partition bound literal, e.g. `2026-11-01 00:00:00+00`.
    fn bound(self) -> String {
        format!("{:04}-{:02}-01 00:00:00+00", self.year, self.month)
    }
}

#[derive(Clone, Copy, Debug)]
enum Known {
    /// The partition exists, or the month's rows live in the default partition for good.
    Settled,
    /// Creating it failed (e.g. a lock wait timed out); try again after this instant.
    RetryAfter(Instant),
}

/// The writer's memory of which months are settled.
#[derive(Debug, Default)]
pub(crate) struct Partitions {
    known: HashMap<Month, Known>,
}

/// How long creating a partition may wait for its lock on `entries` before giving up for now:
/// while it waits, it queues every other reader and writer of the table behind it.
const LOCK_TIMEOUT: &str = "500ms";
const RETRY_AFTER: Duration = Duration::from_secs(30);

impl Partitions {
    /// Makes sure each month has a partition (or is settled in the default one). Failures are
    /// logged and retried later, never returned: the default partition takes the rows.
    pub(crate) async fn ensure(
        &mut self,
        conn: &mut PgConnection,
        months: impl IntoIterator<Item = Month>,
    ) -> Result<(), StoreError> {
        for month in months {
            match self.known.get(&month) {
                Some(Known::Settled) => continue,
                Some(Known::RetryAfter(at)) if Instant::now() < *at => continue,
                _ => {}
            }
            if !month.supported() {
                self.known.insert(month, Known::Settled);
                continue;
            }
            match create(conn, month).await {
                Ok(()) => {
                    self.known.insert(month, Known::Settled);
                }
                Err(e @ StoreError::Unavailable { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!(partition = %month.name(), error = %e,
                        "could not create a partition; its rows go to entries_default for now");
                    self.known
                        .insert(month, Known::RetryAfter(Instant::now() + RETRY_AFTER));
                }
            }
        }
        Ok(())
    }
}

/// Creates the month's partition unless it exists or the default partition already holds rows
/// of that month. Serialised across nodes by an advisory lock.
async fn create(conn: &mut PgConnection, month: Month) -> Result<(), StoreError> {
    let name = month.name();
    let mut tx = conn.begin().await.ctx("opening a partition transaction")?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtext('chronicle partitions ' || current_schema()))",
    )
    .execute(&mut *tx)
    .await
    .ctx("waiting for the partition lock")?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&name)
        .fetch_one(&mut *tx)
        .await
        .ctx("looking for a partition")?;
    if exists {
        return tx.commit().await.ctx("closing a partition transaction");
    }
    let in_default: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM entries_default WHERE ts >= $1 AND ts < $2)",
    )
    .bind(month.start())
    .bind(month.next().start())
    .fetch_one(&mut *tx)
    .await
    .ctx("looking into the default partition")?;
    if in_default {
        tracing::warn!(partition = %name, "rows of this month are in entries_default; they stay there");
        return tx.commit().await.ctx("closing a partition transaction");
    }
    sqlx::raw_sql(AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
    )))
    .execute(&mut *tx)
    .await
    .ctx("setting the lock timeout")?;
    // Built from numbers only (see `Month`).
    let sql = format!(
        "CREATE TABLE {name} PARTITION OF entries FOR VALUES FROM ('{}') TO ('{}')",
        month.bound(),
        month.next().bound()
    );
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await
        .ctx(&format!("creating partition {name}"))?;
    tx.commit()
        .await
        .ctx(&format!("committing partition {name}"))?;
    tracing::info!(partition = %name, "created partition");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn months_name_and_bound_their_partitions() {
        let m = Month::of(datetime!(2026-12-31 23:59:59.999999 UTC));
        assert_eq!(m.name(), "entries_y2026m12");
        assert_eq!(m.bound(), "2026-12-01 00:00:00+00");
        assert_eq!(m.next().bound(), "2027-01-01 00:00:00+00");
        assert_eq!(m.next().start(), datetime!(2027-01-01 0:00 UTC));
        // Months are UTC months, whatever the offset the time came with.
        let m = Month::of(datetime!(2027-01-01 00:30 +01:00));
        assert_eq!(m.name(), "entries_y2026m12");
    }
}
