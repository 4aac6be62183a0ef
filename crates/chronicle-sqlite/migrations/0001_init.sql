-- Chronicle's embedded schema, version 1.
--
-- entries is the ledger: one row per entry, appended in seq order and never updated or
-- deleted (retention destruction excepted). `canonical` holds the exact RFC 8785 bytes that
-- were hashed and is the single source of truth; the other columns are copies kept for
-- searching, and `chronicle verify` checks that they agree with it. There are deliberately no
-- triggers guarding the rows: the verifier must catch an edit, whoever made it.
CREATE TABLE entries (
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    ts             TEXT    NOT NULL,
    actor_id       TEXT,
    actor_email    TEXT,
    operation      TEXT    NOT NULL,
    entity_type    TEXT,
    entity_id      TEXT,
    entity_version INTEGER,
    correlation_id TEXT,
    parent_id      TEXT,
    transaction_id TEXT,
    rollback_id    TEXT,
    severity       TEXT    NOT NULL,
    canonical      TEXT    NOT NULL,
    leaf_hash      BLOB    NOT NULL
);

-- One index per filter of a search; the trailing seq serves keyset pagination in seq order.
-- The link columns are mostly NULL, so their indexes are partial.
CREATE INDEX entries_by_entity      ON entries (entity_type, entity_id, seq);
CREATE INDEX entries_by_actor_id    ON entries (actor_id, seq) WHERE actor_id IS NOT NULL;
CREATE INDEX entries_by_actor_email ON entries (actor_email, seq) WHERE actor_email IS NOT NULL;
CREATE INDEX entries_by_operation   ON entries (operation, seq);
CREATE INDEX entries_by_ts          ON entries (ts);
CREATE INDEX entries_by_correlation ON entries (correlation_id, seq) WHERE correlation_id IS NOT NULL;
CREATE INDEX entries_by_parent      ON entries (parent_id, seq) WHERE parent_id IS NOT NULL;
CREATE INDEX entries_by_transaction ON entries (transaction_id, seq) WHERE transaction_id IS NOT NULL;
CREATE INDEX entries_by_rollback    ON entries (rollback_id, seq) WHERE rollback_id IS NOT NULL;

-- The current state of every entity, deleted ones included.
CREATE TABLE entities (
    entity_type TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    deleted     INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    last_seq    INTEGER NOT NULL,
    PRIMARY KEY (entity_type, id)
) WITHOUT ROWID;

-- Interior hashes of the Merkle tree's perfect subtrees (level >= 1). Level 0, the leaves, is
-- entries.leaf_hash with idx = seq - 1.
CREATE TABLE merkle_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- The ledger head: the tree's frontier (its size first) and the newest entry's timestamp.
-- The writer reads it at the start of every group commit and writes it once at the end.
CREATE TABLE ledger_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    tree_size INTEGER NOT NULL,
    frontier  BLOB    NOT NULL,
    last_ts   TEXT
);
INSERT INTO ledger_head (id, tree_size, frontier, last_ts) VALUES (1, 0, X'0000000000000000', NULL);
