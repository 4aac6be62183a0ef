-- Schema version 3: provenance. Entity writes may carry `metadata.source: {system,
-- record_id?, import_id?}`; lineage and the `source_system`, `source_record_id` and
-- `import_id` filters find entries by it.
--
-- The indexes are on expressions over the canonical text (the single source of truth, which
-- the leaf hash covers), so no extra column can drift from it. They are partial: only rows
-- whose canonical text holds `"source":` (RFC 8785 text has no whitespace, so every entry
-- with a source has it) are indexed, and that cheap test spares the JSON parse for every
-- other row. A query uses them by repeating the same `instr` condition.
CREATE INDEX entries_by_source_system ON entries
    (json_extract(canonical, '$.metadata.source.system'), seq)
    WHERE instr(canonical, '"source":') > 0;
CREATE INDEX entries_by_source_record ON entries
    (json_extract(canonical, '$.metadata.source.record_id'), seq)
    WHERE instr(canonical, '"source":') > 0;
CREATE INDEX entries_by_import ON entries
    (json_extract(canonical, '$.metadata.source.import_id'), seq)
    WHERE instr(canonical, '"source":') > 0;
