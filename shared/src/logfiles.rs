//! Log files on disk, laid out as Bedrock writes them to S3:
//! `…/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/<stamp>_<hex>.json.gz`,
//! one JSON record per line. Also plain `.json` (one record, or many) and `.jsonl` files.
//! Body objects under `…/HH/data/` and the `amazon-bedrock-logs-permission-check` marker are not log
//! records: they are skipped, not counted as malformed.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::record::{for_each_record_in_bytes, Record, RecordError};

pub const PERMISSION_CHECK: &str = "amazon-bedrock-logs-permission-check";

/// Whether a path is a log-record file (by name and place).
pub fn is_log_file(path: &Path) -> bool {
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

/// Every log file under the given files and directories, recursively, sorted.
pub fn find_log_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            // A file named explicitly is read whatever its name, unless it is a known non-record.
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name != PERMISSION_CHECK && !is_body_object(p) {
                out.push(p.clone());
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            walk(&path, out)?;
        } else if ft.is_file() && is_log_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// A file's bytes, gunzipped when it is gzip (by magic number; concatenated members are read).
pub fn read_maybe_gzip(path: &Path) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read(path)?;
    gunzip_if_gzip(raw)
}

pub fn gunzip_if_gzip(raw: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 8);
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out)?;
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
}
