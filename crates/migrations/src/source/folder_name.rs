use super::SourceError;

/// What a migration's name (the part after the timestamp) may contain.
pub const MIGRATION_NAME_RULE: &str =
    "lower-case letters, digits and underscores, starting with a letter";

/// A parsed migration folder name: `2024-05-01-093000_add_tasks` has version `20240501093000` (diesel's
/// rule: the part before the first `_`, dashes removed) and name `add_tasks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderName {
    pub version: String,
    pub name: String,
}

impl FolderName {
    pub fn parse(folder: &str) -> Result<Self, SourceError> {
        let bad = |reason: &str| SourceError::BadFolderName {
            folder: folder.to_string(),
            reason: reason.to_string(),
        };
        let (stamp, name) = folder
            .split_once('_')
            .ok_or_else(|| bad("no `_` between the timestamp and the name"))?;
        let parts: Vec<&str> = stamp.split('-').collect();
        let digits =
            |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
        let shape_ok = matches!(parts.len(), 4 | 5)
            && digits(parts[0], 4)
            && digits(parts[1], 2)
            && digits(parts[2], 2)
            && digits(parts[3], 6)
            && (parts.len() == 4 || digits(parts[4], 4));
        if !shape_ok {
            return Err(bad(
                "the timestamp is not YYYY-MM-DD-HHMMSS or YYYY-MM-DD-HHMMSS-XXXX",
            ));
        }
        let number = |part: &str, range: usize| part[range..range + 2].parse::<u32>().unwrap_or(99);
        let (month, day) = (number(parts[1], 0), number(parts[2], 0));
        let (hour, minute, second) = (
            number(parts[3], 0),
            number(parts[3], 2),
            number(parts[3], 4),
        );
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(bad("the timestamp is not a real date and time"));
        }
        if !is_valid_name(name) {
            return Err(bad(&format!(
                "the name `{name}` must be {MIGRATION_NAME_RULE}"
            )));
        }
        Ok(Self {
            version: parts.concat(),
            name: name.to_string(),
        })
    }
}

/// Whether `name` may follow the timestamp in a folder name.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_timestamp_without_dashes() {
        let parsed = FolderName::parse("2024-05-01-093000_add_tasks").unwrap();
        assert_eq!(parsed.version, "20240501093000");
        assert_eq!(parsed.name, "add_tasks");
        let suffixed = FolderName::parse("2024-05-01-093000-0001_add_tasks_2").unwrap();
        assert_eq!(suffixed.version, "202405010930000001");
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        for (folder, reason) in [
            ("add_tasks", "timestamp"),
            ("2024-05-01-093000", "no `_`"),
            ("2024-13-01-093000_x", "real date"),
            ("2024-05-01-250000_x", "real date"),
            ("2024-05-01-0930_x", "timestamp"),
            ("2024-05-01-093000_Add", "name `Add`"),
            ("2024-05-01-093000_", "name ``"),
            ("2024-05-01-093000_a-b", "name `a-b`"),
        ] {
            match FolderName::parse(folder) {
                Err(SourceError::BadFolderName {
                    folder: f,
                    reason: r,
                }) => {
                    assert_eq!(f, folder);
                    assert!(r.contains(reason), "{folder}: {r}");
                }
                other => panic!("{folder}: expected a bad-name error, got {other:?}"),
            }
        }
    }
}
