//! The state file: accounts, friendships and tokens survive a restart, like a real provider's.
//! Each change is written (temporary file, fsync, rename) before the call that made it answers.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::{Account, Friend, FriendRequest};

const VERSION: u32 = 1;

/// What the file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StateFile {
    pub version: u32,
    pub accounts: Vec<Account>,
    /// Friend lists by owner accid.
    pub friends: BTreeMap<String, Vec<Friend>>,
    pub friend_requests: Vec<FriendRequest>,
    /// Message ids below this may have been used; a restarted simulator starts above it.
    pub msgid_reserved: u64,
}

/// A serialized state, numbered so an older snapshot never overwrites a newer one.
pub(crate) struct Snapshot {
    pub generation: u64,
    pub bytes: Vec<u8>,
}

impl StateFile {
    pub fn snapshot(mut self, generation: u64) -> io::Result<Snapshot> {
        self.version = VERSION;
        Ok(Snapshot { generation, bytes: serde_json::to_vec_pretty(&self)? })
    }
}

/// Writes snapshots of one file, in generation order.
pub(crate) struct Persister {
    path: PathBuf,
    written: tokio::sync::Mutex<u64>,
}

impl Persister {
    pub fn new(path: PathBuf) -> Self {
        Self { path, written: tokio::sync::Mutex::new(0) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file; `None` when there is none yet.
    pub fn load(&self) -> io::Result<Option<StateFile>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a simulator state file: {e}", self.path.display()),
            )
        })?;
        if file.version != VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: state file version {} (expected {VERSION})", self.path.display(), file.version),
            ));
        }
        Ok(Some(file))
    }

    /// Moves an unreadable file aside so that nothing overwrites it; returns where it went.
    pub fn quarantine(&self, now_ms: u64) -> io::Result<PathBuf> {
        let aside = with_suffix(&self.path, &format!("corrupt-{now_ms}"));
        std::fs::rename(&self.path, &aside)?;
        Ok(aside)
    }

    /// Writes `snapshot` unless a newer one is already on disk.
    pub async fn write(&self, snapshot: Snapshot) -> io::Result<()> {
        let mut written = self.written.lock().await;
        if snapshot.generation <= *written {
            return Ok(());
        }
        let path = self.path.clone();
        let generation = snapshot.generation;
        tokio::task::spawn_blocking(move || write_atomically(&path, &snapshot.bytes))
            .await
            .map_err(io::Error::other)??;
        *written = generation;
        Ok(())
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = with_suffix(path, &format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path() -> PathBuf {
        std::env::temp_dir().join(format!("imbridge-sim-persist-{}", uuid::Uuid::new_v4().simple())).join("state.json")
    }

    #[tokio::test]
    async fn writes_are_atomic_and_ordered_by_generation() {
        let path = temp_path();
        let p = Persister::new(path.clone());
        assert!(p.load().unwrap().is_none());
        let newer = StateFile { msgid_reserved: 2, ..StateFile::default() };
        let older = StateFile { msgid_reserved: 1, ..StateFile::default() };
        p.write(newer.snapshot(2).unwrap()).await.unwrap();
        p.write(older.snapshot(1).unwrap()).await.unwrap();
        assert_eq!(p.load().unwrap().unwrap().msgid_reserved, 2);
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_and_can_be_moved_aside() {
        let path = temp_path();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{not json").unwrap();
        let p = Persister::new(path.clone());
        assert_eq!(p.load().unwrap_err().kind(), io::ErrorKind::InvalidData);
        let aside = p.quarantine(42).unwrap();
        assert!(aside.to_string_lossy().ends_with("state.json.corrupt-42"));
        assert!(p.load().unwrap().is_none());
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
