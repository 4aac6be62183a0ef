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

-- The terms an entry can be found by: 't:<tag>' for each tag; for each changed field's path
-- 'x:<path>', and 'f:<prefix>' for the path and each of its ancestors but the root
-- ('/address/city' gives 'f:/address' and 'f:/address/city'). A search for the field p then
-- looks up 'f:<p>' (changes at p or beneath it) and 'x:<a>' for every ancestor a of p
-- (changes above p, which may hold p in their old or new value): a superset of the entries the
-- field rule matches, which the GIN index answers; the rule itself then decides.
--
-- PL/pgSQL with simple expressions only (no queries inside), which PostgreSQL evaluates
-- without starting an executor: about 20 microseconds a row, most of it parsing the JSON. A
-- SQL-language function with subqueries costs several times that in an index expression.
CREATE FUNCTION chronicle_search_terms(canonical TEXT) RETURNS TEXT[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    doc   JSONB := canonical::jsonb;
    tags  JSONB := doc -> 'tags';
    paths JSONB := jsonb_path_query_array(doc, '$.change_set.field_changes[*].path');
    terms TEXT[] := '{}';
    path  TEXT;
    rest  TEXT;
    slash INTEGER;
BEGIN
    FOR i IN 0 .. coalesce(jsonb_array_length(tags), 0) - 1 LOOP
        terms := terms || ('t:' || (tags ->> i));
    END LOOP;
    FOR i IN 0 .. jsonb_array_length(paths) - 1 LOOP
        path := paths ->> i;
        terms := terms || ('x:' || path);
        -- Every prefix that ends just before a '/' (after the leading one), then the path.
        rest := substr(path, 2);
        LOOP
            slash := strpos(rest, '/');
            EXIT WHEN slash = 0;
            terms := terms || ('f:' || left(path, length(path) - length(rest) + slash - 1));
            rest := substr(rest, slash + 1);
        END LOOP;
        terms := terms || ('f:' || path);
    END LOOP;
    RETURN terms;
END
$$;

CREATE INDEX entries_by_term ON entries USING gin (chronicle_search_terms(canonical));
