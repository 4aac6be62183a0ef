-- Chronicle on PostgreSQL, schema version 1: the same logical schema as the embedded backend.
--
-- entries is the ledger: one row per entry, appended in seq order and never updated or
-- deleted (retention destruction excepted). `canonical` holds the exact RFC 8785 text that
-- was hashed and is the single source of truth; the other columns are copies kept for
-- searching, and `chronicle verify` checks that they agree with it. There are deliberately no
-- triggers guarding the rows: the verifier must catch an edit, whoever made it.
--
-- The table is partitioned by month on ts. A partitioned table's unique constraints must
-- include the partition key, so the primary key is (seq, ts); seq's uniqueness and density
-- come from the writers, which all append under the lock on the ledger_head row.
CREATE TABLE entries (
    seq            BIGINT      NOT NULL,
    id             UUID        NOT NULL,
    ts             TIMESTAMPTZ NOT NULL,
    actor_id       TEXT COLLATE "C",
    actor_email    TEXT COLLATE "C",
    operation      TEXT COLLATE "C" NOT NULL,
    entity_type    TEXT COLLATE "C",
    entity_id      TEXT COLLATE "C",
    entity_version BIGINT,
    correlation_id TEXT COLLATE "C",
    parent_id      UUID,
    transaction_id UUID,
    rollback_id    UUID,
    severity       TEXT COLLATE "C" NOT NULL,
    canonical      TEXT        NOT NULL,
    leaf_hash      BYTEA       NOT NULL,
    PRIMARY KEY (seq, ts)
) PARTITION BY RANGE (ts);

-- Rows whose month has no partition yet land here, so a write never fails for lack of one.
-- Month partitions (entries_yYYYYmMM) are created ahead of time by the writer.
CREATE TABLE entries_default PARTITION OF entries DEFAULT;

-- One index per filter of a search; the trailing seq serves keyset pagination in seq order.
-- The link columns are mostly NULL, so their indexes are partial. Every index is declared on
-- the parent and so exists on every partition.
CREATE INDEX entries_by_id          ON entries (id);
CREATE INDEX entries_by_ts          ON entries USING brin (ts);
CREATE INDEX entries_by_entity      ON entries (entity_type, entity_id, seq);
CREATE INDEX entries_by_actor_id    ON entries (actor_id, seq) WHERE actor_id IS NOT NULL;
CREATE INDEX entries_by_actor_email ON entries (actor_email, seq) WHERE actor_email IS NOT NULL;
CREATE INDEX entries_by_operation   ON entries (operation, seq);
CREATE INDEX entries_by_severity    ON entries (severity, seq);
CREATE INDEX entries_by_correlation ON entries (correlation_id, seq) WHERE correlation_id IS NOT NULL;
CREATE INDEX entries_by_parent      ON entries (parent_id, seq) WHERE parent_id IS NOT NULL;
CREATE INDEX entries_by_transaction ON entries (transaction_id, seq) WHERE transaction_id IS NOT NULL;
CREATE INDEX entries_by_rollback    ON entries (rollback_id, seq) WHERE rollback_id IS NOT NULL;

-- The current state of every entity, deleted ones included. "C" collation: ids order
-- bytewise, as on SQLite, whatever the database's locale.
CREATE TABLE entities (
    entity_type TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    version     BIGINT      NOT NULL,
    data        JSONB       NOT NULL,
    deleted     BOOLEAN     NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    last_seq    BIGINT      NOT NULL,
    PRIMARY KEY (entity_type, id)
);

-- Interior hashes of the Merkle tree's perfect subtrees (level >= 1). Level 0, the leaves, is
-- entries.leaf_hash with idx = seq - 1.
CREATE TABLE merkle_nodes (
    level SMALLINT NOT NULL,
    idx   BIGINT   NOT NULL,
    hash  BYTEA    NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The ledger head: the tree's frontier (its size first) and the newest entry's timestamp.
-- Every writer, on every node, locks this row (SELECT ... FOR UPDATE) for the whole of its
-- group commit: that lock is what keeps the ledger one dense sequence with one tree.
CREATE TABLE ledger_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    tree_size BIGINT  NOT NULL,
    frontier  BYTEA   NOT NULL,
    last_ts   TIMESTAMPTZ
);
INSERT INTO ledger_head (id, tree_size, frontier, last_ts)
VALUES (1, 0, '\x0000000000000000'::bytea, NULL);
