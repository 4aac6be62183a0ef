//! Opening connections: the writer's (which creates the file and migrates it) and the
//! readers' (which refuse to write).

use crate::error::Context;
use chronicle_store::StoreError;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// How long a connection waits for another connection's lock before giving up with
/// `SQLITE_BUSY` (another process appending to the same file, a checkpoint).
const BUSY_TIMEOUT: Duration = Duration::from_millis(5_000);

/// Prepared statements kept per connection; the writer uses about a dozen, a search builds
/// one per combination of filters.
const STATEMENT_CACHE: usize = 64;

/// The connection that writes. Creates the file (and its parent directories) when missing.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::unavailable(
                format!("creating the data directory {}", parent.display()),
                e,
            )
        })?;
    }
    let conn = Connection::open(path).ctx(&format!("opening {}", path.display()))?;
    common(&conn)?;
    // WAL lets readers go on while the writer appends, and makes a commit one sequential
    // write. It is a property of the file, so every later connection gets it too.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .ctx("setting journal_mode")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::internal_msg(format!(
            "{} cannot use write-ahead logging (journal_mode is {mode})",
            path.display()
        )));
    }
    // FULL: the WAL is synced at every commit, so an acknowledged write survives power loss.
    conn.pragma_update(None, "synchronous", "FULL")
        .ctx("setting synchronous")?;
    // Erasure must destroy a subject's key: freed and overwritten content is zeroed on the
    // page rather than left in free space.
    conn.pragma_update(None, "secure_delete", "ON")
        .ctx("setting secure_delete")?;
    Ok(conn)
}

/// A connection that only reads. The file must exist (the writer created it).
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn =
        Connection::open_with_flags(path, flags).ctx(&format!("opening {}", path.display()))?;
    common(&conn)?;
    // Opened read-write (a WAL reader may need to write the shared-memory index) but refuses
    // every statement that would change the database.
    conn.pragma_update(None, "query_only", "ON")
        .ctx("setting query_only")?;
    register_functions(&conn)?;
    Ok(conn)
}

fn common(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx("setting busy_timeout")?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .ctx("setting foreign_keys")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// SQL functions the searches use:
/// - `chronicle_lower(text)`: Unicode lower case, as Rust's `str::to_lowercase` has it
///   (SQLite's own `lower` only knows ASCII), for case-insensitive text search.
/// - `chronicle_json_has(json, pointer)`: whether the JSON text has a value at the RFC 6901
///   pointer (with `~0`/`~1` escapes and array indices, which SQLite's JSON paths lack).
fn register_functions(conn: &Connection) -> Result<(), StoreError> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("chronicle_lower", 1, flags, |ctx| {
        let text: Option<String> = ctx.get(0)?;
        Ok(text.map(|t| t.to_lowercase()))
    })
    .ctx("registering chronicle_lower")?;
    conn.create_scalar_function("chronicle_json_has", 2, flags, |ctx| {
        let json: Option<String> = ctx.get(0)?;
        let pointer: Option<String> = ctx.get(1)?;
        Ok(match (json, pointer) {
            (Some(json), Some(pointer)) => serde_json::from_str::<serde_json::Value>(&json)
                .is_ok_and(|v| v.pointer(&pointer).is_some()),
            _ => false,
        })
    })
    .ctx("registering chronicle_json_has")
}
