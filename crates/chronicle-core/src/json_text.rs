//! Checks on raw JSON text that a parsed value can no longer show.
//!
//! Parsing loses two things silently: the second of two equal keys in an object replaces the
//! first, and a number's text becomes a double. A ledger must record what every parser reads
//! from the request, so both are refused here, on the text, with the JSON Pointer of the value:
//!
//! - **Duplicate keys**, at any depth (keys are compared after unescaping, so `"x"` and
//!   `"\u0078"` are the same key).
//! - **Numbers that would not be kept exactly.** Stored values are hashed as RFC 8785 JSON,
//!   whose numbers are IEEE 754 doubles written in their shortest round-trip form. A number is
//!   accepted when the value of that canonical text equals the value of the text the client
//!   sent: `1.50` (stored as `1.5`) and `1e2` (stored as `100`) are kept; `9007199254740993`,
//!   `123456789012345678.99`, `1e400` and `1e-400` are not. Negative zero is refused too: its
//!   canonical form is `0`, which loses the sign a client may mean.
//!
//! Text that is not well-formed JSON is left to the parser, which reports it; the checks here
//! then find nothing.

use crate::diff::escape_token;
use crate::schema::FieldError;
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;

/// Every duplicate key and every number that would change, in document order.
pub fn check(text: &[u8]) -> Vec<FieldError> {
    let mut scan = Scan {
        text,
        at: 0,
        errors: Vec::new(),
    };
    let mut pointer = String::new();
    // `None` is a syntax error, which the parser reports better.
    let _ = scan.value(&mut pointer);
    scan.errors
}

/// Why a number's text cannot be stored as sent, or `None` when it can.
pub fn number_problem(token: &str) -> Option<String> {
    number_check(token).and_then(Result::ok)
}

/// [`number_problem`], with `Some(Err(()))` when `token` is not a JSON number at all.
fn number_check(token: &str) -> Option<Result<String, ()>> {
    let Some(sent) = Decimal::parse(token) else {
        return Some(Err(()));
    };
    if sent.negative && sent.significant == 0 {
        return Some(Ok("is negative zero, which is stored as 0; send 0".into()));
    }
    // A decimal of at most 15 significant digits (DBL_DIG) in the range of normal doubles is
    // the shortest text of the double nearest it, so it is kept; most numbers take this path.
    if sent.significant <= 15 && (-300..300).contains(&sent.exponent) {
        return None;
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(token) else {
        return Some(Ok(format!(
            "the number {token} is outside the range of a double; send it as a string"
        )));
    };
    let stored = serde_json_canonicalizer::to_string(&value).ok()?;
    if Decimal::parse(&stored).map(|d| d.value()) == Some(sent.value()) {
        None
    } else {
        Some(Ok(format!(
            "the number {token} cannot be stored exactly (it would become {stored}: numbers \
             are IEEE 754 doubles); send it as a string"
        )))
    }
}

/// Rewrites every number as its canonical (RFC 8785) value reads back, so that a stored state
/// equals the same state read from the ledger: `1e2` parses as the double 100.0 but is hashed
/// as `100`, which reads back as the integer 100, and `Value` tells those two apart.
pub fn canonicalize_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(canonical) = serde_json_canonicalizer::to_string(n)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
            {
                *n = canonical;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(canonicalize_numbers),
        Value::Object(map) => map.values_mut().for_each(canonicalize_numbers),
        _ => {}
    }
}

struct Scan<'a> {
    text: &'a [u8],
    at: usize,
    errors: Vec<FieldError>,
}

impl<'a> Scan<'a> {
    fn skip_space(&mut self) {
        while self
            .text
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.text.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    /// One value at `pointer`. Recursion is bounded: the caller checked the text's depth.
    fn value(&mut self, pointer: &mut String) -> Option<()> {
        self.skip_space();
        match *self.text.get(self.at)? {
            b'{' => self.object(pointer),
            b'[' => self.array(pointer),
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                while self
                    .text
                    .get(self.at)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    self.at += 1;
                }
                let token = std::str::from_utf8(&self.text[start..self.at]).ok()?;
                match number_check(token) {
                    Some(Err(())) => return None,
                    Some(Ok(message)) => {
                        self.errors.push(FieldError::new(pointer.clone(), message))
                    }
                    None => {}
                }
                Some(())
            }
            _ => {
                for word in [&b"true"[..], b"false", b"null"] {
                    if self.text[self.at..].starts_with(word) {
                        self.at += word.len();
                        return Some(());
                    }
                }
                None
            }
        }
    }

    fn object(&mut self, pointer: &mut String) -> Option<()> {
        self.at += 1;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut keys: HashSet<Cow<'a, str>> = HashSet::new();
        loop {
            self.skip_space();
            let key = self.string()?;
            let len = pointer.len();
            pointer.push('/');
            if key.contains(['~', '/']) {
                pointer.push_str(&escape_token(&key));
            } else {
                pointer.push_str(&key);
            }
            if !keys.insert(key) {
                self.errors.push(FieldError::new(
                    pointer.clone(),
                    "is given more than once in the same object",
                ));
            }
            self.eat(b':')?;
            self.value(pointer)?;
            pointer.truncate(len);
            if self.eat(b',').is_none() {
                return self.eat(b'}');
            }
        }
    }

    fn array(&mut self, pointer: &mut String) -> Option<()> {
        self.at += 1;
        if self.eat(b']').is_some() {
            return Some(());
        }
        for index in 0usize.. {
            let len = pointer.len();
            let _ = write!(pointer, "/{index}");
            self.value(pointer)?;
            pointer.truncate(len);
            if self.eat(b',').is_none() {
                return self.eat(b']');
            }
        }
        None
    }

    /// A string token, unescaped (the parser's own rules, so keys compare as it reads them).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        if self.text.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at;
        let mut escaped = false;
        let mut plain = true;
        self.at += 1;
        loop {
            let b = *self.text.get(self.at)?;
            self.at += 1;
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => {
                    escaped = true;
                    plain = false;
                }
                (false, b'"') => break,
                _ => {}
            }
        }
        let raw = std::str::from_utf8(&self.text[start..self.at]).ok()?;
        if plain {
            Some(Cow::Borrowed(&raw[1..raw.len() - 1]))
        } else {
            serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
        }
    }
}

/// A JSON number's text, read for its exact value: `0.<digits> × 10^exponent` with the digits
/// in lowest terms (no leading or trailing zero), so that two texts are the same number
/// exactly when their [`Decimal::value`]s are equal. Reading allocates nothing.
struct Decimal<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
    /// How many digits lie between the first and the last non-zero digit, both included.
    significant: usize,
    exponent: i64,
}

impl<'a> Decimal<'a> {
    /// `None` unless `token` is a JSON number (RFC 8259 §6).
    fn parse(token: &'a str) -> Option<Decimal<'a>> {
        let (negative, rest) = match token.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, token),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int, frac) = match mantissa.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (mantissa, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int) || (int.len() > 1 && int.starts_with('0')) {
            return None;
        }
        if frac.is_some_and(|f| !all_digits(f)) {
            return None;
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if !all_digits(digits) {
                    return None;
                }
                // Saturating: an exponent this large is out of range for a double anyway,
                // and the comparison only needs it to stay far from any real one.
                let magnitude = digits
                    .parse::<i64>()
                    .unwrap_or(i64::MAX / 4)
                    .min(i64::MAX / 4);
                if e.starts_with('-') {
                    -magnitude
                } else {
                    magnitude
                }
            }
        };
        let frac = frac.unwrap_or("");
        let all = || int.bytes().chain(frac.bytes());
        let total = int.len() + frac.len();
        let leading = all().take_while(|b| *b == b'0').count();
        let trailing = all().rev().take_while(|b| *b == b'0').count();
        let significant = total.saturating_sub(leading + trailing);
        // Value = 0.<int frac> × 10^(int.len() + exponent); dropping leading zeros shifts it.
        let exponent = if significant == 0 {
            0
        } else {
            exponent + int.len() as i64 - leading as i64
        };
        Some(Decimal {
            negative,
            int,
            frac,
            significant,
            exponent,
        })
    }

    /// Sign, significant digits and exponent: equal exactly for equal numbers.
    fn value(&self) -> (bool, String, i64) {
        let all = format!("{}{}", self.int, self.frac);
        let digits = all.trim_matches('0').to_owned();
        (self.negative, digits, self.exponent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pointers(text: &str) -> Vec<String> {
        check(text.as_bytes())
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn numbers_at_the_limits_of_a_double_are_kept_or_refused() {
        for kept in [
            "9007199254740991",
            "9007199254740992",
            "-9007199254740992",
            "1.50",
            "1e2",
            "1E+2",
            "0.1",
            "0.30000000000000004",
            "1.7976931348623157e308",
            "5e-324",
            "0",
            "0.0",
            "0e10",
            "123456789012345",
            "-123456789012345",
        ] {
            assert_eq!(number_problem(kept), None, "{kept}");
        }
        for refused in [
            "9007199254740993",
            "-9007199254740993",
            "123456789012345678.99",
            "1e400",
            "-1e400",
            "1e-400",
            "2.4703282292062328e-324",
            "0.1000000000000000055511151231257827",
            "-0",
            "-0.0",
            "-0e5",
        ] {
            assert!(number_problem(refused).is_some(), "{refused}");
        }
        assert!(
            number_problem("9007199254740993")
                .unwrap()
                .contains("9007199254740992")
        );
    }

    #[test]
    fn duplicate_keys_are_found_at_any_depth_and_after_unescaping() {
        assert_eq!(pointers(r#"{"a": 1, "a": 2}"#), ["/a"]);
        assert_eq!(
            pointers(r#"{"data": {"x": 1, "y": [{"z": 1, "\u007a": 2}], "x": 3}}"#),
            ["/data/y/0/z", "/data/x"]
        );
        assert_eq!(pointers(r#"{"a/b": {"~": 1, "~": 1}}"#), ["/a~1b/~0"]);
        // The same key in sibling objects is no duplicate.
        assert!(
            pointers(r#"{"a": {"x": 1}, "b": {"x": 1}, "c": [{"x": 1}, {"x": 2}]}"#).is_empty()
        );
    }

    #[test]
    fn canonical_numbers_read_as_the_ledger_reads_them() {
        let mut v: serde_json::Value =
            serde_json::from_str(r#"{"a": [1e2, 1.50, 2.5e-3, 1e21], "b": 7}"#).unwrap();
        canonicalize_numbers(&mut v);
        let ledger: serde_json::Value =
            serde_json::from_str(&serde_json_canonicalizer::to_string(&v).unwrap()).unwrap();
        assert_eq!(v, ledger);
        assert_eq!(v["a"][0].as_u64(), Some(100));
    }

    #[test]
    fn numbers_are_reported_where_they_are() {
        assert_eq!(
            pointers(r#"{"a": [1, 9007199254740993], "b": {"c": -0}, "d": "1e400"}"#),
            ["/a/1", "/b/c"]
        );
    }

    #[test]
    fn text_that_is_not_json_is_left_to_the_parser() {
        for text in [
            "",
            "{",
            r#"{"a": 01}"#,
            r#"{"a": 1.}"#,
            r#"{"a": tru}"#,
            r#"{"a" 1}"#,
        ] {
            assert!(check(text.as_bytes()).is_empty(), "{text}");
        }
        // Findings before the syntax error still count.
        assert_eq!(pointers(r#"{"a": 1, "a": 2, "#), ["/a"]);
    }

    proptest! {
        /// Whatever double a client holds, its shortest text and its exponent form are kept.
        #[test]
        fn every_double_written_by_a_client_is_kept(x in any::<f64>().prop_filter("finite, not -0", |x| {
            x.is_finite() && !(*x == 0.0 && x.is_sign_negative())
        })) {
            prop_assert_eq!(number_problem(&format!("{x}")), None);
            prop_assert_eq!(number_problem(&format!("{x:e}")), None);
            prop_assert_eq!(number_problem(&format!("{x:E}")), None);
        }

        /// An integer is kept when its double's shortest text (what RFC 8785 writes) is that
        /// integer: 2^54 + 1 is refused as no double holds it, and 25617065728872568 as its
        /// double is written 25617065728872570, which a reader with big integers reads back
        /// as another number.
        #[test]
        fn integers_are_kept_exactly_when_their_canonical_text_is_them(n in any::<i64>()) {
            let kept = format!("{}", n as f64) == n.to_string();
            prop_assert_eq!(number_problem(&n.to_string()).is_none(), kept);
        }

        /// Moving the decimal point into the exponent does not change the value.
        #[test]
        fn the_same_value_in_other_notations_is_the_same_number(
            digits in "[1-9][0-9]{0,20}",
            point in 0usize..20,
            exponent in -30i64..30,
        ) {
            let point = point.min(digits.len());
            let (int, frac) = digits.split_at(point);
            let int = if int.is_empty() { "0" } else { int };
            let a = Decimal::parse(&format!("{int}.{frac}0e{exponent}")).map(|d| d.value());
            let shifted = exponent - (digits.len() - point) as i64;
            let b = Decimal::parse(&format!("{digits}E{shifted}")).map(|d| d.value());
            prop_assert!(a.is_some());
            prop_assert_eq!(a, b);
        }
    }
}
