//! `haven migrate new NAME`: writes the next `V<n>__<name>.sql` into the migrations folder.

use std::path::{Path, PathBuf};

/// Why no file was written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NewMigrationError {
    #[error(
        "invalid migration name {0:?}: use lowercase letters, digits and underscores, starting with a letter"
    )]
    InvalidName(String),
    #[error("{0} is not a directory (run from the repository root, or pass --dir)")]
    NoDirectory(String),
    #[error("{0}")]
    Io(String),
}

/// Refinery's file name rule, narrowed to what reads well in `haven migrate status`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 80
}

/// The version of a file named `V<n>__<anything>.sql`.
fn version_of(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('V')?;
    let (number, tail) = rest.split_once("__")?;
    tail.ends_with(".sql").then_some(())?;
    number.parse().ok()
}

/// Creates `<dir>/V<n>__<name>.sql`, `n` one above the highest version there, and returns its
/// path. Never overwrites: the file is created exclusively.
pub fn create(dir: &Path, name: &str) -> Result<PathBuf, NewMigrationError> {
    if !valid_name(name) {
        return Err(NewMigrationError::InvalidName(name.to_owned()));
    }
    if !dir.is_dir() {
        return Err(NewMigrationError::NoDirectory(dir.display().to_string()));
    }
    let io = |error: std::io::Error| NewMigrationError::Io(format!("{}: {error}", dir.display()));
    let mut highest = 0;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if let Some(version) = entry.file_name().to_str().and_then(version_of) {
            highest = highest.max(version);
        }
    }
    let path = dir.join(format!("V{}__{name}.sql", highest + 1));
    let header = format!(
        "-- V{}: {}.\n-- Expand/contract: add, never drop, rename or tighten what the running release\n-- still uses (docs/DEPLOYMENT.md). Runs in its own transaction at start-up.\n",
        highest + 1,
        name.replace('_', " ")
    );
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, header.as_bytes()))
        .map_err(|error| NewMigrationError::Io(format!("{}: {error}", path.display())))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "haven-new-migration-{label}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_next_file_is_one_above_the_highest_version_whatever_the_order() {
        let dir = scratch("next");
        for file in [
            "V1__init.sql",
            "V12__patients.sql",
            "V9__x.sql",
            "README.md",
        ] {
            std::fs::write(dir.join(file), "").unwrap();
        }
        let path = create(&dir, "add_index").unwrap();
        assert_eq!(path, dir.join("V13__add_index.sql"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-- V13: add index."), "{text}");
        assert_eq!(create(&dir, "second").unwrap(), dir.join("V14__second.sql"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_empty_folder_starts_at_v1_and_bad_names_or_folders_write_nothing() {
        let dir = scratch("empty");
        assert_eq!(create(&dir, "init").unwrap(), dir.join("V1__init.sql"));
        for bad in ["", "Add", "1st", "a-b", "a b", "../x", "ä"] {
            assert_eq!(
                create(&dir, bad),
                Err(NewMigrationError::InvalidName(bad.to_owned()))
            );
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let missing = dir.join("nope");
        assert!(matches!(
            create(&missing, "x"),
            Err(NewMigrationError::NoDirectory(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
