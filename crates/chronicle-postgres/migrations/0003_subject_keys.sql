-- Schema version 3: data keys of data subjects, for encryption at rest of sensitive values.
--
-- Not part of the ledger, and mutable on purpose: erasure sets `wrapped` to NULL, which makes
-- every value sealed under the key unreadable while the entries (ciphertext) and their leaf
-- hashes stay. `wrapped` is the data key encrypted under the master key (never stored
-- plain). The writer runs `VACUUM subject_keys` after a group that erased, so the dead row
-- version holding the old key is reclaimed at once (WAL archives and backups keep it until
-- they expire: see ARCHITECTURE.md).
CREATE TABLE subject_keys (
    subject    TEXT COLLATE "C" PRIMARY KEY,
    wrapped    BYTEA,
    created_at TIMESTAMPTZ NOT NULL,
    erased_at  TIMESTAMPTZ
);
