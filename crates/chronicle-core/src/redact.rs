//! Redaction: patterns (payment card numbers, national ids, whatever is configured) replaced
//! before anything is stored — in entity data, event values and metadata, and free text such
//! as the reason. Unlike masking, redaction loses the value for good: it never reaches the
//! database, so neither the ledger nor a backup holds it.
//!
//! A match becomes `[redacted:<rule name>]`. A rule may ask for a Luhn check, so that only
//! digit runs that are valid card numbers are redacted (an order number of 16 digits is not).

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;

/// One configured rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionRule {
    /// Shown in the replacement: `[redacted:<name>]`.
    pub name: String,
    /// A regular expression (Rust `regex` syntax).
    pub pattern: String,
    /// Redact a match only when its digits pass the Luhn check (payment cards).
    #[serde(default)]
    pub luhn: bool,
}

impl RedactionRule {
    /// The rules on by default: payment card numbers (13 to 19 digits, spaces or dashes
    /// between them, Luhn-checked) and US social security numbers.
    pub fn builtin() -> Vec<RedactionRule> {
        vec![
            RedactionRule {
                name: "card".into(),
                pattern: r"\b(?:\d[ -]?){12,18}\d\b".into(),
                luhn: true,
            },
            RedactionRule {
                name: "ssn".into(),
                pattern: r"\b\d{3}-\d{2}-\d{4}\b".into(),
                luhn: false,
            },
        ]
    }
}

/// Compiled rules.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    rules: Vec<(RedactionRule, Regex)>,
}

impl Redactor {
    /// Compiles the rules; a bad pattern is an error naming the rule.
    pub fn new(rules: &[RedactionRule]) -> Result<Redactor, String> {
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            if rule.name.is_empty()
                || !rule
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "redaction rule name {:?} must be letters, digits, _ or -",
                    rule.name
                ));
            }
            let re = Regex::new(&rule.pattern)
                .map_err(|e| format!("redaction rule {}: {e}", rule.name))?;
            compiled.push((rule.clone(), re));
        }
        Ok(Redactor { rules: compiled })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The text with every match replaced; borrowed when nothing matched.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for (rule, re) in &self.rules {
            if !re.is_match(&out) {
                continue;
            }
            let replaced = re.replace_all(&out, |caps: &regex::Captures<'_>| {
                let m = &caps[0];
                if rule.luhn && !luhn(m) {
                    m.to_owned()
                } else {
                    format!("[redacted:{}]", rule.name)
                }
            });
            if let Cow::Owned(s) = replaced {
                out = Cow::Owned(s);
            }
        }
        out
    }

    /// Redacts a string in place; whether anything changed.
    pub fn string(&self, s: &mut String) -> bool {
        match self.text(s) {
            Cow::Borrowed(_) => false,
            Cow::Owned(new) => {
                let changed = new != *s;
                *s = new;
                changed
            }
        }
    }

    /// Redacts every string in a JSON value (object keys too).
    pub fn value(&self, value: &mut Value) {
        if self.rules.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                self.string(s);
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => {
                let needs_key_change = map.keys().any(|k| matches!(self.text(k), Cow::Owned(_)));
                if needs_key_change {
                    let old = std::mem::take(map);
                    for (k, mut v) in old {
                        self.value(&mut v);
                        map.insert(self.text(&k).into_owned(), v);
                    }
                } else {
                    map.values_mut().for_each(|v| self.value(v));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// The Luhn check over the digits of `s` (other characters ignored).
fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 13 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn builtin() -> Redactor {
        Redactor::new(&RedactionRule::builtin()).unwrap()
    }

    #[test]
    fn valid_card_numbers_are_redacted_in_any_spacing() {
        let r = builtin();
        assert_eq!(
            r.text("paid with 4111 1111 1111 1111 today"),
            "paid with [redacted:card] today"
        );
        assert_eq!(r.text("4111-1111-1111-1111"), "[redacted:card]");
        assert_eq!(r.text("5500005555555559"), "[redacted:card]");
        // Not a valid card number: kept (an order or tracking number).
        assert_eq!(r.text("order 4111111111111112"), "order 4111111111111112");
        assert!(matches!(r.text("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn national_ids_and_custom_rules() {
        let r = builtin();
        assert_eq!(r.text("ssn 078-05-1120."), "ssn [redacted:ssn].");
        let custom = Redactor::new(&[RedactionRule {
            name: "nino".into(),
            pattern: r"\b[A-Z]{2}\d{6}[A-D]\b".into(),
            luhn: false,
        }])
        .unwrap();
        assert_eq!(custom.text("id QQ123456C"), "id [redacted:nino]");
        assert!(
            Redactor::new(&[RedactionRule {
                name: "bad".into(),
                pattern: "(".into(),
                luhn: false
            }])
            .unwrap_err()
            .contains("bad")
        );
        assert!(
            Redactor::new(&[RedactionRule {
                name: "no spaces".into(),
                pattern: "x".into(),
                luhn: false
            }])
            .is_err()
        );
    }

    #[test]
    fn values_are_redacted_deeply_keys_included() {
        let r = builtin();
        let mut v = json!({
            "card": "4111111111111111",
            "notes": ["call 078-05-1120", 7, null],
            "nested": {"4111111111111111": {"x": "5500 0055 5555 5559"}}
        });
        r.value(&mut v);
        assert_eq!(
            v,
            json!({
                "card": "[redacted:card]",
                "notes": ["call [redacted:ssn]", 7, null],
                "nested": {"[redacted:card]": {"x": "[redacted:card]"}}
            })
        );
    }
}
