//! Log files on disk, laid out as Bedrock writes them to S3:
//! `…/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/<stamp>_<hex>.json.gz`,
//! one JSON record per line. Also plain `.json` (one record, or many) and `.jsonl` files.
//! Body objects under `…/HH/data/` and the `amazon-bedrock-logs-permission-check` marker are not log
//! records: they are skipped, not counted as malformed.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::records::record::{for_each_record_in_bytes, Record, RecordError};

const PERMISSION_CHECK: &str = "amazon-bedrock-logs-permission-check";

/// Whether a path is a log-record file (by name and place).
fn is_log_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if name == PERMISSION_CHECK || name.starts_with('.') {
        return false;
    }
    if !(name.ends_with(".json.gz")
        || name.ends_with(".jsonl.gz")
        || name.ends_with(".json")
        || name.ends_with(".jsonl"))
    {
        return false;
    }
    !is_body_object(path)
}

/// `…/HH/data/<requestId>_input.json.gz` and friends: large request/response bodies, not records.
fn is_body_object(path: &Path) -> bool {
    let parent = path.parent();
    let in_data = parent.and_then(|p| p.file_name()).and_then(|n| n.to_str()) == Some("data");
    if !in_data {
        return false;
    }
    let hour = parent
        .and_then(|p| p.parent())
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    (hour.len() == 2 && hour.bytes().all(|b| b.is_ascii_digit()))
        || name.contains("_input")
        || name.contains("_output")
}

/// What a search for log files found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFiles {
    /// Every log file, sorted.
    pub files: Vec<PathBuf>,
    /// Files in the directories searched that are not log files (e.g. `readme.txt`), sorted; Bedrock's
    /// own non-records (body objects, the permission-check marker) are not listed.
    pub other_files: Vec<PathBuf>,
}

/// Every log file under the given files and directories, recursively, sorted.
pub fn find_log_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    find_log_files_and_others(paths).map(|f| f.files)
}

/// Every log file under the given files and directories, recursively, and the other files seen.
pub fn find_log_files_and_others(paths: &[PathBuf]) -> std::io::Result<LogFiles> {
    let mut out = LogFiles::default();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            // A file named explicitly is read whatever its name, unless it is a known non-record.
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name != PERMISSION_CHECK && !is_body_object(p) {
                out.files.push(p.clone());
            }
        }
    }
    out.files.sort();
    out.files.dedup();
    out.other_files.sort();
    out.other_files.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut LogFiles) -> std::io::Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            walk(&path, out)?;
        } else if ft.is_file() && is_log_file(&path) {
            out.files.push(path);
        } else if ft.is_file() && !is_bedrock_non_record(&path) {
            out.other_files.push(path);
        }
    }
    Ok(())
}

/// Files Bedrock writes beside the records that are not records: not worth mentioning.
fn is_bedrock_non_record(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name == PERMISSION_CHECK || name.starts_with('.') || is_body_object(path)
}

/// A file's bytes, gunzipped when it is gzip (by magic number; concatenated members are read). A file
/// named `.gz` that is not gzip, or a gzip stream that is cut short or corrupt, is an error
/// (`InvalidData`) that says so: the file is unreadable, not a file of malformed records.
pub fn read_maybe_gzip(path: &Path) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read(path)?;
    let named_gz = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".gz"));
    if named_gz && !raw.starts_with(&GZIP_MAGIC) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            if raw.is_empty() {
                "empty file, named .gz"
            } else {
                "named .gz but not gzip-compressed"
            },
        ));
    }
    gunzip_if_gzip(raw)
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn gunzip_if_gzip(raw: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::with_capacity(raw.len() * 8);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("corrupt or truncated gzip ({e})"),
                )
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads one file and calls `f` with each record (or record error). A file that cannot be read or
/// decompressed is one error.
pub fn for_each_record_in_file(
    path: &Path,
    mut f: impl FnMut(Result<Record<'_>, RecordError>),
) -> std::io::Result<()> {
    let bytes = read_maybe_gzip(path)?;
    for_each_record_in_bytes(&bytes, &mut f);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!("bm-logfiles-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn recognises_the_s3_layout() {
        let base = "logs/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2026/11/25/10";
        assert!(is_log_file(Path::new(&format!(
            "{base}/20261125T101500123Z_abcdef0123456789.json.gz"
        ))));
        assert!(!is_log_file(Path::new(&format!(
            "{base}/data/5f0c_input.json.gz"
        ))));
        assert!(!is_log_file(Path::new(&format!(
            "{base}/data/5f0c_output.json.gz"
        ))));
        assert!(!is_log_file(Path::new(&format!(
            "{base}/data/5f0c_input_media_01.png"
        ))));
        assert!(!is_log_file(Path::new("logs/AWSLogs/111122223333/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check")));
        assert!(
            is_log_file(Path::new("data/exports/today.jsonl")),
            "a user folder named data is not a body folder"
        );
        assert!(is_log_file(Path::new("x/record.json")));
        assert!(!is_log_file(Path::new("x/notes.txt")));
    }

    #[test]
    fn other_files_are_listed_and_bedrock_non_records_are_not() {
        let dir = TempDir::new("others");
        let hour = dir
            .path()
            .join("AWSLogs/1/BedrockModelInvocationLogs/us-east-1/2026/11/25/10");
        std::fs::create_dir_all(hour.join("data")).unwrap();
        std::fs::write(hour.join("a.json.gz"), b"").unwrap();
        std::fs::write(hour.join("data/r_input.json.gz"), b"").unwrap();
        std::fs::write(dir.path().join("readme.txt"), b"hi").unwrap();
        std::fs::write(dir.path().join(".DS_Store"), b"").unwrap();
        std::fs::write(
            dir.path()
                .join("AWSLogs/1/BedrockModelInvocationLogs")
                .join(PERMISSION_CHECK),
            b"",
        )
        .unwrap();
        let found = find_log_files_and_others(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(found.files, vec![hour.join("a.json.gz")]);
        assert_eq!(found.other_files, vec![dir.path().join("readme.txt")]);
    }

    #[test]
    fn a_gz_file_that_is_not_gzip_or_is_cut_short_is_unreadable() {
        use std::io::Write;
        let dir = TempDir::new("gzip");
        let fake = dir.path().join("fake.json.gz");
        std::fs::write(&fake, b"{\"timestamp\":\"2026-11-25T10:00:00Z\"}\n").unwrap();
        let e = for_each_record_in_file(&fake, |_| panic!("no record")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("not gzip"), "{e}");

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&b"{\"timestamp\":\"2026-11-25T10:00:00Z\",\"modelId\":\"m\"}\n".repeat(50))
            .unwrap();
        let bytes = gz.finish().unwrap();
        let cut = dir.path().join("cut.json.gz");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let e = for_each_record_in_file(&cut, |_| {}).unwrap_err();
        assert!(e.to_string().contains("truncated gzip"), "{e}");

        let plain = dir.path().join("plain.jsonl");
        std::fs::write(&plain, b"{}\n").unwrap();
        let mut n = 0;
        for_each_record_in_file(&plain, |_| n += 1).unwrap();
        assert_eq!(n, 1, "a plain file is read as it is");
    }
}
