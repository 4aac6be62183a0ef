-- Schema version 4: provenance. Entity writes may carry `metadata.source: {system,
-- record_id?, import_id?}`; lineage and the `source_system`, `source_record_id` and
-- `import_id` filters find entries by it.
--
-- The terms an entry can be found by its source: 's:<system>', and 'r:<record_id>' and
-- 'i:<import_id>' when present, each only when `system` is a string (what the embedded
-- backend and `Source::of_metadata` call a source). Read from the canonical text (the single
-- source of truth, which the leaf hash covers), so no column can drift from it. RFC 8785
-- text has no whitespace, so an entry with a source holds `"source":`; the others, nearly
-- every entry, return at once without parsing the JSON.
CREATE FUNCTION chronicle_source_terms(canonical TEXT) RETURNS TEXT[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    src   JSONB;
    terms TEXT[];
BEGIN
    IF strpos(canonical, '"source":') = 0 THEN
        RETURN '{}';
    END IF;
    src := canonical::jsonb -> 'metadata' -> 'source';
    IF jsonb_typeof(src -> 'system') IS DISTINCT FROM 'string' THEN
        RETURN '{}';
    END IF;
    terms := ARRAY['s:' || (src ->> 'system')];
    IF jsonb_typeof(src -> 'record_id') = 'string' THEN
        terms := terms || ('r:' || (src ->> 'record_id'));
    END IF;
    IF jsonb_typeof(src -> 'import_id') = 'string' THEN
        terms := terms || ('i:' || (src ->> 'import_id'));
    END IF;
    RETURN terms;
END
$$;

CREATE INDEX entries_by_source ON entries USING gin (chronicle_source_terms(canonical));
