//! gzip at level 9 for Butane's data-URL trial, sized to the input.
//!
//! Butane compresses every inline and local file once just to see whether
//! gzip is shorter, so configs with many small files pay a per-trial set-up
//! cost: clearing a 32 KiB window and a 64–128 KiB hash table. On a 77-byte
//! file a trial took 7.4 µs with zlib-rs (its hash table is fixed at 64 Ki
//! entries), 7.2 µs with libdeflate, 8.0 µs with miniz_oxide, 4.3 µs with C
//! zlib at its default sizes and 3.6 µs with C zlib sized to the input
//! (10,000 files, one quiet run; at 2 KB all are within 10%). C zlib lets
//! the window (`windowBits`) and the hash table and symbol buffer
//! (`memLevel`) shrink to fit the input, and then produces the same bytes as
//! with the defaults, because no match distance or block boundary of a short
//! input reaches the smaller limits (`tests::same_bytes_as_default_parameters`
//! checks it). The one way out is a crafted input with over 1024 earlier
//! positions sharing a hash in the smaller table, where level 9 stops
//! searching a chain; its output is then still valid gzip, only perhaps a
//! few bytes longer. One stream per size class is kept per thread and reset
//! between files.

use std::cell::RefCell;
use std::ptr::NonNull;

use libz_sys as z;

/// The bytes of `data` gzipped at level 9, framed as Go's
/// `gzip.NewWriterLevel(w, BestCompression)` frames it (no name, mtime 0,
/// XFL 2, OS 255), so that only the deflate stream differs from Butane's.
pub(super) fn gzip(data: &[u8]) -> Vec<u8> {
    let params = Params::for_len(data.len());
    let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
    STREAMS.with(|streams| {
        let mut streams = streams.borrow_mut();
        streams[params.slot()]
            .get_or_insert_with(|| Deflate::new(params))
            .finish(data, &mut out);
    });
    // Inputs here are files read for a config; a length over 4 GiB is
    // recorded modulo 2^32, as RFC 1952 says.
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// By the same C zlib. flate2's CRC (zlib-rs) first asks std's CPU feature
/// detection about PCLMULQDQ: a dozen CPUID instructions, which trap to the
/// hypervisor in a VM (about 4 µs each here), paid once per process, which
/// was a tenth of `mkstick ignite` on a 2 KB config.
fn crc32(data: &[u8]) -> u32 {
    data.chunks(u32::MAX as usize).fold(0, |crc, chunk| {
        // SAFETY: `chunk` is valid for reads of `chunk.len()` bytes, which
        // fits zlib's `uInt`; zlib only reads them.
        let crc = unsafe { z::crc32(z::uLong::from(crc), chunk.as_ptr(), chunk.len() as u32) };
        // A CRC-32 is 32 bits wide; zlib returns it in an unsigned long.
        crc as u32
    })
}

const SLOTS: usize = 7 * 8;

thread_local! {
    static STREAMS: RefCell<[Option<Deflate>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
}

/// Window and hash sizes for one input length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Params {
    /// log2 of the window, 9..=15.
    window_bits: i32,
    /// 1..=8: the hash table has 2^(m+7) entries, the symbol buffer 2^(m+6).
    mem_level: i32,
}

impl Params {
    /// zlib's defaults (15, 8), shrunk while the input still fits: the
    /// window keeps `MIN_LOOKAHEAD` (262) bytes of slack, as zlib's
    /// `MAX_DIST` does, and the symbol buffer (zlib ends a block when
    /// `lit_bufsize - 1` symbols are pending) holds every literal.
    fn for_len(len: usize) -> Self {
        let mut window_bits = 9;
        while window_bits < 15 && (1usize << window_bits) - 262 < len {
            window_bits += 1;
        }
        let mut mem_level = 1;
        while mem_level < 8 && (1usize << (mem_level + 6)) < len + 2 {
            mem_level += 1;
        }
        Self {
            window_bits,
            mem_level,
        }
    }

    fn slot(self) -> usize {
        (self.window_bits as usize - 9) * 8 + self.mem_level as usize - 1
    }
}

/// An owned raw-deflate stream (C zlib), level 9.
struct Deflate(NonNull<z::z_stream>);

impl Deflate {
    fn new(params: Params) -> Self {
        // zlib keeps a pointer back to the stream in its state, so the
        // stream lives on the heap at a fixed address. Its allocator fields
        // must be zero (= zlib's own malloc), but Rust's binding types them
        // as non-nullable function pointers: hence a zeroed raw block
        // rather than a Rust value.
        let layout = std::alloc::Layout::new::<z::z_stream>();
        // SAFETY: the layout is non-zero-sized.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<z::z_stream>();
        let Some(stream) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        // SAFETY: `stream` is a zeroed, writable z_stream; negative window
        // bits ask for a raw deflate stream (we write the gzip frame).
        let rc = unsafe {
            z::deflateInit2_(
                stream.as_ptr(),
                9,
                z::Z_DEFLATED,
                -params.window_bits,
                params.mem_level,
                z::Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as i32,
            )
        };
        // Only invalid parameters or a failed allocation make init fail.
        if rc != z::Z_OK {
            std::alloc::handle_alloc_error(layout)
        }
        Self(stream)
    }

    /// Compresses all of `data` as one stream, appending to `out`.
    fn finish(&mut self, data: &[u8], out: &mut Vec<u8>) {
        // SAFETY: the stream was initialised by deflateInit2_.
        unsafe { z::deflateReset(self.0.as_ptr()) };
        let mut input = data;
        loop {
            // One call finishes unless a chunk exceeds u32 or `out` is short.
            out.reserve(input.len() / 2 + 64);
            let avail_in = input.len().min(u32::MAX as usize);
            let spare = out.spare_capacity_mut();
            let avail_out = spare.len().min(u32::MAX as usize);
            let last = avail_in == input.len();
            // SAFETY: next_in/next_out point at `avail_*` valid bytes that
            // outlive the call; zlib writes only within `avail_out`.
            let (rc, used_in, used_out) = unsafe {
                let s = &mut *self.0.as_ptr();
                s.next_in = input.as_ptr().cast_mut();
                s.avail_in = avail_in as u32;
                s.next_out = spare.as_mut_ptr().cast();
                s.avail_out = avail_out as u32;
                let rc = z::deflate(s, if last { z::Z_FINISH } else { z::Z_NO_FLUSH });
                (
                    rc,
                    avail_in - s.avail_in as usize,
                    avail_out - s.avail_out as usize,
                )
            };
            // SAFETY: zlib initialised `used_out` bytes of the spare capacity.
            unsafe { out.set_len(out.len() + used_out) };
            input = &input[used_in..];
            match rc {
                z::Z_STREAM_END => return,
                // Z_BUF_ERROR only means no progress was possible this call
                // (output full); more room is reserved above.
                z::Z_OK | z::Z_BUF_ERROR => {}
                _ => unreachable!("deflate on a valid stream returned {rc}"),
            }
        }
    }
}

impl Drop for Deflate {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised and is not used after this;
        // the block was allocated above with the same layout.
        unsafe {
            z::deflateEnd(self.0.as_ptr());
            std::alloc::dealloc(
                self.0.as_ptr().cast(),
                std::alloc::Layout::new::<z::z_stream>(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;

    use super::*;

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    /// The whole output with zlib's default window and memory level.
    fn gzip_default(data: &[u8]) -> Vec<u8> {
        let default = Params {
            window_bits: 15,
            mem_level: 8,
        };
        let mut out = Vec::new();
        Deflate::new(default).finish(data, &mut out);
        out
    }

    #[test]
    fn sizes_follow_the_input() {
        let p = |len| {
            let p = Params::for_len(len);
            (p.window_bits, p.mem_level)
        };
        assert_eq!(p(0), (9, 1));
        assert_eq!(p(126), (9, 1));
        assert_eq!(p(127), (9, 2));
        assert_eq!(p(250), (9, 2));
        assert_eq!(p(251), (10, 2));
        assert_eq!(p(1 << 20), (15, 8));
        assert!((0..100_000).all(|n| Params::for_len(n).slot() < SLOTS));
    }

    #[test]
    fn frames_like_go() {
        let gz = gzip(b"hello world\n");
        assert_eq!(gz[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
        assert_eq!(gunzip(&gz), b"hello world\n");
        for data in [&b""[..], &[7u8; 100_000][..], "ünï".as_bytes()] {
            assert_eq!(gunzip(&gzip(data)), data);
        }
    }

    #[test]
    fn repeated_calls_reuse_streams() {
        let a = gzip(&b"abc".repeat(100));
        let b = gzip(&b"xyz".repeat(7));
        assert_eq!(gzip(&b"abc".repeat(100)), a);
        assert_eq!(gunzip(&b), b"xyz".repeat(7));
    }

    fn input() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // Text-like, low entropy, random, and long runs: the shapes
            // where matches and hash chains behave differently.
            proptest::collection::vec(b'a'..=b'd', 0..40_000),
            proptest::collection::vec(any::<u8>(), 0..40_000),
            "[a-z =#\n]{0,3000}".prop_map(|s| s.repeat(9).into_bytes()),
            (1usize..40_000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn same_bytes_as_default_parameters(data in input()) {
            let gz = gzip(&data);
            prop_assert_eq!(&gz[10..gz.len() - 8], &gzip_default(&data)[..]);
            prop_assert_eq!(gunzip(&gz), data);
        }
    }
}
