//! Writing a download's large ranges past the page cache (`O_DIRECT`).
//!
//! Through the page cache, every byte is copied into pages the kernel allocates for the file,
//! and allocating and first touching a gigabyte of them is most of a download's system time.
//! On a VM whose host takes back the guest's free memory (this machine: a balloon with free
//! page reporting), that touch cost 0.2 s to 3 s of system time per GiB from one run to the
//! next (docs/benchmarks.md, "1 GiB download"). Here the reply is read from the socket into a
//! buffer of our own (`raw_http`), reused from batch to batch, and the device takes the bytes
//! from it: the kernel allocates no page for them, and no byte is copied in user space.
//!
//! `O_DIRECT` wants the file offset, the length and the memory aligned to the device's block;
//! [`ALIGN`] (4 KiB) covers the common ones. What is not aligned (a range's last few bytes, a
//! range that starts off the boundary) goes through the ordinary descriptor; a file system that
//! refuses `O_DIRECT` (at open, or with `EINVAL` at the first write) is written the ordinary
//! way. The writes to one file are made one at a time (`sink::OutFile`'s lock), which also keeps
//! a direct write and an ordinary one that share a page (kernels with 64 KiB pages) apart.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// The alignment of offsets, lengths and memory for `O_DIRECT` writes.
pub(crate) const ALIGN: usize = 4096;

/// The bytes of one write, and of the one buffer a range in flight holds: 2 MiB writes took
/// about a tenth less CPU per GiB than 1 MiB ones (docs/benchmarks.md).
pub(crate) const CAP: usize = 2 * 1024 * 1024;

/// A buffer of [`CAP`] bytes, filled from the front. It starts on a 2 MiB boundary and is
/// marked for a transparent huge page where the kernel gives them on request
/// (`/sys/kernel/mm/transparent_hugepage/enabled` = `madvise`, as here): each write then pins
/// one page instead of 512 and hands the device one contiguous segment (a virtio disk here
/// takes at most 254 segments a request, fewer than the 4 KiB pages of 1 MiB).
pub(crate) struct AlignedBuf {
    mem: Mapping,
    len: usize,
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuf({} of {CAP} bytes)", self.len)
    }
}

impl AlignedBuf {
    pub(crate) fn new() -> Self {
        AlignedBuf {
            mem: Mapping::new(),
            len: 0,
        }
    }

    /// Copies as much of `bytes` as fits; returns how much that was.
    pub(crate) fn fill(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(CAP - self.len);
        self.spare()[..n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }

    /// The room left, for a read to fill; [`Self::advance`] then counts what it filled.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        &mut self.mem.bytes_mut()[self.len..]
    }

    pub(crate) fn advance(&mut self, n: usize) {
        assert!(n <= CAP - self.len, "advanced past the buffer's end");
        self.len += n;
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == CAP
    }

    pub(crate) fn filled(&self) -> &[u8] {
        &self.mem.bytes()[..self.len]
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

/// [`CAP`] bytes of anonymous memory on a [`CAP`] boundary, mapped for this buffer alone and
/// unmapped when it is dropped. Not from the allocator: once a block this large is freed, glibc
/// serves the next from its heap, zeroing (touching) it, and not on the boundary.
struct Mapping(std::ptr::NonNull<u8>);

// SAFETY: the mapping is owned by one `Mapping` alone, and reached only through `&self` (read)
// or `&mut self` (write), as a `Vec<u8>` would be.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new() -> Mapping {
        let len = 2 * CAP;
        // SAFETY: a new private anonymous mapping; no memory of ours is read or written.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            let layout = std::alloc::Layout::from_size_align(CAP, CAP).expect("a power of two");
            std::alloc::handle_alloc_error(layout);
        }
        let addr = raw as usize;
        let start = addr.next_multiple_of(CAP);
        let (head, tail) = (start - addr, addr + len - (start + CAP));
        // SAFETY: the two pieces unmapped are the parts of the new mapping outside
        // `[start, start + CAP)`, which no one else knows of. `madvise` only marks the kept part
        // for huge pages; a kernel without them refuses, which is harmless.
        unsafe {
            if head > 0 {
                libc::munmap(raw, head);
            }
            if tail > 0 {
                libc::munmap((start + CAP) as *mut libc::c_void, tail);
            }
            libc::madvise(start as *mut libc::c_void, CAP, libc::MADV_HUGEPAGE);
        }
        Mapping(std::ptr::NonNull::new(start as *mut u8).expect("mmap gives no null address"))
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `CAP` bytes mapped readable and writable (zeros until written) for as long
        // as `self` lives.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr(), CAP) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_ptr(), CAP) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer referenced (`self` is being dropped).
        unsafe {
            libc::munmap(self.0.as_ptr().cast(), CAP);
        }
    }
}

/// `path` opened for writing past the page cache, or `None` where its file system refuses.
pub(crate) fn open(path: &Path) -> Option<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

/// Writes `bytes` at `at` (an [`ALIGN`]ed offset, `bytes` at an aligned address): the aligned
/// length through `direct`, the rest through `buffered`. A direct write the file system refuses
/// (`EINVAL`) goes through `buffered` too; the answer says whether `direct` was taken.
pub(crate) fn write(
    direct: &File,
    buffered: &File,
    at: u64,
    bytes: &[u8],
) -> std::io::Result<bool> {
    debug_assert!(at.is_multiple_of(ALIGN as u64));
    let aligned = bytes.len() / ALIGN * ALIGN;
    let mut taken = true;
    if aligned > 0 {
        match direct.write_all_at(&bytes[..aligned], at) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                buffered.write_all_at(&bytes[..aligned], at)?;
                taken = false;
            }
            Err(e) => return Err(e),
        }
    }
    buffered.write_all_at(&bytes[aligned..], at + aligned as u64)?;
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_fill_up_to_their_capacity() {
        let mut b = AlignedBuf::new();
        assert_eq!(b.filled().as_ptr() as usize % CAP, 0, "on a CAP boundary");
        assert_eq!(b.fill(&[7u8; 1000]), 1000);
        assert_eq!(b.fill(&vec![8u8; CAP]), CAP - 1000);
        assert!(b.is_full());
        assert_eq!(b.fill(b"more"), 0);
        assert_eq!(&b.filled()[998..1002], &[7, 7, 8, 8]);
        b.clear();
        assert!(b.filled().is_empty());
    }

    /// Where the file system takes `O_DIRECT` (ext4, xfs, btrfs) the aligned part goes past
    /// the page cache; either way every byte lands at its place.
    #[test]
    fn an_unaligned_end_goes_through_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let buffered = File::create(&path).unwrap();
        let mut buf = AlignedBuf::new();
        let data: Vec<u8> = (0..3 * ALIGN + 123)
            .map(|i| (i % 251).to_le_bytes()[0])
            .collect();
        buf.fill(&data);
        let direct = open(&path);
        let at = 2 * ALIGN as u64;
        match &direct {
            Some(d) => {
                write(d, &buffered, at, buf.filled()).unwrap();
            }
            None => buffered.write_all_at(buf.filled(), at).unwrap(),
        }
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), 2 * ALIGN + data.len());
        assert!(got[..2 * ALIGN].iter().all(|b| *b == 0));
        assert_eq!(&got[2 * ALIGN..], &data[..]);
    }

    /// A direct write the kernel refuses (here: memory off the device's DMA alignment) goes
    /// through the ordinary descriptor instead, and says so.
    #[test]
    fn a_refused_direct_write_goes_through_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let buffered = File::create(&path).unwrap();
        let Some(direct) = open(&path) else {
            eprintln!("skipped: the temporary directory's file system refuses O_DIRECT");
            return;
        };
        let mut buf = AlignedBuf::new();
        let data: Vec<u8> = (0..=2 * ALIGN)
            .map(|i| (i % 241).to_le_bytes()[0])
            .collect();
        buf.fill(&data);
        let off_by_one = &buf.filled()[1..];
        assert!(!write(&direct, &buffered, 0, off_by_one).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), &data[1..]);
    }
}
