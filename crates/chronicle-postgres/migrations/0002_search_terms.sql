-- Schema version 2: the `field` filter's rule as SQL, and an index for `field` and `tag`.
--
-- Both filters look inside the canonical text (the single source of truth, which the leaf
-- hash covers), so no extra column can drift from it.

-- Whether `doc` has a value at the JSON Pointer `pointer`, exactly as serde_json's
-- `Value::pointer` decides it (the embedded backend's chronicle_json_has): `~1` and `~0`
-- unescaped in that order, array indices in plain decimal without leading zeros.
CREATE FUNCTION chronicle_json_has(doc JSONB, pointer TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    tokens TEXT[];
    token  TEXT;
    cur    JSONB := doc;
    idx    BIGINT;
BEGIN
    IF doc IS NULL OR pointer IS NULL THEN
        RETURN FALSE;
    END IF;
    IF pointer = '' THEN
        RETURN TRUE;
    END IF;
    IF left(pointer, 1) <> '/' THEN
        RETURN FALSE;
    END IF;
    tokens := string_to_array(pointer, '/');
    FOR i IN 2 .. cardinality(tokens) LOOP
        token := replace(replace(tokens[i], '~1', '/'), '~0', '~');
        CASE jsonb_typeof(cur)
            WHEN 'object' THEN
                IF NOT cur ? token THEN
                    RETURN FALSE;
                END IF;
                cur := cur -> token;
            WHEN 'array' THEN
                IF token !~ '^(0|[1-9][0-9]{0,17})$' THEN
                    RETURN FALSE;
                END IF;
                idx := token::BIGINT;
                IF idx >= jsonb_array_length(cur) THEN
                    RETURN FALSE;
                END IF;
                cur := cur -> idx::INTEGER;
            ELSE
                RETURN FALSE;
        END CASE;
    END LOOP;
    RETURN TRUE;
END
$$;

-- The terms an entry can be found by: 't:<tag>' for each tag; 'f:<pointer>' for every prefix
-- of each changed field's path ('/address/city' gives 'f:', 'f:/address', 'f:/address/city'),
-- and for every value inside the change's old and new values ('/address' deleted with
-- {"city": ...} gives 'f:/address/city'), in canonical pointer form. Every entry the field rule
-- matches therefore has the term of the pointer asked for (or of its canonical form); the GIN
-- index narrows a search to those entries and the rule itself decides.
CREATE FUNCTION chronicle_search_terms(canonical TEXT) RETURNS TEXT[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    WITH RECURSIVE doc AS (SELECT canonical::jsonb AS j),
    changes AS (
        SELECT fc ->> 'path' AS path, fc -> 'old' AS old_value, fc -> 'new' AS new_value
        FROM doc, jsonb_array_elements(doc.j -> 'change_set' -> 'field_changes') AS fc
    ),
    inside(ptr, v) AS (
        SELECT path, old_value FROM changes
        UNION ALL
        SELECT path, new_value FROM changes
        UNION ALL
        SELECT inside.ptr || '/' || child.k, child.v
        FROM inside CROSS JOIN LATERAL (
            SELECT replace(replace(e.key, '~', '~0'), '/', '~1') AS k, e.value AS v
            FROM jsonb_each(CASE WHEN jsonb_typeof(inside.v) = 'object' THEN inside.v END) AS e
            UNION ALL
            SELECT (a.n - 1)::TEXT, a.v
            FROM jsonb_array_elements(CASE WHEN jsonb_typeof(inside.v) = 'array' THEN inside.v END)
                 WITH ORDINALITY AS a(v, n)
        ) AS child
    )
    SELECT coalesce(array_agg(DISTINCT term), '{}'::TEXT[])
    FROM (
        SELECT 't:' || tag AS term
        FROM doc, jsonb_array_elements_text(doc.j -> 'tags') AS tag
        UNION ALL
        SELECT 'f:' || path FROM changes
        UNION ALL
        SELECT 'f:' || array_to_string(parts[1:k], '/')
        FROM changes,
             LATERAL string_to_array(path, '/') AS parts,
             LATERAL generate_series(1, cardinality(parts)) AS k
        UNION ALL
        SELECT 'f:' || ptr FROM inside
    ) AS terms
$$;

CREATE INDEX entries_by_term ON entries USING gin (chronicle_search_terms(canonical));
