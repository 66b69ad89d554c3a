//! permessage-deflate negotiation fuzz target (`Sec-WebSocket-Extensions`
//! offers); the body lives in `ferrosocket_proto::fuzzing` so `cargo test`
//! runs it too.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrosocket_proto::fuzzing::negotiate_deflate(data);
});
