use sha2::{Digest, Sha256};

/// The SHA-256 of a script, hex-encoded, with line endings normalised to `\n` so that a checkout on
/// Windows (CRLF) and one on Linux agree.
pub fn checksum(sql: &str) -> String {
    let mut hasher = Sha256::new();
    let mut rest = sql;
    while let Some(pos) = rest.find('\r') {
        hasher.update(&rest.as_bytes()[..pos]);
        hasher.update(b"\n");
        rest = &rest[pos + 1..];
        if let Some(stripped) = rest.strip_prefix('\n') {
            rest = stripped;
        }
    }
    hasher.update(rest.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::checksum;

    #[test]
    fn line_endings_do_not_change_the_checksum() {
        let unix = checksum("CREATE TABLE a (id INTEGER);\nSELECT 1;\n");
        assert_eq!(
            unix,
            checksum("CREATE TABLE a (id INTEGER);\r\nSELECT 1;\r\n")
        );
        assert_eq!(unix, checksum("CREATE TABLE a (id INTEGER);\rSELECT 1;\r"));
        assert_ne!(unix, checksum("CREATE TABLE a (id BIGINT);\nSELECT 1;\n"));
        assert_eq!(unix.len(), 64);
    }
}
