//! Streaming zstd over `zstd-sys` (the C library RocksDB already links). The `zstd` crate would turn
//! on another feature of `zstd-sys` and with it force a rebuild of RocksDB for this crate alone, so
//! the two calls the cold tier needs are wrapped here; all `unsafe` stays in this file.

use std::ffi::CStr;
use std::io;

use zstd_sys as z;

fn check(code: usize) -> io::Result<usize> {
    // SAFETY: ZSTD_isError / ZSTD_getErrorName accept any value and return a static C string.
    unsafe {
        if z::ZSTD_isError(code) != 0 {
            let name = CStr::from_ptr(z::ZSTD_getErrorName(code)).to_string_lossy().into_owned();
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {name}")));
        }
    }
    Ok(code)
}

/// Compresses one frame from chunks of input.
pub struct Compressor {
    ctx: *mut z::ZSTD_CCtx,
    buf: Vec<u8>,
}

// SAFETY: the context is owned exclusively by this value and zstd contexts may move between threads.
unsafe impl Send for Compressor {}

impl Compressor {
    pub fn new(level: i32) -> io::Result<Self> {
        // SAFETY: a fresh context; checked for NULL before use.
        let ctx = unsafe { z::ZSTD_createCCtx() };
        if ctx.is_null() {
            return Err(io::Error::other("zstd: cannot allocate a compression context"));
        }
        let this = Self { ctx, buf: vec![0u8; 128 * 1024] };
        // SAFETY: ctx is valid.
        check(unsafe { z::ZSTD_CCtx_setParameter(ctx, z::ZSTD_cParameter::ZSTD_c_compressionLevel, level) })?;
        Ok(this)
    }

    fn run(&mut self, input: &[u8], end: bool, out: &mut impl io::Write) -> io::Result<()> {
        let mut inb = z::ZSTD_inBuffer { src: input.as_ptr().cast(), size: input.len(), pos: 0 };
        loop {
            let mut outb = z::ZSTD_outBuffer { dst: self.buf.as_mut_ptr().cast(), size: self.buf.len(), pos: 0 };
            let directive = if end { z::ZSTD_EndDirective::ZSTD_e_end } else { z::ZSTD_EndDirective::ZSTD_e_continue };
            // SAFETY: both buffers point into live slices of the stated sizes; ctx is valid.
            let left = check(unsafe { z::ZSTD_compressStream2(self.ctx, &mut outb, &mut inb, directive) })?;
            out.write_all(&self.buf[..outb.pos])?;
            let done = if end { left == 0 } else { inb.pos == inb.size };
            if done {
                return Ok(());
            }
        }
    }

    pub fn write(&mut self, input: &[u8], out: &mut impl io::Write) -> io::Result<()> {
        self.run(input, false, out)
    }

    /// Ends the frame.
    pub fn finish(&mut self, out: &mut impl io::Write) -> io::Result<()> {
        self.run(&[], true, out)
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        // SAFETY: ctx came from ZSTD_createCCtx and is freed once.
        unsafe { z::ZSTD_freeCCtx(self.ctx) };
    }
}

/// Decompresses a stream of frames.
pub struct Decompressor {
    ctx: *mut z::ZSTD_DCtx,
    buf: Vec<u8>,
}

// SAFETY: as for Compressor.
unsafe impl Send for Decompressor {}

impl Decompressor {
    pub fn new() -> io::Result<Self> {
        // SAFETY: a fresh context; checked for NULL before use.
        let ctx = unsafe { z::ZSTD_createDCtx() };
        if ctx.is_null() {
            return Err(io::Error::other("zstd: cannot allocate a decompression context"));
        }
        Ok(Self { ctx, buf: vec![0u8; 128 * 1024] })
    }

    /// Feeds `input`, appending what it decompresses to `out`.
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut inb = z::ZSTD_inBuffer { src: input.as_ptr().cast(), size: input.len(), pos: 0 };
        loop {
            let mut outb = z::ZSTD_outBuffer { dst: self.buf.as_mut_ptr().cast(), size: self.buf.len(), pos: 0 };
            // SAFETY: both buffers point into live slices of the stated sizes; ctx is valid.
            check(unsafe { z::ZSTD_decompressStream(self.ctx, &mut outb, &mut inb) })?;
            out.extend_from_slice(&self.buf[..outb.pos]);
            // Done with this input once it is consumed and the output buffer was not filled.
            if inb.pos == inb.size && outb.pos < outb.size {
                return Ok(());
            }
        }
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: ctx came from ZSTD_createDCtx and is freed once.
        unsafe { z::ZSTD_freeDCtx(self.ctx) };
    }
}

/// One whole buffer, compressed as one frame.
pub fn compress(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut c = Compressor::new(level)?;
    c.write(data, &mut out)?;
    c.finish(&mut out)?;
    Ok(out)
}

pub fn decompress(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Decompressor::new()?.write(data, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_chunks() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8 ^ (i / 4096) as u8).collect();
        let mut packed = Vec::new();
        let mut c = Compressor::new(3).unwrap();
        for chunk in data.chunks(70_000) {
            c.write(chunk, &mut packed).unwrap();
        }
        c.finish(&mut packed).unwrap();
        assert!(packed.len() < data.len() / 2);
        let mut out = Vec::new();
        let mut d = Decompressor::new().unwrap();
        for chunk in packed.chunks(3333) {
            d.write(chunk, &mut out).unwrap();
        }
        assert_eq!(out, data);
        assert_eq!(decompress(&compress(b"", 3).unwrap()).unwrap(), b"");
        assert!(decompress(b"not zstd at all").is_err());
    }
}
