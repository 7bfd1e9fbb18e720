//! Where metadata records are kept. Today: one local append-only file, each record
//! framed as `[len u32][crc32c u32][postcard StoredRecord]` and fsynced before the
//! append returns. The cluster work puts a Raft log behind the same trait.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::frame;
use super::records::{MetadataRecord, RECORD_FORMAT_VERSION, StoredRecord};

/// A metadata storage failure; the controller cannot go on without its log.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Reading or writing the file failed.
    #[error("metadata store I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A record could not be encoded.
    #[error("metadata record encoding: {0}")]
    Encode(String),
    /// A record written by a newer Weir.
    #[error("metadata record at {offset} has unknown format {format}")]
    UnknownFormat { offset: u64, format: u16 },
}

/// Durable, ordered storage of metadata records.
pub trait MetadataStore: Send + 'static {
    /// Every stored record in order (a torn tail is dropped).
    fn load(&mut self) -> Result<Vec<MetadataRecord>, StoreError>;
    /// Appends records; they are durable when this returns `Ok`.
    fn append(&mut self, records: &[MetadataRecord]) -> Result<(), StoreError>;
}

/// The single-broker store: one file under `<data_dir>/__cluster_metadata/`.
#[derive(Debug)]
pub struct FileStore {
    /// Path of the record file.
    path: PathBuf,
    /// Open for appending once loaded.
    file: Option<File>,
}

impl FileStore {
    /// A store in `data_dir` (created on load).
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("__cluster_metadata").join("records.log"),
            file: None,
        }
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl MetadataStore for FileStore {
    fn load(&mut self) -> Result<Vec<MetadataRecord>, StoreError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| self.io(e))?;
        let (records, valid_len) = decode_all(&bytes)?;
        if valid_len < bytes.len() {
            tracing::warn!(path = %self.path.display(), valid_len, file_len = bytes.len(), "truncating torn metadata tail");
            file.set_len(valid_len as u64).map_err(|e| self.io(e))?;
            file.sync_all().map_err(|e| self.io(e))?;
        }
        self.file = Some(file);
        Ok(records)
    }

    fn append(&mut self, records: &[MetadataRecord]) -> Result<(), StoreError> {
        let mut out = Vec::new();
        for record in records {
            encode_into(record, &mut out)?;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(StoreError::Encode("store appended before load".into()));
        };
        let result = file.write_all(&out).and_then(|()| file.sync_data());
        result.map_err(|e| self.io(e))
    }
}

fn encode_into(record: &MetadataRecord, out: &mut Vec<u8>) -> Result<(), StoreError> {
    let stored = StoredRecord {
        format: RECORD_FORMAT_VERSION,
        record: record.clone(),
    };
    let payload = postcard::to_stdvec(&stored).map_err(|e| StoreError::Encode(e.to_string()))?;
    frame::encode_into(&payload, out)
        .ok_or_else(|| StoreError::Encode(format!("record of {} bytes", payload.len())))
}

/// Decodes records until the first torn or corrupt one; returns them and the
/// length of the valid prefix.
fn decode_all(bytes: &[u8]) -> Result<(Vec<MetadataRecord>, usize), StoreError> {
    let (payloads, mut valid_len) = frame::decode_all(bytes);
    let mut records = Vec::new();
    let mut pos = 0;
    for payload in payloads {
        let Ok(stored) = postcard::from_bytes::<StoredRecord>(payload) else {
            valid_len = pos;
            break;
        };
        if stored.format != RECORD_FORMAT_VERSION {
            return Err(StoreError::UnknownFormat {
                offset: records.len() as u64,
                format: stored.format,
            });
        }
        records.push(stored.record);
        pos += payload.len() + 8;
    }
    Ok((records, valid_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u8) -> MetadataRecord {
        MetadataRecord::TopicDeleted { topic_id: [i; 16] }
    }

    #[test]
    fn append_reload_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::new(dir.path());
        assert!(store.load().unwrap().is_empty());
        store.append(&[record(1), record(2)]).unwrap();
        store.append(&[record(3)]).unwrap();
        let path = dir.path().join("__cluster_metadata/records.log");
        let len = std::fs::metadata(&path).unwrap().len();
        // Tear the last record in half: it must vanish, the others stay.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 3).unwrap();
        let mut store = FileStore::new(dir.path());
        assert_eq!(store.load().unwrap(), vec![record(1), record(2)]);
        store.append(&[record(4)]).unwrap();
        let mut store = FileStore::new(dir.path());
        assert_eq!(store.load().unwrap(), vec![record(1), record(2), record(4)]);
    }
}
