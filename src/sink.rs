//! Writing an object's bytes to a file: whole, through a temporary name renamed only when
//! complete, or one range of a parallel download at its offset.
//!
//! A large range of a download (2 MiB or more, from an aligned offset) is read into an aligned
//! buffer, straight from the socket (`crate::raw_http`), and written past the page cache
//! (`crate::direct`) each time the buffer is full. Otherwise the reply's chunks are not copied:
//! they are gathered into batches of about [`BATCH`] bytes and each batch is written at its
//! offset (`pwritev`) on the blocking pool while the next batch is received. A CRC of the
//! bytes, when asked for, is taken as they arrive.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::body::check_length;
use crate::checksum::{Running, Stored};
use crate::direct::{self, AlignedBuf};
use crate::error::{Error, Failure};
use crate::progress::Progress;
use crate::transport::{self, ReplyBody};

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

/// A file being written, by one reply or by the ranges of a parallel download at once.
#[derive(Debug)]
pub(crate) struct OutFile {
    file: File,
    path: PathBuf,
    /// Held while a batch is written. The kernel takes the file's inode lock for each write
    /// and makes a second writer spin on a CPU while it waits; waiting here sleeps instead
    /// (docs/benchmarks.md: the download CPU figure).
    writing: Mutex<()>,
    /// The same file opened for writes past the page cache, where its file system allows.
    direct: Option<File>,
    /// Cleared when a direct write was refused: the ranges after it go through the page cache.
    direct_ok: AtomicBool,
    /// Aligned buffers between uses (one per range in flight).
    buffers: Mutex<Vec<AlignedBuf>>,
}

impl OutFile {
    /// Creates (or truncates) `path`; with `direct`, its large ranges are to be written past
    /// the page cache where the file system allows.
    pub(crate) async fn create(path: &Path, direct: bool) -> Result<Arc<OutFile>, Error> {
        let at = path.to_path_buf();
        let (file, direct) = tokio::task::spawn_blocking(move || {
            File::create(&at).map(|file| (file, direct.then(|| direct::open(&at)).flatten()))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(io_error(path))?;
        Ok(Arc::new(OutFile {
            file,
            path: path.to_path_buf(),
            writing: Mutex::new(()),
            direct_ok: AtomicBool::new(direct.is_some()),
            direct,
            buffers: Mutex::new(Vec::new()),
        }))
    }

    /// Whether a reply of `len` bytes written from `offset` goes past the page cache.
    fn direct_for(&self, offset: u64, len: Option<u64>) -> bool {
        self.direct_at(offset) && len.is_some_and(|n| n >= direct::CAP as u64)
    }

    /// Whether a large reply written from `offset` would go past the page cache: its body is
    /// then best read straight into the aligned buffers (`transport::ReplyBody::Raw`).
    pub(crate) fn direct_at(&self, offset: u64) -> bool {
        self.direct_ok.load(Ordering::Relaxed) && offset.is_multiple_of(direct::ALIGN as u64)
    }

    /// A buffer for a range's bytes: one a finished range gave back, or a new one.
    fn buffer(&self) -> AlignedBuf {
        let spare = self
            .buffers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        spare.unwrap_or_else(AlignedBuf::new)
    }

    fn give_back(&self, buf: AlignedBuf) {
        self.buffers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(buf);
    }

    /// Writes `buf`'s bytes at `offset` on the blocking pool, past the page cache where it can;
    /// hands the buffer back, emptied, for the next batch.
    fn write_direct(self: &Arc<Self>, offset: u64, mut buf: AlignedBuf) -> Pending {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _one_writer = this
                .writing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &this.direct {
                Some(d) if this.direct_ok.load(Ordering::Relaxed) => {
                    if !direct::write(d, &this.file, offset, buf.filled())? {
                        this.direct_ok.store(false, Ordering::Relaxed);
                    }
                }
                _ => std::os::unix::fs::FileExt::write_all_at(&this.file, buf.filled(), offset)?,
            }
            buf.clear();
            Ok(buf)
        })
    }

    /// Reserves `len` bytes on disk before they arrive (`fallocate`): a disk too full fails
    /// the download now rather than part way, and the file system maps the blocks once
    /// instead of page by page as the writes come. A file system that cannot (`EOPNOTSUPP`)
    /// is written as before.
    pub(crate) async fn reserve(self: &Arc<Self>, len: u64) -> Result<(), Error> {
        if len == 0 {
            return Ok(()); // nothing to reserve (and fallocate refuses a length of 0)
        }
        let this = self.clone();
        let reserved = tokio::task::spawn_blocking(move || fallocate(&this.file, len))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        match reserved {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(()),
            other => other.map_err(io_error(&self.path)),
        }
    }

    /// A batch of chunks written at `offset` with one `pwritev` (no copy; one system call and
    /// one pass through the file system for the batch).
    fn write_batch(&self, offset: u64, batch: &[Bytes]) -> std::io::Result<()> {
        let _one_writer = self
            .writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        write_all_vectored_at(&self.file, offset, batch)
    }
}

/// `pwritev(2)` until every byte of `chunks` is written from `offset` on.
fn write_all_vectored_at(file: &File, mut offset: u64, chunks: &[Bytes]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // At most IOV_MAX (1,024 on Linux) buffers a call.
    const MAX_IOV: usize = 1024;
    let (mut first, mut skip) = (0usize, 0usize); // the next chunk, and its bytes written
    loop {
        // Past the chunks written whole (and any empty ones).
        while first < chunks.len() && skip == chunks[first].len() {
            first += 1;
            skip = 0;
        }
        if first == chunks.len() {
            return Ok(());
        }
        let iov: Vec<libc::iovec> = chunks[first..]
            .iter()
            .take(MAX_IOV)
            .enumerate()
            .map(|(i, c)| {
                let c = if i == 0 { &c[skip..] } else { &c[..] };
                libc::iovec {
                    iov_base: c.as_ptr().cast_mut().cast(),
                    iov_len: c.len(),
                }
            })
            .collect();
        let at = libc::off_t::try_from(offset).map_err(std::io::Error::other)?;
        let count = libc::c_int::try_from(iov.len()).expect("at most MAX_IOV buffers");
        // SAFETY: every iovec points into a chunk borrowed for this call, which the kernel only
        // reads; the descriptor is open for as long as `file` is borrowed.
        let n = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), count, at) };
        let Ok(mut n) = usize::try_from(n) else {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        offset += n as u64;
        // Through the chunks written whole, into the one written in part.
        while n > 0 {
            let left = chunks[first].len() - skip;
            if n < left {
                skip += n;
                break;
            }
            n -= left;
            first += 1;
            skip = 0;
        }
    }
}

/// `fallocate(2)` of `[0, len)`, growing the file to `len`.
fn fallocate(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(std::io::Error::other)?;
    loop {
        // SAFETY: the descriptor is open for as long as `file` is borrowed; fallocate reads
        // no memory of ours.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A batch's write on the blocking pool; a direct one gives its buffer back.
type Pending<T = AlignedBuf> = JoinHandle<std::io::Result<T>>;

/// The last batch's write, awaited before the next starts (one write in flight).
async fn settle(pending: Option<Pending<()>>) -> std::io::Result<()> {
    match pending {
        Some(h) => joined(h).await,
        None => Ok(()),
    }
}

/// Copies a reply body into `file` from `offset`; returns the bytes written.
async fn stream_into(
    file: Arc<OutFile>,
    offset: u64,
    body: &mut ReplyBody,
    to: &mut Into<'_>,
) -> Result<u64, Error> {
    if file.direct_for(offset, to.expected) {
        stream_direct(file, offset, body, to).await
    } else {
        stream_chunks(file, offset, body, to).await
    }
}

/// Takes one received chunk's CRC, progress and length.
fn account(chunk: &[u8], to: &mut Into<'_>, written: &mut u64) {
    if let Some(crc) = to.crc.as_deref_mut() {
        crc.update(chunk);
    }
    to.progress.add(chunk.len() as u64);
    *written += chunk.len() as u64;
}

/// [`stream_into`] through the page cache: the chunks themselves, a batch per `pwritev`.
async fn stream_chunks(
    file: Arc<OutFile>,
    mut offset: u64,
    body: &mut ReplyBody,
    to: &mut Into<'_>,
) -> Result<u64, Error> {
    let mut written = 0u64;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batched = 0usize;
    let mut pending: Option<Pending<()>> = None;
    loop {
        let chunk = next_chunk(body, to.idle, &mut pending).await?;
        let last = chunk.is_none();
        if let Some(chunk) = chunk {
            account(&chunk, to, &mut written);
            batched += chunk.len();
            batch.push(chunk);
        }
        if batched >= BATCH || (last && !batch.is_empty()) {
            settle(pending.take()).await.map_err(io_error(&file.path))?;
            let (f, b, at) = (file.clone(), std::mem::take(&mut batch), offset);
            pending = Some(tokio::task::spawn_blocking(move || f.write_batch(at, &b)));
            offset += batched as u64;
            batched = 0;
        }
        if last {
            settle(pending.take()).await.map_err(io_error(&file.path))?;
            return Ok(written);
        }
    }
}

/// [`stream_into`] past the page cache: the body read into an aligned buffer (straight from the
/// socket when it comes through `raw_http`, else copied from hyper's chunks), written each time
/// it is full. The range reads nothing while its buffer is written (about a millisecond): the
/// socket's receive buffer takes what arrives meanwhile, so one buffer per range is enough.
async fn stream_direct(
    file: Arc<OutFile>,
    mut offset: u64,
    body: &mut ReplyBody,
    to: &mut Into<'_>,
) -> Result<u64, Error> {
    let mut written = 0u64;
    let mut buf = file.buffer();
    loop {
        match &mut *body {
            ReplyBody::Raw(raw) if raw.reads_into() => {
                let before = buf.filled().len();
                let n = raw.read_into(buf.spare(), to.idle).await?;
                if n == 0 {
                    break;
                }
                buf.advance(n);
                account(&buf.filled()[before..], to, &mut written);
            }
            _ => {
                let Some(chunk) = transport::next_chunk(body, to.idle).await? else {
                    break;
                };
                account(&chunk, to, &mut written);
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    rest = &rest[buf.fill(rest)..];
                    if buf.is_full() && !rest.is_empty() {
                        buf = write_out(&file, &mut offset, buf).await?;
                    }
                }
            }
        }
        if buf.is_full() {
            buf = write_out(&file, &mut offset, buf).await?;
        }
    }
    if !buf.filled().is_empty() {
        buf = write_out(&file, &mut offset, buf).await?;
    }
    file.give_back(buf);
    Ok(written)
}

/// Writes the buffer's bytes at `offset` and moves the offset past them; the buffer comes back
/// empty.
async fn write_out(
    file: &Arc<OutFile>,
    offset: &mut u64,
    buf: AlignedBuf,
) -> Result<AlignedBuf, Error> {
    let len = buf.filled().len() as u64;
    let buf = joined(file.write_direct(*offset, buf))
        .await
        .map_err(io_error(&file.path))?;
    *offset += len;
    Ok(buf)
}

/// The reply's next chunk. When the reply fails, the write in flight lands first, so that it
/// cannot overwrite the bytes of the range's next attempt (the first range of a download is
/// not pinned to an `ETag`).
async fn next_chunk(
    body: &mut ReplyBody,
    idle: Duration,
    pending: &mut Option<Pending<()>>,
) -> Result<Option<Bytes>, Error> {
    let next = transport::next_chunk(body, idle).await;
    if next.is_err() {
        if let Some(p) = pending.take() {
            let _ = p.await;
        }
    }
    next
}

async fn joined<T>(pending: Pending<T>) -> std::io::Result<T> {
    pending.await.map_err(std::io::Error::other)?
}

/// Streams a reply body to `path` through a temporary file in the same directory, renamed only
/// when complete and of the announced length; on any failure the temporary file is removed.
/// With a stored checksum to meet, the bytes' CRC is compared before the rename.
pub(crate) async fn write_output_file(
    path: &Path,
    body: &mut ReplyBody,
    mut to: Into<'_>,
) -> Result<u64, Error> {
    let mut tmp = TempFile::new(temp_path_for(path));
    if let Some(n) = to.expected {
        to.progress.set_total(n);
    }
    let file = OutFile::create(tmp.path(), false).await?;
    if let Some(n) = to.expected {
        file.reserve(n).await?;
    }
    let written = stream_into(file.clone(), 0, body, &mut to).await?;
    tokio::task::spawn_blocking(move || file.file.sync_all())
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

/// Writes a (ranged) reply body into `file` at `offset`.
pub(crate) async fn write_at(
    file: &Arc<OutFile>,
    offset: u64,
    body: &mut ReplyBody,
    mut to: Into<'_>,
) -> Result<u64, Error> {
    let written = stream_into(file.clone(), offset, body, &mut to).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectored_writes_put_every_chunk_at_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let chunks: Vec<Bytes> = [0usize, 3, 0, 70_000, 1, 0, 5000]
            .into_iter()
            .zip(b'a'..)
            .map(|(n, byte)| Bytes::from(vec![byte; n]))
            .collect();
        write_all_vectored_at(&file, 10, &chunks).unwrap();
        write_all_vectored_at(&file, 0, &[Bytes::from_static(b"0123456789")]).unwrap();
        write_all_vectored_at(&file, 5, &[]).unwrap();
        let mut want = b"0123456789".to_vec();
        for c in &chunks {
            want.extend_from_slice(c);
        }
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }

    /// Large ranges from an aligned offset go past the page cache, on a file system that
    /// takes `O_DIRECT` (the temporary directory's, ext4 on the machines here); nothing does
    /// when the caller asked for the page cache.
    #[test]
    fn large_aligned_ranges_are_written_past_the_page_cache() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mib = direct::CAP as u64;
        rt.block_on(async {
            let f = OutFile::create(&dir.path().join("d"), true).await.unwrap();
            if f.direct.is_none() {
                eprintln!("skipped: the temporary directory's file system refuses O_DIRECT");
                return;
            }
            assert!(f.direct_for(0, Some(mib)));
            assert!(f.direct_for(16 * mib, Some(16 * mib)));
            assert!(!f.direct_for(0, Some(mib - 1)), "small");
            assert!(!f.direct_for(0, None), "length unknown");
            assert!(
                !f.direct_for(5 * mib + 1000, Some(16 * mib)),
                "unaligned start"
            );
            let cached = OutFile::create(&dir.path().join("c"), false).await.unwrap();
            assert!(cached.direct.is_none() && !cached.direct_for(0, Some(16 * mib)));
        });
    }

    #[test]
    fn reserving_grows_the_file_and_writes_land_inside() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        rt.block_on(async {
            let f = OutFile::create(&path, false).await.unwrap();
            f.reserve(0).await.unwrap();
            f.reserve(1 << 20).await.unwrap();
            f.write_batch(1000, &[Bytes::from_static(b"xyz")]).unwrap();
        });
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), 1 << 20);
        assert_eq!(&got[1000..1003], b"xyz");
        assert!(got[..1000].iter().all(|b| *b == 0));
    }
}
