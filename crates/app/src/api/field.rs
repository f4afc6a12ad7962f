//! The values the API reads and writes, each a type that checks itself while a body is deserialized
//! and describes the same rule in the OpenAPI document, so the document and the checks cannot
//! drift: text fields (no NUL, a length range, not blank when required), `Email`, `Password`,
//! `Day` (a calendar date), ids in paths and queries (canonical decimal), and `Timestamp`, the one
//! precision both backends answer with (microseconds).

use std::borrow::Cow;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, PrimitiveDateTime};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::error::ApiError;

/// What counts as blank: the ASCII spaces JSON Schema's patterns and every client agree on.
const BLANK: [char; 4] = [' ', '\t', '\n', '\r'];

/// Text with no NUL (PostgreSQL cannot store one; SQLite would, so both refuse it).
const NO_NUL: &str = r"^[^\u0000]*$";
/// Text with no NUL and at least one character that is not blank.
const NO_NUL_NOT_BLANK: &str = r"^[^\u0000]*[^\u0000 \t\n\r][^\u0000]*$";
/// `local@domain.tld`: no `@`, blank or NUL in either part, the domain's labels non-empty; blanks
/// around it are dropped.
const EMAIL: &str =
    r"^[ \t\n\r]*[^@ \t\n\r\u0000]+@[^@ \t\n\r\u0000.]+(\.[^@ \t\n\r\u0000.]+)+[ \t\n\r]*$";

/// Checks text as it was sent: no NUL, `min..=max` characters (Unicode scalar values, as JSON
/// Schema counts them), and not blank when it is required (`min > 0`).
pub fn check_text(value: &str, min: usize, max: usize) -> Result<(), String> {
    if value.contains('\0') {
        return Err("must not contain NUL (\\u0000)".into());
    }
    let length = value.chars().count();
    if length > max {
        return Err(format!("must be at most {max} characters"));
    }
    if length < min {
        return Err(if min == 1 {
            "must not be empty".into()
        } else {
            format!("must be at least {min} characters")
        });
    }
    if min > 0 && value.chars().all(|c| BLANK.contains(&c)) {
        return Err("must not be blank".into());
    }
    Ok(())
}

fn text_schema(min: usize, max: usize, pattern: &str, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .into()
}

/// Declares a text field type: `$min..=$max` characters, stored trimmed of blanks; `$doc` describes
/// it here and in the OpenAPI document.
macro_rules! text_field {
    ($name:ident, $min:expr, $max:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name(pub String);

        impl $name {
            pub const MIN: usize = $min;
            pub const MAX: usize = $max;
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                check_text(&raw, Self::MIN, Self::MAX).map_err(D::Error::custom)?;
                Ok(Self(raw.trim_matches(&BLANK[..]).to_string()))
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let pattern = if Self::MIN > 0 {
                    NO_NUL_NOT_BLANK
                } else {
                    NO_NUL
                };
                text_schema(Self::MIN, Self::MAX, pattern, $doc)
            }
        }

        impl ToSchema for $name {}
    };
}

text_field!(
    ProjectName,
    1,
    200,
    "A project's name: 1 to 200 characters, not blank, no NUL; stored without surrounding blanks."
);
text_field!(
    Title,
    1,
    200,
    "A task's title: 1 to 200 characters, not blank, no NUL; stored without surrounding blanks."
);
text_field!(
    Description,
    0,
    10_000,
    "A description: up to 10,000 characters, no NUL; stored without surrounding blanks."
);
text_field!(
    DisplayName,
    1,
    100,
    "The name an account shows to the members of its projects: 1 to 100 characters, not blank, \
     no NUL; stored without surrounding blanks."
);

/// What login accepts, kept as sent: any text without NUL up to 1024 characters (a wrong one is
/// a 401, never a 422).
#[derive(Debug, Clone)]
pub struct Credential(pub String);

impl Credential {
    pub const MAX: usize = 1024;
}

impl<'de> Deserialize<'de> for Credential {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        check_text(&raw, 0, Self::MAX).map_err(D::Error::custom)?;
        Ok(Self(raw))
    }
}

impl PartialSchema for Credential {
    fn schema() -> RefOr<Schema> {
        text_schema(0, Self::MAX, NO_NUL, "Up to 1024 characters, no NUL")
    }
}

impl ToSchema for Credential {}

/// An email address, compared and stored lower-cased.
#[derive(Debug, Clone)]
pub struct Email(pub String);

impl Email {
    pub const MAX: usize = 320;

    fn parse(raw: &str) -> Result<Self, String> {
        check_text(raw, 3, Self::MAX)?;
        let raw = raw.trim_matches(&BLANK[..]);
        let plain = |part: &str, dot: bool| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| !(c == '@' || BLANK.contains(&c) || (dot && c == '.')))
        };
        let valid = raw.split_once('@').is_some_and(|(local, domain)| {
            let labels: Vec<&str> = domain.split('.').collect();
            plain(local, false) && labels.len() >= 2 && labels.iter().all(|l| plain(l, true))
        });
        if !valid {
            return Err("must be an email address such as name@example.com".into());
        }
        let lower = raw.to_lowercase();
        // Lower-casing can lengthen a few letters; the stored form must fit too.
        if lower.chars().count() > Self::MAX {
            return Err(format!(
                "must be at most {} characters lower-cased",
                Self::MAX
            ));
        }
        Ok(Self(lower))
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

impl PartialSchema for Email {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(3))
            .max_length(Some(Self::MAX))
            .pattern(Some(EMAIL))
            .description(Some(
                "An email address; unique case-insensitively, stored lower-cased",
            ))
            .examples(["ada@example.com"])
            .into()
    }
}

impl ToSchema for Email {}

/// A new password: 8 to 1024 characters, kept exactly as sent.
#[derive(Debug, Clone)]
pub struct Password(pub String);

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 1024;
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        if raw.contains('\0') {
            return Err(D::Error::custom("must not contain NUL (\\u0000)"));
        }
        let length = raw.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&length) {
            return Err(D::Error::custom(format!(
                "must be {} to {} characters",
                Self::MIN,
                Self::MAX
            )));
        }
        Ok(Self(raw))
    }
}

impl PartialSchema for Password {
    fn schema() -> RefOr<Schema> {
        text_schema(
            Self::MIN,
            Self::MAX,
            NO_NUL,
            "8 to 1024 characters, no NUL, kept exactly as sent",
        )
    }
}

impl ToSchema for Password {}

const DAY: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// A calendar date, `YYYY-MM-DD` (RFC 3339's full-date).
#[derive(Debug, Clone, Copy)]
pub struct Day(pub Date);

impl Day {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let shaped = raw.len() == 10
            && raw.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        // Year 0 is a valid `time::Date` and SQLite would store it; PostgreSQL's DATE has no year 0.
        shaped
            .then(|| Date::parse(raw, DAY).ok())
            .flatten()
            .filter(|date| date.year() >= 1)
            .map(Self)
            .ok_or_else(|| "must be a date, YYYY-MM-DD, from 0001-01-01 to 9999-12-31".to_string())
    }

    pub fn show(date: Date) -> String {
        date.format(DAY).unwrap_or_else(|_| date.to_string())
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&Self::show(self.0))
    }
}

impl PartialSchema for Day {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .description(Some("A calendar date, YYYY-MM-DD, year 0001 to 9999"))
            .examples(["2026-12-31"])
            .into()
    }
}

impl ToSchema for Day {}

/// Timestamps carry microseconds on both backends: PostgreSQL's `TIMESTAMP` keeps no more, so
/// SQLite is given no more, and every answer shows all six digits.
const STAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// A UTC instant, `2026-01-31T12:00:00.123456Z`.
#[derive(Debug, Clone, Copy)]
pub struct Timestamp(pub PrimitiveDateTime);

impl Timestamp {
    /// Now, in UTC, cut to the microsecond (the precision stored on both backends).
    pub fn now() -> PrimitiveDateTime {
        let now = time::OffsetDateTime::now_utc();
        let micros = now.microsecond();
        let time = now.time().replace_microsecond(micros).unwrap_or(now.time());
        PrimitiveDateTime::new(now.date(), time)
    }

    pub fn show(value: PrimitiveDateTime) -> String {
        value.format(STAMP).unwrap_or_else(|_| value.to_string())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&Self::show(self.0))
    }
}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(
                "UTC, always with six fractional digits (microseconds) on every backend",
            ))
            .examples(["2026-01-31T12:00:00.123456Z"])
            .into()
    }
}

impl ToSchema for Timestamp {
    fn name() -> Cow<'static, str> {
        "Timestamp".into()
    }
}

/// A user id in a body: a JSON integer (`7`, or `7.0`, which JSON Schema counts as the same
/// integer) that fits in 64 bits.
#[derive(Debug, Clone, Copy)]
pub struct UserId(pub i64);

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = UserId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a user id (an integer)")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<UserId, E> {
                Ok(UserId(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<UserId, E> {
                i64::try_from(v)
                    .map(UserId)
                    .map_err(|_| E::custom("is out of range for a user id"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<UserId, E> {
                // i64::MAX as f64 rounds up to 2^63, itself out of range.
                if v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64 {
                    Ok(UserId(v as i64))
                } else {
                    Err(E::custom("must be an integer user id"))
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl PartialSchema for UserId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .description(Some("A user id"))
            .into()
    }
}

impl ToSchema for UserId {}

/// A path id: canonical decimal (`7`, never `07` or `+7`) of a positive 64-bit integer. Anything
/// else names no resource, so it is a 404.
pub fn path_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    canonical_id(raw).ok_or_else(|| ApiError::not_found(format!("no such {what}")))
}

/// `raw` as a positive id if it is written canonically.
pub fn canonical_id(raw: &str) -> Option<i64> {
    let canonical = !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && !(raw.len() > 1 && raw.starts_with('0'));
    canonical
        .then(|| raw.parse::<i64>().ok())
        .flatten()
        .filter(|id| *id > 0)
}

/// The OpenAPI schema of an id: a positive 64-bit integer.
pub fn id_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_checked_as_sent() {
        assert!(check_text("a", 1, 3).is_ok());
        assert!(check_text(" a ", 1, 3).is_ok());
        assert_eq!(
            check_text("a\0", 1, 3).unwrap_err(),
            "must not contain NUL (\\u0000)"
        );
        assert_eq!(check_text(" \t\n", 1, 3).unwrap_err(), "must not be blank");
        assert_eq!(
            check_text("abcd", 1, 3).unwrap_err(),
            "must be at most 3 characters"
        );
        assert!(check_text("", 0, 3).is_ok());
    }

    #[test]
    fn emails_follow_the_documented_pattern() {
        assert_eq!(
            Email::parse("Ada@Example.COM").unwrap().0,
            "ada@example.com"
        );
        assert_eq!(Email::parse(" a@b.c\n").unwrap().0, "a@b.c");
        for bad in [
            "ada", "a@b", "a@.b", "a@b.", "a@b..c", "a b@c.d", "a@b@c.d", "@b.c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn days_and_ids_are_canonical() {
        assert!(Day::parse("2026-02-28").is_ok());
        assert!(Day::parse("0001-01-01").is_ok() && Day::parse("9999-12-31").is_ok());
        for bad in [
            "2026-02-30",
            "+2026-02-28",
            " 2026-02-28",
            "2026-2-28",
            "0000-06-01",
        ] {
            assert!(Day::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(canonical_id("17"), Some(17));
        for bad in ["+1", "01", "0", "-1", "1 ", "", "99999999999999999999"] {
            assert_eq!(canonical_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn user_ids_are_json_integers() {
        let id = |json: &str| serde_json::from_str::<UserId>(json).map(|u| u.0);
        assert_eq!(id("7").unwrap(), 7);
        assert_eq!(id("7.0").unwrap(), 7);
        assert!(id("7.5").is_err());
        assert!(id("\"7\"").is_err());
        assert!(id("9223372036854775808").is_err());
        assert!(id("1e300").is_err());
    }

    #[test]
    fn timestamps_show_microseconds() {
        let at = PrimitiveDateTime::new(
            Date::from_calendar_date(2026, time::Month::January, 31).unwrap(),
            time::Time::from_hms(12, 0, 0).unwrap(),
        );
        assert_eq!(Timestamp::show(at), "2026-01-31T12:00:00.000000Z");
        assert_eq!(Timestamp::now().nanosecond() % 1000, 0);
    }
}
