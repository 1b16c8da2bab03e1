//! Giving back the deep stack pages of a connection thread that went idle.
//!
//! A stack page, once touched, stays resident until its thread ends. An
//! uncompressed connection thread touches two pages (ARCHITECTURE.md, "the
//! idle stack"), but compressing a message runs zlib's Huffman code some
//! 5.5 KiB deeper, and a reader that echoes touched two pages more: an
//! idle compressed connection kept 8 KiB of stack it would never use again
//! (`syncws-bench deflate-memory`: 16 KiB of stack per connection against
//! 8, of a target of 24 KiB for the whole connection). So when the reader
//! of a thread syncws started hibernates its decompressor, sitting near
//! the top of its stack, it gives the pages below it back to the system;
//! they come back, zeroed, if the thread goes deep again.
//!
//! Only for threads whose stack syncws made (the server's connection
//! threads, marked with [`mark_own`]): their bounds are known, and a
//! caller's thread is left as its owner set it up.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use std::cell::Cell;

    const PAGE: usize = 4096;
    /// Left untouched below the local this function takes the address of:
    /// the rest of its small frame, the return address of the call to
    /// libc's `madvise` (a system call stub that uses no other stack), and
    /// the 128-byte red zone, with room to spare.
    const MARGIN: usize = 1024;

    thread_local! {
        /// The lowest address of this thread's stack (above its guard
        /// page): 0 if unknown yet, 1 if syncws did not make the thread.
        static STACK_LOW: Cell<usize> = const { Cell::new(1) };
    }

    pub(crate) fn mark_own() {
        STACK_LOW.with(|l| l.set(0));
    }

    /// The lowest usable address of this thread's stack, if found.
    #[allow(unsafe_code)]
    fn find_low() -> Option<usize> {
        let mut low: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        // SAFETY: `attr` is initialised by pthread_getattr_np before it is
        // read and destroyed once (only if that succeeded); the two out
        // pointers are valid locals. For a thread created by
        // pthread_create, glibc fills the attributes from the thread's own
        // descriptor, and pthread_attr_getstack gives the lowest usable
        // address, above the guard page.
        let found = unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
                return None;
            }
            let got = libc::pthread_attr_getstack(&attr, &mut low, &mut size);
            libc::pthread_attr_destroy(&mut attr);
            got == 0
        };
        (found && !low.is_null()).then_some(low as usize)
    }

    #[inline(never)]
    #[allow(unsafe_code)]
    pub(crate) fn give_back_below_caller() {
        let mut low = STACK_LOW.with(Cell::get);
        if low == 0 {
            // Once per thread; 1 (not ours) if the bounds are not found.
            low = find_low().unwrap_or(1);
            STACK_LOW.with(|l| l.set(low));
        }
        if low == 1 {
            return;
        }
        let here = 0u8;
        let here = std::ptr::addr_of!(here) as usize;
        let high = here.saturating_sub(MARGIN) & !(PAGE - 1);
        let low = (low + PAGE - 1) & !(PAGE - 1);
        if high <= low {
            return;
        }
        // SAFETY: [low, high) lies inside this thread's own stack (`low` is
        // its lowest usable address, `high` is below this function's
        // frame), and all of it is below the stack pointer, by at least
        // MARGIN, which is more than this frame's remaining locals, the
        // 128-byte red zone and the libc wrapper of the system call need.
        // Nothing live is stored below a thread's stack pointer: the frames
        // that were there have returned, and no reference to them can
        // remain (a borrow cannot outlive its frame; scoped threads borrow
        // from frames that are still live, above). MADV_DONTNEED on this
        // private anonymous mapping only drops the pages' contents: the
        // next touch maps a zeroed page. A signal handler that runs during
        // or after the call uses that region as fresh stack, which is
        // fine. No Rust memory is read or written by the call.
        unsafe {
            libc::madvise(low as *mut libc::c_void, high - low, libc::MADV_DONTNEED);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub(crate) fn mark_own() {}
    pub(crate) fn give_back_below_caller() {}
}

/// The calling thread's stack is syncws's own (a server connection
/// thread): [`give_back_below_caller`] may release its unused pages.
pub(crate) use imp::mark_own;

/// Give the pages of the calling thread's stack below the caller back to
/// the system, if [`mark_own`] marked the thread. Call it near the top of
/// the stack, when the thread is about to wait idle.
pub(crate) use imp::give_back_below_caller;

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use std::hint::black_box;

    /// Touch about `bytes` of stack below the caller.
    #[inline(never)]
    fn go_deep(bytes: usize) -> u64 {
        let mut page = [0u8; 1024];
        page[black_box(7)] = 1;
        let here = page.iter().map(|b| u64::from(*b)).sum::<u64>();
        if bytes <= 1024 {
            return here;
        }
        here + go_deep(bytes - 1024)
    }

    /// The resident KiB of the mapping that holds `address` (its `Rss:` in
    /// /proc/self/smaps).
    fn resident_kib(address: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or("");
            if let Some((from, to)) = range.split_once('-') {
                if let (Ok(from), Ok(to)) = (
                    usize::from_str_radix(from, 16),
                    usize::from_str_radix(to, 16),
                ) {
                    inside = (from..to).contains(&address);
                    continue;
                }
            }
            if inside {
                if let Some(kib) = line.strip_prefix("Rss:") {
                    return kib.trim().trim_end_matches(" kB").trim().parse().unwrap();
                }
            }
        }
        panic!("no mapping holds {address:#x}");
    }

    #[test]
    fn an_own_thread_gives_back_its_deep_pages_and_keeps_its_frames() {
        let measured = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| {
                super::mark_own();
                let kept = black_box([0x5au8; 2048]);
                let address = kept.as_ptr() as usize;
                assert_eq!(go_deep(256 << 10), 256);
                let deep = resident_kib(address);
                super::give_back_below_caller();
                let after = resident_kib(address);
                // The caller's frame is intact, and the stack still works.
                assert!(kept.iter().all(|b| *b == 0x5a));
                assert_eq!(go_deep(64 << 10), 64);
                (deep, after)
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(measured.0 >= 256, "went 256 KiB deep: {measured:?}");
        assert!(
            measured.1 + 200 <= measured.0,
            "pages given back: {measured:?}"
        );
    }

    #[test]
    fn a_thread_not_marked_keeps_its_pages() {
        let measured = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| {
                let kept = black_box([0x5au8; 64]);
                let address = kept.as_ptr() as usize;
                go_deep(256 << 10);
                let deep = resident_kib(address);
                super::give_back_below_caller();
                (deep, resident_kib(address))
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(measured.1 + 16 >= measured.0, "{measured:?}");
    }
}
