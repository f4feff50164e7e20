//! `memcpy` and `memmove` for the static musl binaries, in place of musl's (`src/copy.c` says
//! why and how). A binary takes them by naming this crate (`use musl_memcpy as _;` in auth's
//! and task's `main.rs`): on a musl target the C object then defines both symbols before the
//! linker reaches musl's `libc.a`. On other targets the crate adds nothing to a binary; on
//! other architectures it holds nothing at all.
#![no_std]

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    extern crate std;
    use std::vec::Vec;

    // Under their own names, so that these tests run on any x86_64 target.
    unsafe extern "C" {
        fn musl_memcpy_copy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
        fn musl_memcpy_move(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
    }

    /// Every branch of the C code: each size up to past the 64-byte steps, then round the
    /// step and `rep movsb` boundaries.
    fn sizes() -> impl Iterator<Item = usize> {
        (0..=260).chain([
            511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097, 65_537,
        ])
    }

    fn pattern(len: usize, seed: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_mul(31).wrapping_add(seed * 7) % 251) as u8)
            .collect()
    }

    #[test]
    fn copy_writes_exactly_the_destination_range_at_every_size_and_alignment() {
        for n in sizes() {
            for src_at in 0..16 {
                for dst_at in [0, 1, 3, 7, 8, 13, 15] {
                    let src = pattern(n + 32, n);
                    let mut dst = std::vec![0xAAu8; n + 64];
                    let ret = unsafe {
                        musl_memcpy_copy(dst.as_mut_ptr().add(dst_at), src.as_ptr().add(src_at), n)
                    };
                    assert_eq!(ret, unsafe { dst.as_mut_ptr().add(dst_at) });
                    assert!(
                        dst[..dst_at].iter().all(|&b| b == 0xAA),
                        "n={n}: wrote before"
                    );
                    assert_eq!(
                        &dst[dst_at..dst_at + n],
                        &src[src_at..src_at + n],
                        "n={n} src_at={src_at} dst_at={dst_at}"
                    );
                    assert!(
                        dst[dst_at + n..].iter().all(|&b| b == 0xAA),
                        "n={n}: wrote after"
                    );
                }
            }
        }
    }

    #[test]
    fn move_is_right_for_every_overlap_in_both_directions() {
        const ROOM: usize = 160;
        for n in sizes() {
            for shift in -(ROOM as isize)..=(ROOM as isize) {
                let mut buf = pattern(n + 2 * ROOM, n);
                let src_at = ROOM;
                let dst_at = (ROOM as isize + shift) as usize;
                let mut expected = buf.clone();
                expected.copy_within(src_at..src_at + n, dst_at);
                let base = buf.as_mut_ptr();
                let ret = unsafe { musl_memcpy_move(base.add(dst_at), base.add(src_at), n) };
                assert_eq!(ret, unsafe { base.add(dst_at) });
                assert!(buf == expected, "n={n} shift={shift}");
            }
        }
    }

    /// On musl the C functions also carry libc's names, and the link took them, not musl's.
    #[cfg(all(target_env = "musl", target_arch = "x86_64"))]
    #[test]
    fn the_libc_names_resolve_to_these_functions() {
        unsafe extern "C" {
            fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
            fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
        }
        assert_eq!(
            memcpy as *const () as usize,
            musl_memcpy_copy as *const () as usize
        );
        assert_eq!(
            memmove as *const () as usize,
            musl_memcpy_move as *const () as usize
        );
    }
}
