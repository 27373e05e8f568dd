//! Tests on eight bytes at once (a `u64` word, one byte a lane), for the per-row checks that
//! look at every byte of a value: most values are short and plain, so a word at a time with no
//! branch per byte is several times cheaper than a loop over the bytes, without `unsafe` or
//! target-specific code.

/// Each lane `0x01`.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
/// Each lane's top bit: the lane flags the word tests return.
pub(crate) const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// Calls `f(i, x)` for each word of `b` in order: `x` holds bytes `i..i + 8`, the lanes past the
/// end of `b` holding `pad` (a byte the caller's test passes over). Whole words first, then
/// the tail in one load or two, without a copy loop.
#[inline]
pub(crate) fn each_word(b: &[u8], pad: u8, mut f: impl FnMut(usize, u64)) {
    let mut rest = b;
    let mut i = 0;
    while let Some((w, tail)) = rest.split_first_chunk::<8>() {
        f(i, u64::from_le_bytes(*w));
        rest = tail;
        i += 8;
    }
    let r = rest.len();
    if r > 0 {
        let x = match b.last_chunk::<8>() {
            // The last eight bytes, shifted down past the ones already seen.
            Some(last) => u64::from_le_bytes(*last) >> (8 * (8 - r)),
            None => short_word(b),
        };
        // r is 1..=7: the shift stays within the word.
        f(i, x | (ONES * u64::from(pad)) << (8 * r));
    }
}

/// The bytes of `b`, shorter than a word, as one (zero lanes above): two overlapping loads.
#[inline]
fn short_word(b: &[u8]) -> u64 {
    let n = b.len();
    // Overlapping lanes get the same byte from both loads, so or-ing them is exact.
    if let (Some(lo), Some(hi)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
        u64::from(u32::from_le_bytes(*lo)) | u64::from(u32::from_le_bytes(*hi)) << (8 * (n - 4))
    } else if let (Some(lo), Some(hi)) = (b.first_chunk::<2>(), b.last_chunk::<2>()) {
        u64::from(u16::from_le_bytes(*lo)) | u64::from(u16::from_le_bytes(*hi)) << (8 * (n - 2))
    } else {
        b.first().map_or(0, |&c| u64::from(c))
    }
}

/// The top bit of each lane of `x` that holds `byte`, exactly (no lane's result leaks into
/// another's, so the flags can be shifted and counted).
#[inline]
pub(crate) fn eq_lanes(x: u64, byte: u8) -> u64 {
    let v = x ^ (ONES * u64::from(byte));
    // A lane is zero when neither adding 0x7F to its low seven bits nor its own top bit sets
    // its top bit; the sum stays within the lane.
    !(((v & LOW7) + LOW7) | v) & HIGH
}

/// Nonzero when some lane of `x` holds `byte` (cheaper than [`eq_lanes`]; a borrow can flag
/// lanes above a match, so only zero or nonzero means anything).
#[inline]
pub(crate) fn has_byte(x: u64, byte: u8) -> u64 {
    let v = x ^ (ONES * u64::from(byte));
    v.wrapping_sub(ONES) & !v & HIGH
}

/// The top bit of each lane of an ASCII word `x` (no top bit set) that holds `A`..=`Z`.
#[inline]
pub(crate) fn ascii_upper_lanes(x: u64) -> u64 {
    // Adding 0x80 - c to a lane of at most 0x7F sets its top bit exactly when it is >= c,
    // and never carries out of the lane.
    let at_least_a = x + ONES * (0x80 - u64::from(b'A'));
    let past_z = x + ONES * (0x80 - u64::from(b'Z') - 1);
    at_least_a & !past_z & HIGH
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lane flags of `flags` (top bits, as [`eq_lanes`] gives) as eight bits, lane `i` in
    /// bit `i`.
    fn lane_bits(flags: u64) -> u64 {
        (0..8)
            .filter(|i| flags >> (8 * i + 7) & 1 != 0)
            .map(|i| 1 << i)
            .sum()
    }

    fn lanes_of(b: &[u8]) -> Vec<u64> {
        let mut out = Vec::new();
        each_word(b, b'.', |i, x| {
            assert_eq!(i, 8 * out.len());
            out.push(x);
        });
        out
    }

    proptest::proptest! {
        #[test]
        fn lane_tests_agree_with_bytes(b in proptest::collection::vec(proptest::num::u8::ANY, 0..40), probe: u8) {
            proptest::prop_assert_eq!(lanes_of(&b).len(), b.len().div_ceil(8));
            for (k, x) in lanes_of(&b).into_iter().enumerate() {
                let chunk: Vec<u8> = (0..8).map(|j| b.get(8 * k + j).copied().unwrap_or(b'.')).collect();
                proptest::prop_assert_eq!(x, u64::from_le_bytes(chunk.clone().try_into().expect("eight")));
                let want: u64 = (0..8).filter(|&j| chunk[j] == probe).map(|j| 1 << j).sum();
                proptest::prop_assert_eq!(lane_bits(eq_lanes(x, probe)), want);
                proptest::prop_assert_eq!(has_byte(x, probe) != 0, want != 0);
                if x & HIGH == 0 {
                    let upper: u64 = (0..8).filter(|&j| chunk[j].is_ascii_uppercase()).map(|j| 1 << j).sum();
                    proptest::prop_assert_eq!(lane_bits(ascii_upper_lanes(x)), upper);
                }
            }
        }
    }

    #[test]
    fn words_past_the_end_are_padded() {
        assert_eq!(lanes_of(b""), Vec::<u64>::new());
        assert_eq!(lanes_of(b"abc"), [u64::from_le_bytes(*b"abc.....")]);
        assert_eq!(
            lanes_of(b"0123456789"),
            [
                u64::from_le_bytes(*b"01234567"),
                u64::from_le_bytes(*b"89......")
            ]
        );
        assert_eq!(lanes_of(b"01234567"), [u64::from_le_bytes(*b"01234567")]);
    }
}
