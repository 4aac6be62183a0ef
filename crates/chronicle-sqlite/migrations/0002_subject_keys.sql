-- Schema version 2: data keys of data subjects, for encryption at rest of sensitive values.
--
-- Not part of the ledger, and mutable on purpose: erasure sets `wrapped` to NULL, which makes
-- every value sealed under the key unreadable while the entries (ciphertext) and their leaf
-- hashes stay. `wrapped` is the data key encrypted under the master key (never stored
-- plain). The writer runs with secure_delete on and checkpoints the WAL after an erasure, so
-- the old key bytes do not linger in free pages or the log.
CREATE TABLE subject_keys (
    subject    TEXT PRIMARY KEY,
    wrapped    BLOB,
    created_at TEXT NOT NULL,
    erased_at  TEXT
) WITHOUT ROWID;
