use super::SourceError;

/// What a migration's name (the part after the timestamp) may contain in a folder `db create` writes.
pub const MIGRATION_NAME_RULE: &str =
    "lower-case letters, digits and underscores, starting with a letter";

/// The longest version diesel's history table holds (`version VARCHAR(50)`).
const MAX_VERSION_LEN: usize = 50;

/// A parsed migration folder name, by diesel's rule: the version is the part before the first `_` with
/// dashes removed (`2024-05-01-093000_add_tasks` is `20240501093000`), the name what follows it. diesel
/// accepts any folder name, so this does too, except where its history table could not record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderName {
    pub version: String,
    pub name: String,
}

impl FolderName {
    pub fn parse(folder: &str) -> Result<Self, SourceError> {
        let bad = |reason: String| SourceError::BadFolderName {
            folder: folder.to_string(),
            reason,
        };
        let (stamp, name) = folder.split_once('_').unwrap_or((folder, ""));
        let version = stamp.replace('-', "");
        if version.is_empty() {
            return Err(bad(
                "the version (the part before the first `_`, dashes removed) is empty".into(),
            ));
        }
        // Longer, diesel_cli's insert into its history table fails after the migration's SQL ran.
        if version.len() > MAX_VERSION_LEN {
            return Err(bad(format!(
                "the version `{version}` is longer than the {MAX_VERSION_LEN} characters \
                 diesel's history table holds"
            )));
        }
        Ok(Self {
            version,
            name: name.to_string(),
        })
    }

    /// Why `folder` does not follow workhub's own naming convention (`YYYY-MM-DD-HHMMSS[-XXXX]_name`
    /// with a real date and time and a lower-case name), or `None` when it does. Folders `db create`
    /// writes always follow it; for existing folders it is only a warning.
    pub fn convention_broken(folder: &str) -> Option<String> {
        let Some((stamp, name)) = folder.split_once('_') else {
            return Some("no `_` between the timestamp and the name".into());
        };
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
            return Some(
                "the timestamp is not YYYY-MM-DD-HHMMSS or YYYY-MM-DD-HHMMSS-XXXX".to_string(),
            );
        }
        let number = |part: &str, at: usize| part[at..at + 2].parse::<u32>().unwrap_or(99);
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
            return Some("the timestamp is not a real date and time".into());
        }
        if !is_valid_name(name) {
            return Some(format!("the name `{name}` is not {MIGRATION_NAME_RULE}"));
        }
        None
    }
}

/// Whether `name` may follow the timestamp in a folder `db create` writes.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_diesels_the_part_before_the_first_underscore_without_dashes() {
        for (folder, version, name) in [
            ("2024-05-01-093000_add_tasks", "20240501093000", "add_tasks"),
            (
                "2024-05-01-093000-0001_add_tasks_2",
                "202405010930000001",
                "add_tasks_2",
            ),
            (
                "00000000000000_diesel_initial_setup",
                "00000000000000",
                "diesel_initial_setup",
            ),
            (
                "20140924113530_dumped_migration_1",
                "20140924113530",
                "dumped_migration_1",
            ),
            ("2025-08-01-000061_late", "20250801000061", "late"),
            (
                "2019-01-02-030405_Add email notifications",
                "20190102030405",
                "Add email notifications",
            ),
            (
                "2019-01-02-030406_drop-person-ban",
                "20190102030406",
                "drop-person-ban",
            ),
            ("2019-01-02", "20190102", ""),
        ] {
            let parsed = FolderName::parse(folder).unwrap();
            assert_eq!(parsed.version, version, "{folder}");
            assert_eq!(parsed.name, name, "{folder}");
        }
    }

    #[test]
    fn only_a_version_diesel_cannot_record_is_refused() {
        for (folder, reason) in [
            ("_x", "is empty"),
            ("--_x", "is empty"),
            (&*format!("{}_x", "1".repeat(51)), "longer than the 50"),
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
        assert!(FolderName::parse(&format!("{}_x", "1".repeat(50))).is_ok());
    }

    #[test]
    fn workhubs_convention_names_what_it_breaks() {
        assert_eq!(
            FolderName::convention_broken("2024-05-01-093000_add_tasks"),
            None
        );
        assert_eq!(
            FolderName::convention_broken("2024-05-01-093000-0001_add_tasks"),
            None
        );
        for (folder, reason) in [
            ("add", "no `_`"),
            ("00000000000000_diesel_initial_setup", "timestamp"),
            ("2024-13-01-093000_x", "real date"),
            ("2024-05-01-250000_x", "real date"),
            ("2025-08-01-000061_x", "real date"),
            ("2024-05-01-0930_x", "timestamp"),
            ("2024-05-01-093000_Add", "name `Add`"),
            ("2024-05-01-093000_", "name ``"),
            ("2024-05-01-093000_a-b", "name `a-b`"),
        ] {
            let broken = FolderName::convention_broken(folder)
                .unwrap_or_else(|| panic!("{folder} breaks the convention"));
            assert!(broken.contains(reason), "{folder}: {broken}");
        }
    }
}
