//! Writing an object's bytes to a file: whole, through a temporary name renamed only when
//! complete, or one range of a parallel download at its offset.
//!
//! The reply's chunks are not copied: they are gathered into batches of about [`BATCH`] bytes
//! and each batch is written at its offset (`pwrite`) on the blocking pool, while the next one
//! is received. A CRC of the bytes, when asked for, is taken as they arrive.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::body::check_length;
use crate::checksum::{Running, Stored};
use crate::error::{Error, Failure};
use crate::progress::Progress;
use crate::transport;

/// Bytes gathered before one write: big enough that the blocking pool is used once per
/// megabyte or so, small enough to bound the memory held per download.
const BATCH: usize = 1024 * 1024;

/// Where a reply body goes and what is taken of it on the way.
pub(crate) struct Into<'a> {
    pub(crate) idle: Duration,
    pub(crate) expected: Option<u64>,
    pub(crate) progress: &'a Progress,
    /// A CRC over the bytes, when they will be checked.
    pub(crate) crc: Option<&'a mut Running>,
    /// The checksum a whole file's bytes must have.
    pub(crate) check: Option<&'a Stored>,
}

/// A temporary name next to `path`, for writing before an atomic rename.
pub(crate) fn temp_path_for(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "download".into(), |n| n.to_string_lossy().into_owned());
    dir.join(format!(
        ".{name}.s3c-{}-{}.part",
        std::process::id(),
        next_tmp_id()
    ))
}

fn next_tmp_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::of(Failure::Io, format!("writing {}", path.display())).caused_by(e)
}

/// A batch of chunks written at `offset`, one `pwrite` each (no copy).
fn write_batch(file: &File, mut offset: u64, batch: &[Bytes]) -> std::io::Result<()> {
    for chunk in batch {
        file.write_all_at(chunk, offset)?;
        offset += chunk.len() as u64;
    }
    Ok(())
}

/// The last batch's write, awaited before the next starts (one write in flight).
async fn settle(pending: Option<JoinHandle<std::io::Result<()>>>) -> std::io::Result<()> {
    match pending {
        Some(h) => h.await.map_err(std::io::Error::other)?,
        None => Ok(()),
    }
}

/// Copies a reply body into `file` from `offset`; returns the bytes written.
async fn stream_into(
    file: Arc<File>,
    path: &Path,
    mut offset: u64,
    body: &mut hyper::body::Incoming,
    to: &mut Into<'_>,
) -> Result<u64, Error> {
    let mut written = 0u64;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batched = 0usize;
    let mut pending: Option<JoinHandle<std::io::Result<()>>> = None;
    loop {
        let chunk = transport::next_chunk(body, to.idle).await?;
        let last = chunk.is_none();
        if let Some(chunk) = chunk {
            if let Some(crc) = to.crc.as_deref_mut() {
                crc.update(&chunk);
            }
            to.progress.add(chunk.len() as u64);
            written += chunk.len() as u64;
            batched += chunk.len();
            batch.push(chunk);
        }
        if batched >= BATCH || (last && !batch.is_empty()) {
            settle(pending.take()).await.map_err(io_error(path))?;
            let (f, b, at) = (file.clone(), std::mem::take(&mut batch), offset);
            pending = Some(tokio::task::spawn_blocking(move || write_batch(&f, at, &b)));
            offset += batched as u64;
            batched = 0;
        }
        if last {
            settle(pending.take()).await.map_err(io_error(path))?;
            return Ok(written);
        }
    }
}

/// Streams a reply body to `path` through a temporary file in the same directory, renamed only
/// when complete and of the announced length; on any failure the temporary file is removed.
/// With a stored checksum to meet, the bytes' CRC is compared before the rename.
pub(crate) async fn write_output_file(
    path: &Path,
    body: &mut hyper::body::Incoming,
    mut to: Into<'_>,
) -> Result<u64, Error> {
    let mut tmp = TempFile::new(temp_path_for(path));
    if let Some(n) = to.expected {
        to.progress.set_total(n);
    }
    let file = tokio::fs::File::create(tmp.path())
        .await
        .map_err(io_error(path))?
        .into_std()
        .await;
    let file = Arc::new(file);
    let written = stream_into(file.clone(), path, 0, body, &mut to).await?;
    tokio::task::spawn_blocking(move || file.sync_all())
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(io_error(path))?;
    check_length(written, to.expected)?;
    if let (Some(stored), Some(crc)) = (to.check, to.crc.as_deref()) {
        stored.verify(crc.value(), written)?;
    }
    tmp.rename_to(path).await.map_err(io_error(path))?;
    Ok(written)
}

/// Writes a (ranged) reply body into an existing file at `offset`.
pub(crate) async fn write_at(
    path: &Path,
    offset: u64,
    body: &mut hyper::body::Incoming,
    mut to: Into<'_>,
) -> Result<u64, Error> {
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .await
        .map_err(io_error(path))?
        .into_std()
        .await;
    let written = stream_into(Arc::new(file), path, offset, body, &mut to).await?;
    check_length(written, to.expected)?;
    Ok(written)
}

/// A temporary file that is removed when dropped unless renamed to its final name: a write
/// that fails, or is cut off by a deadline or a cancel (its future dropped), leaves nothing.
pub(crate) struct TempFile {
    path: PathBuf,
    kept: bool,
}

impl TempFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        TempFile { path, kept: false }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file to `to`, after which it is kept.
    pub(crate) async fn rename_to(&mut self, to: &Path) -> std::io::Result<()> {
        tokio::fs::rename(&self.path, to).await?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            // Synchronous: a drop cannot wait, and unlinking one name is quick.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
