//! S3's flexible checksums (`x-amz-checksum-*`): CRC32, CRC32C and CRC64NVME, which the CPU
//! computes at many GB/s and S3 verifies on receipt. Pure, but for the streaming encoder's
//! sizes.
//!
//! - An upload carries its checksum in a header when the body is in memory, else in an
//!   `aws-chunked` trailer after the streamed bytes ([`chunked_len`], [`chunk_head`],
//!   [`trailer`]), so that a file is read once.
//! - A multipart upload of type `FULL_OBJECT` ends with the whole object's CRC, which
//!   [`combine`] makes from the parts' CRCs without reading anything twice.
//! - A download compares what it received with the checksum S3 stored ([`Stored`]); a ranged
//!   download combines its ranges' CRCs in order.

use base64::Engine;
use crc_fast::CrcAlgorithm;

use crate::connection::ChecksumAlgorithm;
use crate::error::{Error, Failure};

/// A CRC S3 stores and verifies, and that can be combined across parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
}

/// The algorithms a download can verify, in the order their headers are looked for.
const VERIFIABLE: [Algorithm; 3] = [Algorithm::Crc64Nvme, Algorithm::Crc32c, Algorithm::Crc32];

impl Algorithm {
    /// The name S3 uses (`x-amz-checksum-algorithm`, `x-amz-sdk-checksum-algorithm`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Algorithm> {
        VERIFIABLE
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The header (and trailer) that carries the value.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
        }
    }

    /// The output and `Parts` member that carries the value (`ChecksumCRC64NVME`).
    pub(crate) fn member(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "ChecksumCRC32",
            Algorithm::Crc32c => "ChecksumCRC32C",
            Algorithm::Crc64Nvme => "ChecksumCRC64NVME",
        }
    }

    fn crc(self) -> CrcAlgorithm {
        match self {
            Algorithm::Crc32 => CrcAlgorithm::Crc32IsoHdlc,
            Algorithm::Crc32c => CrcAlgorithm::Crc32Iscsi,
            Algorithm::Crc64Nvme => CrcAlgorithm::Crc64Nvme,
        }
    }

    /// Bytes of the value on the wire (before base64).
    fn width(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
        }
    }

    /// The CRC of `bytes`.
    pub fn of(self, bytes: &[u8]) -> u64 {
        crc_fast::checksum(self.crc(), bytes)
    }

    /// The value as S3 writes it: base64 of the big-endian CRC.
    pub fn encode(self, crc: u64) -> String {
        let be = crc.to_be_bytes();
        base64::engine::general_purpose::STANDARD.encode(&be[8 - self.width()..])
    }

    /// The CRC a value as S3 writes it holds.
    pub(crate) fn decode(self, value: &str) -> Option<u64> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()?;
        (raw.len() == self.width()).then(|| raw.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)))
    }

    /// The CRC of `a ++ b` from the CRCs of `a` and `b` and the length of `b`.
    pub fn combine(self, a: u64, b: u64, b_len: u64) -> u64 {
        crc_fast::checksum_combine(self.crc(), a, b, b_len)
    }
}

/// How uploads and downloads are checked (the connection's `checksums` and
/// `checksum_algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// No checks at all.
    Off,
    /// Content-MD5 on in-memory bodies, a streamed file's MD5 against its `ETag`.
    Md5,
    /// A CRC with every upload that S3 verifies; downloads checked against the stored CRC.
    Crc(Algorithm),
}

impl Default for Integrity {
    fn default() -> Self {
        Integrity::Crc(Algorithm::Crc64Nvme)
    }
}

impl Integrity {
    pub(crate) fn of(on: bool, algorithm: ChecksumAlgorithm) -> Integrity {
        match (on, algorithm) {
            (false, _) => Integrity::Off,
            (true, ChecksumAlgorithm::Md5) => Integrity::Md5,
            (true, ChecksumAlgorithm::Crc32) => Integrity::Crc(Algorithm::Crc32),
            (true, ChecksumAlgorithm::Crc32c) => Integrity::Crc(Algorithm::Crc32c),
            (true, ChecksumAlgorithm::Crc64Nvme) => Integrity::Crc(Algorithm::Crc64Nvme),
        }
    }

    /// The CRC uploads carry, when they carry one.
    pub(crate) fn crc(self) -> Option<Algorithm> {
        match self {
            Integrity::Crc(a) => Some(a),
            _ => None,
        }
    }
}

/// A running CRC over streamed bytes.
pub(crate) struct Running {
    digest: crc_fast::Digest,
}

impl Running {
    pub(crate) fn new(algorithm: Algorithm) -> Self {
        Running {
            digest: crc_fast::Digest::new(algorithm.crc()),
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    pub(crate) fn value(&self) -> u64 {
        self.digest.finalize()
    }
}

/// The checksum S3 stored for an object, from a reply's headers (`x-amz-checksum-mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) algorithm: Algorithm,
    pub(crate) value: String,
}

impl Stored {
    /// The whole object's CRC, when S3 sent one. A `COMPOSITE` checksum (a checksum of the
    /// parts' checksums, written `value-N`) says nothing about a byte range and is not used.
    pub(crate) fn from_headers(headers: &http::HeaderMap) -> Option<Stored> {
        let composite = headers
            .get("x-amz-checksum-type")
            .is_some_and(|t| t.as_bytes().eq_ignore_ascii_case(b"COMPOSITE"));
        if composite {
            return None;
        }
        VERIFIABLE.into_iter().find_map(|algorithm| {
            let value = headers.get(algorithm.header())?.to_str().ok()?;
            (!value.contains('-')).then(|| Stored {
                algorithm,
                value: value.to_string(),
            })
        })
    }

    /// The same from an operation's output (`HeadObject` with `x-amz-checksum-mode`).
    pub(crate) fn from_output(out: &serde_json::Map<String, serde_json::Value>) -> Option<Stored> {
        let composite = out
            .get("ChecksumType")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("COMPOSITE"));
        if composite {
            return None;
        }
        VERIFIABLE.into_iter().find_map(|algorithm| {
            let value = out.get(algorithm.member())?.as_str()?;
            (!value.contains('-')).then(|| Stored {
                algorithm,
                value: value.to_string(),
            })
        })
    }

    /// An error unless `crc` over the `len` bytes received is the stored value.
    pub(crate) fn verify(&self, crc: u64, len: u64) -> Result<(), Error> {
        let got = self.algorithm.encode(crc);
        if got == self.value {
            return Ok(());
        }
        Err(Error::of(
            Failure::Corrupt,
            format!(
                "download corrupted: S3 stored {} {}, the {len} bytes received have {got}",
                self.algorithm.name(),
                self.value
            ),
        ))
    }
}

/// The CRCs of a download's ranges, by offset, combined in order once all are in.
#[derive(Debug)]
pub(crate) struct Ranges {
    pub(crate) algorithm: Algorithm,
    crcs: std::sync::Mutex<std::collections::BTreeMap<u64, (u64, u64)>>,
}

impl Ranges {
    pub(crate) fn new(algorithm: Algorithm) -> Self {
        Ranges {
            algorithm,
            crcs: std::sync::Mutex::default(),
        }
    }

    /// The CRC of the `len` bytes at `offset` (a retried range replaces its earlier attempt).
    pub(crate) fn record(&self, offset: u64, crc: u64, len: u64) {
        self.crcs.lock().expect("crcs").insert(offset, (crc, len));
    }

    /// The CRC of bytes `0..total`, when the recorded ranges cover them exactly.
    pub(crate) fn whole(&self, total: u64) -> Option<u64> {
        let crcs = self.crcs.lock().expect("crcs");
        let mut at = 0u64;
        let mut crc = self.algorithm.of(b"");
        for (&offset, &(c, len)) in crcs.iter() {
            if offset != at {
                return None;
            }
            crc = self.algorithm.combine(crc, c, len);
            at += len;
        }
        (at == total).then_some(crc)
    }
}

/// The CRC a file body's header carries (read before sending), as `(algorithm, crc)`.
pub(crate) fn in_header(req: &crate::request::HttpRequest) -> Option<(Algorithm, u64)> {
    if !matches!(req.payload, crate::request::Payload::File { .. }) {
        return None;
    }
    VERIFIABLE
        .into_iter()
        .find_map(|a| Some((a, a.decode(req.header(a.header())?)?)))
}

/// An upload's body carries a CRC in a trailer (`x-amz-trailer`), for this algorithm.
pub(crate) fn trailer_of(trailer_header: &str) -> Option<Algorithm> {
    VERIFIABLE
        .into_iter()
        .find(|a| a.header().eq_ignore_ascii_case(trailer_header.trim()))
}

/// `aws-chunked` framing: each chunk is `hex(len)\r\n` + bytes + `\r\n`, then `0\r\n`, the
/// trailer line `name:value\r\n`, and `\r\n` (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`).
pub(crate) fn chunk_head(len: usize) -> String {
    format!("{len:x}\r\n")
}

/// The end of an `aws-chunked` body: the last (empty) chunk and the trailer.
pub(crate) fn trailer(algorithm: Algorithm, crc: u64) -> String {
    format!(
        "0\r\n{}:{}\r\n\r\n",
        algorithm.header(),
        algorithm.encode(crc)
    )
}

/// The encoded length of `len` bytes sent in chunks of `chunk` bytes (the last one shorter).
pub(crate) fn chunked_len(len: u64, chunk: u64, algorithm: Algorithm) -> u64 {
    let full = len / chunk;
    let rest = len % chunk;
    let framed = |n: u64| chunk_head(usize::try_from(n).unwrap_or(usize::MAX)).len() as u64 + n + 2;
    let mut total = full * framed(chunk);
    if rest > 0 {
        total += framed(rest);
    }
    total + trailer(algorithm, 0).len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_big_endian_base64_of_the_published_check_values() {
        // The check value of each algorithm is its CRC of "123456789" (the CRC catalogue).
        let check = b"123456789";
        assert_eq!(Algorithm::Crc32.of(check), 0xcbf4_3926);
        assert_eq!(Algorithm::Crc32c.of(check), 0xe306_9283);
        assert_eq!(Algorithm::Crc64Nvme.of(check), 0xae8b_1486_0a79_9888);
        assert_eq!(Algorithm::Crc32c.encode(0xe306_9283), "4waSgw==");
        assert_eq!(Algorithm::Crc64Nvme.encode(0xae8b_1486_0a79_9888).len(), 12);
        for alg in VERIFIABLE {
            let v = alg.of(check);
            assert_eq!(alg.decode(&alg.encode(v)), Some(v));
        }
        assert_eq!(
            Algorithm::Crc32c.decode("AAAAAAAAAAA="),
            None,
            "8 bytes for a CRC32C"
        );
    }

    #[test]
    fn combining_equals_the_crc_of_the_whole() {
        let (a, b) = (vec![7u8; 5000], b"tail bytes".to_vec());
        let whole = [a.clone(), b.clone()].concat();
        for alg in VERIFIABLE {
            let c = alg.combine(alg.of(&a), alg.of(&b), b.len() as u64);
            assert_eq!(c, alg.of(&whole), "{alg:?}");
            let mut r = Running::new(alg);
            r.update(&a);
            r.update(&b);
            assert_eq!(r.value(), alg.of(&whole));
        }
    }

    #[test]
    fn chunked_length_matches_the_framing() {
        let alg = Algorithm::Crc64Nvme;
        for (len, chunk) in [(0u64, 4u64), (3, 4), (4, 4), (9, 4), (1 << 20, 65536)] {
            let mut body = Vec::new();
            let data = vec![1u8; usize::try_from(len).unwrap()];
            for c in data.chunks(usize::try_from(chunk).unwrap()) {
                body.extend_from_slice(chunk_head(c.len()).as_bytes());
                body.extend_from_slice(c);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(trailer(alg, alg.of(&data)).as_bytes());
            assert_eq!(
                chunked_len(len, chunk, alg),
                body.len() as u64,
                "{len}/{chunk}"
            );
        }
    }

    #[test]
    fn ranges_combine_in_order_and_only_when_complete() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for alg in VERIFIABLE {
            let r = Ranges::new(alg);
            // Recorded out of order, as parallel ranges finish; one retried.
            r.record(6000, 0, 4000);
            r.record(6000, alg.of(&data[6000..]), 4000);
            assert_eq!(r.whole(10_000), None, "a gap");
            r.record(0, alg.of(&data[..3000]), 3000);
            r.record(3000, alg.of(&data[3000..6000]), 3000);
            assert_eq!(r.whole(10_000), Some(alg.of(&data)));
            assert_eq!(r.whole(12_000), None, "short of the total");
        }
    }

    #[test]
    fn stored_checksums_are_read_unless_composite() {
        let mut h = http::HeaderMap::new();
        assert_eq!(Stored::from_headers(&h), None);
        h.insert("x-amz-checksum-crc32c", "4waSgw==".parse().unwrap());
        let s = Stored::from_headers(&h).unwrap();
        assert_eq!(s.algorithm, Algorithm::Crc32c);
        assert!(s.verify(Algorithm::Crc32c.of(b"123456789"), 9).is_ok());
        let e = s.verify(Algorithm::Crc32c.of(b"123456780"), 9).unwrap_err();
        assert!(matches!(e.failure, Failure::Corrupt));
        h.insert("x-amz-checksum-type", "COMPOSITE".parse().unwrap());
        assert_eq!(Stored::from_headers(&h), None);
        h.remove("x-amz-checksum-type");
        h.insert("x-amz-checksum-crc32c", "4waSgw==-3".parse().unwrap());
        assert_eq!(Stored::from_headers(&h), None);
    }
}
