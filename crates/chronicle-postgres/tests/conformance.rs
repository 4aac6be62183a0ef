//! The store conformance suite, unchanged, on PostgreSQL: each case in its own schema.

mod common;

use chronicle_core::schema::Schema;
use chronicle_store::Store;
use std::sync::Arc;

async fn make_store(schema: Schema) -> Option<Arc<dyn Store>> {
    let (store, _) = common::fresh_store("conf", schema).await?;
    Some(Arc::new(store))
}

chronicle_store::conformance_suite!(make_store);
