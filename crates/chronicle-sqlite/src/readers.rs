//! The pool of read-only connections. Each read runs on tokio's blocking pool, so a slow
//! query never stalls the async workers; at most `readers` run at once.

use crate::conn;
use chronicle_store::StoreError;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn open(path: PathBuf, count: usize) -> Result<Arc<Readers>, StoreError> {
        let count = count.max(1);
        let idle = (0..count)
            .map(|_| conn::open_reader(&path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Readers {
            path,
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(count)),
        }))
    }

    /// Runs `f` on an idle connection on the blocking pool.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::internal("the reader pool is closed", e))?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // A connection is missing only if a read panicked while holding it; replace it.
            let conn = match pool.take() {
                Some(conn) => conn,
                None => conn::open_reader(&pool.path)?,
            };
            let result = f(&conn);
            pool.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::internal("a read task failed", e))?
    }

    fn take(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn give_back(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }
}
