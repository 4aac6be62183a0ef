//! Bounds on input, checked at the edge before anything is planned or stored.

use serde_json::Value;

/// Deepest JSON nesting accepted anywhere in a request.
pub const MAX_JSON_DEPTH: usize = 64;
/// Longest entity id, entity type and other identifiers, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Longest free-text value (reason, summary, header values), in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Most operations in one bulk request or transaction.
pub const MAX_BATCH_OPS: usize = 10_000;

/// Depth of a JSON value: a scalar is 1, `[]` is 1, `[[1]]` is 3.
pub fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 1,
    }
}

/// Depth of raw JSON text, counted without parsing it, so that a hostile document cannot
/// exhaust the stack of a recursive parser first. Brackets inside strings are skipped.
pub fn text_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Whether raw JSON text holds a `\u0000` escape inside a string (raw NUL bytes are not
/// valid JSON at all). PostgreSQL's `text` and `jsonb` cannot store U+0000, so Chronicle
/// refuses it everywhere, on every backend, as invalid input.
pub fn has_nul_escape(bytes: &[u8]) -> bool {
    let (mut in_string, mut i) = (false, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if !in_string {
            in_string = b == b'"';
        } else if b == b'"' {
            in_string = false;
        } else if b == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            // Skip the escaped character, so that `\\u0000` (a backslash, then text) is not one.
            i += 1;
        }
        i += 1;
    }
    false
}

/// An entity id: 1 to 256 bytes, no control characters.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!("must be at most {MAX_ID_BYTES} bytes"));
    }
    if id.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// An entity type name: 1 to 64 of `a-z 0-9 _ -`, starting with a letter.
pub fn check_type_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err("must be 1-64 of a-z, 0-9, _ or -, starting with a letter".into())
    }
}

/// A data subject, `<type>:<id>` (see `Schema::subject_of`): a type name and an entity id.
pub fn check_subject(subject: &str) -> Result<(), String> {
    let Some((ty, id)) = subject.split_once(':') else {
        return Err("must be <type>:<id>, e.g. customer:c1".into());
    };
    check_type_name(ty).map_err(|m| format!("type {m}"))?;
    check_id(id).map_err(|m| format!("id {m}"))
}

/// Free text: bounded, no control characters other than newline and tab.
pub fn check_text(text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!("must be at most {MAX_TEXT_BYTES} bytes"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_nesting() {
        assert_eq!(depth(&json!(1)), 1);
        assert_eq!(depth(&json!({"a": [1]})), 2 + 1);
        assert_eq!(text_depth(br#"{"a": [1, {"b": "[[[{"}]}"#), 3);
        assert_eq!(text_depth(br#"["\"[", []]"#), 2);
    }

    #[test]
    fn nul_escapes_are_found_only_inside_strings_and_unescaped() {
        assert!(has_nul_escape(br#"{"a": "x\u0000y"}"#));
        assert!(has_nul_escape(br#"{"a\u0000": 1}"#));
        assert!(!has_nul_escape(br#"{"a": "x\\u0000y"}"#));
        assert!(!has_nul_escape(br#"{"a": "\u0001"}"#));
        assert!(!has_nul_escape(br#"{"a": 1}"#));
    }

    #[test]
    fn ids_and_type_names_are_bounded() {
        assert!(check_id("abc").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id(&"x".repeat(257)).is_err());
        assert!(check_id("a\u{0}b").is_err());
        assert!(check_type_name("shipment_item").is_ok());
        assert!(check_type_name("Shipment").is_err());
        assert!(check_type_name("1x").is_err());
    }
}
