//! Frame decoder fuzz target with permessage-deflate agreed (an inflater
//! installed); the body lives in `ferrosocket_proto::fuzzing` so `cargo test`
//! runs it too.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrosocket_proto::fuzzing::decode_frames_deflate(data);
});
