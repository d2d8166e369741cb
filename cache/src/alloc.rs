//! Real memory accounting: a global allocator that counts the bytes the C allocator really hands out
//! (`malloc_usable_size`, so size-class rounding is included), the way Redis's zmalloc feeds
//! `used_memory`. Each thread batches its delta locally and publishes it when it passes a threshold, so
//! the hot path does not bounce one cache line between cores.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

/// Bytes a thread may hold back before publishing; bounds the error of [`allocated_bytes`].
const FLUSH_THRESHOLD: isize = 16 * 1024;

static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static PENDING: Cell<isize> = const { Cell::new(0) };
}

pub struct CountingAlloc;

#[inline]
fn account(delta: isize) {
    let flushed = PENDING.try_with(|p| {
        let v = p.get() + delta;
        if v.abs() >= FLUSH_THRESHOLD {
            ALLOCATED.fetch_add(v, Ordering::Relaxed);
            p.set(0);
        } else {
            p.set(v);
        }
    });
    if flushed.is_err() {
        ALLOCATED.fetch_add(delta, Ordering::Relaxed);
    }
}

#[inline]
fn usable(ptr: *mut u8) -> isize {
    // SAFETY: `ptr` was returned by the system allocator (glibc malloc family) and is live.
    unsafe { libc::malloc_usable_size(ptr as *mut libc::c_void) as isize }
}

// SAFETY: every call is forwarded to `System`; we only observe sizes of live blocks.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            account(usable(p));
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            account(usable(p));
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-usable(ptr));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = usable(ptr);
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            account(usable(p) - old);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Heap bytes in use by the whole process (within a few KiB per thread).
pub fn allocated_bytes() -> usize {
    ALLOCATED.load(Ordering::Relaxed).max(0) as usize
}

/// Publishes this thread's pending delta now (after evicting, so the next check sees the freed bytes).
pub fn flush_local() {
    let _ = PENDING.try_with(|p| {
        ALLOCATED.fetch_add(p.replace(0), Ordering::Relaxed);
    });
}

/// Resident set size from /proc (what `used_memory_rss` reports).
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    pages * page
}
