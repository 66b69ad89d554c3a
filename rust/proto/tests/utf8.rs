//! The streaming validator agrees with `std::str::from_utf8` under any split,
//! and fails exactly in the chunk holding the first byte after which the
//! input can no longer be a prefix of valid UTF-8.

use ferrosocket_proto::Utf8Validator;
use proptest::prelude::*;

/// Index of the first byte `i` such that `data[..=i]` is not a prefix of any
/// valid UTF-8 string, or `None` if every prefix is plausible.
fn first_impossible(data: &[u8]) -> Option<usize> {
    (0..data.len())
        .find(|&i| matches!(std::str::from_utf8(&data[..=i]), Err(e) if e.error_len().is_some()))
}

/// Mostly-UTF-8 bytes with some corruption, so both outcomes are common.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        ".{0,24}".prop_map(String::into_bytes),
        (
            ".{0,24}",
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..3)
        )
            .prop_map(|(s, edits)| {
                let mut b = s.into_bytes();
                for (i, v) in edits {
                    if b.is_empty() {
                        b.push(v);
                    } else {
                        let i = i.index(b.len());
                        b[i] = v;
                    }
                }
                b
            }),
        (".{0,24}", 0usize..4).prop_map(|(s, cut)| {
            let mut b = s.into_bytes();
            b.truncate(b.len().saturating_sub(cut));
            b
        }),
        prop::collection::vec(any::<u8>(), 0..24),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_std_under_any_split(
        data in bytes(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        points.push(0);
        points.push(data.len());
        points.sort_unstable();
        let std_ok = std::str::from_utf8(&data).is_ok();
        let bad = first_impossible(&data);
        let mut v = Utf8Validator::new();
        let mut failed_in = None;
        for w in points.windows(2) {
            if v.feed(&data[w[0]..w[1]]).is_err() {
                failed_in = Some((w[0], w[1]));
                break;
            }
        }
        match (bad, failed_in) {
            (Some(i), Some((start, end))) => {
                prop_assert!(start <= i && i < end, "bad byte {} failed in chunk {}..{}", i, start, end);
            }
            (Some(i), None) => prop_assert!(false, "bad byte {} never reported", i),
            (None, Some(c)) => prop_assert!(false, "false failure in chunk {:?}", c),
            (None, None) => {
                // Only a truncated tail can remain: finish decides.
                prop_assert_eq!(v.finish().is_ok(), std_ok);
            }
        }
        if bad.is_some() {
            prop_assert!(!std_ok);
        }
    }
}
