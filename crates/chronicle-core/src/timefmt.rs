//! Timestamps: UTC, microsecond precision, always six fractional digits.
//!
//! PostgreSQL keeps microseconds and SQLite keeps what it is given; the leaf hash covers the
//! timestamp's text, so every backend must see the same text. Truncating to microseconds
//! before anything is stored or hashed makes that true.

use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// Truncates to whole microseconds in UTC.
pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    let micros = t.microsecond();
    t.replace_microsecond(micros)
        .expect("microsecond taken from a valid time")
}

/// Now, truncated.
pub fn now() -> OffsetDateTime {
    truncate(OffsetDateTime::now_utc())
}

/// `2026-11-27T00:04:03.123456Z`.
pub fn format(t: OffsetDateTime) -> String {
    let fd =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    truncate(t).format(&fd).expect("UTC time always formats")
}

/// Parses any RFC 3339 time and truncates it.
pub fn parse(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339).map(truncate)
}

pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// The same for `Option<OffsetDateTime>`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_always_has_six_fraction_digits_in_utc() {
        let t = parse("2026-01-02T03:04:05.1234567+02:00").unwrap();
        assert_eq!(format(t), "2026-01-02T01:04:05.123456Z");
        let t = parse("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(format(t), "2026-01-02T03:04:05.000000Z");
    }

    #[test]
    fn parse_of_format_is_identity() {
        let t = now();
        assert_eq!(parse(&format(t)).unwrap(), t);
    }
}
