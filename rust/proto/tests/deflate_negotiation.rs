//! permessage-deflate negotiation (RFC 7692 §5, §7.1): which offers are
//! accepted, what is answered, and what is declined.

use ferrosocket_proto::{negotiate, DeflateConfig, DeflateParams};

fn offers(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The RFC's 15-bit windows on our side, so that an answer shows what the
/// offer alone decides (the defaults lower them, see the last test).
fn rfc_windows() -> DeflateConfig {
    DeflateConfig {
        server_max_window_bits: 15,
        client_max_window_bits: 15,
        ..DeflateConfig::default()
    }
}

fn neg(v: &[&str]) -> Option<(DeflateParams, String)> {
    negotiate(&offers(v), &rfc_windows())
}

fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: sbits,
        client_max_window_bits: cbits,
    }
}

#[test]
fn plain_offer() {
    let (p, r) = neg(&["permessage-deflate"]).unwrap();
    assert_eq!(p, DeflateParams::default());
    assert_eq!(r, "permessage-deflate");
}

#[test]
fn browser_offer() {
    // What Chrome and Firefox send.
    let (p, r) = neg(&["permessage-deflate; client_max_window_bits"]).unwrap();
    assert_eq!(p, DeflateParams::default());
    assert_eq!(r, "permessage-deflate");
    // We may limit the client's window when it offered the parameter.
    let cfg = DeflateConfig {
        client_max_window_bits: 10,
        ..rfc_windows()
    };
    let (p, r) = negotiate(
        &offers(&["permessage-deflate; client_max_window_bits"]),
        &cfg,
    )
    .unwrap();
    assert_eq!(p.client_max_window_bits, 10);
    assert_eq!(r, "permessage-deflate; client_max_window_bits=10");
    // ...but not when it did not.
    let (p, r) = negotiate(&offers(&["permessage-deflate"]), &cfg).unwrap();
    assert_eq!(p.client_max_window_bits, 15);
    assert_eq!(r, "permessage-deflate");
}

#[test]
fn all_parameters_with_values() {
    let (p, r) = neg(&["permessage-deflate; server_no_context_takeover; \
         client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"])
    .unwrap();
    assert_eq!(p, params(true, true, 10, 12));
    assert_eq!(
        r,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits=12"
    );
    // The response, read back as an offer, agrees on the same.
    assert_eq!(neg(&[&r]).unwrap().0, p);
}

#[test]
fn quoted_values_and_case() {
    let (p, _) =
        neg(&["Permessage-Deflate; Server_Max_Window_Bits=\"10\"; client_max_window_bits = \"9\""])
            .unwrap();
    assert_eq!(p, params(false, false, 10, 9));
    // A comma inside a quoted value of another extension does not split.
    let (p, _) = neg(&["foo; bar=\"a,permessage-deflate\", permessage-deflate; \
                        server_max_window_bits=11"])
    .unwrap();
    assert_eq!(p.server_max_window_bits, 11);
    // Escapes inside quotes.
    assert_eq!(
        neg(&["permessage-deflate; server_max_window_bits=\"1\\2\""])
            .unwrap()
            .0
            .server_max_window_bits,
        12
    );
}

#[test]
fn first_acceptable_offer_wins() {
    // Several offers in one header, the first unacceptable.
    let (p, r) = neg(&["permessage-deflate; server_max_window_bits=7, \
         permessage-deflate; server_max_window_bits=10, permessage-deflate"])
    .unwrap();
    assert_eq!(p.server_max_window_bits, 10);
    assert_eq!(r, "permessage-deflate; server_max_window_bits=10");
    // Several headers, other extensions first.
    let (p, _) = neg(&[
        "x-webkit-deflate-frame",
        "permessage-deflate; foo=1, permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_no_context_takeover",
    ])
    .unwrap();
    assert_eq!(p, params(false, true, 15, 15));
    // Autobahn 13.7.x: [(8, nct), (0, nct), (0, -)]: the first is taken.
    let (p, r) = neg(&[
        "permessage-deflate; client_no_context_takeover; client_max_window_bits; \
         server_max_window_bits=8, permessage-deflate; client_no_context_takeover; \
         client_max_window_bits, permessage-deflate; client_max_window_bits",
    ])
    .unwrap();
    assert_eq!(p, params(false, true, 8, 15));
    assert_eq!(
        r,
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=8"
    );
}

#[test]
fn invalid_offers_are_declined() {
    for bad in [
        "permessage-deflate; foo",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"\"",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=1e1",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; client_max_window_bits=-9",
        "permessage-deflate; server_max_window_bits=\"10",
        "permessage-deflate; server_max_window_bits=\"1 0\"",
        "permessage-deflate;",
        "permessage-deflate; =10",
        "permessage-deflate-x",
        "x-webkit-deflate-frame",
        "",
    ] {
        assert_eq!(neg(&[bad]), None, "{bad:?}");
        // Declining one offer never hides a later good one.
        let (p, _) = neg(&[bad, "permessage-deflate; server_max_window_bits=9"])
            .unwrap_or_else(|| panic!("{bad:?} hid the next offer"));
        assert_eq!(p.server_max_window_bits, 9, "{bad:?}");
    }
    assert_eq!(negotiate(&[], &DeflateConfig::default()), None);
}

#[test]
fn window_bits_8_is_accepted() {
    for v in 8..=15u8 {
        let (p, r) = neg(&[&format!("permessage-deflate; server_max_window_bits={v}")]).unwrap();
        assert_eq!(p.server_max_window_bits, v);
        let expect = if v < 15 {
            format!("permessage-deflate; server_max_window_bits={v}")
        } else {
            "permessage-deflate".to_owned()
        };
        assert_eq!(r, expect);
        let (p, _) = neg(&[&format!("permessage-deflate; client_max_window_bits={v}")]).unwrap();
        assert_eq!(p.client_max_window_bits, v);
    }
}

#[test]
fn config_limits_and_flags() {
    let cfg = DeflateConfig {
        server_max_window_bits: 12,
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let (p, r) = negotiate(&offers(&["permessage-deflate"]), &cfg).unwrap();
    assert_eq!(p, params(true, true, 12, 15));
    assert_eq!(
        r,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=12"
    );
    // The smaller of the two limits wins.
    let (p, _) = negotiate(
        &offers(&["permessage-deflate; server_max_window_bits=10"]),
        &cfg,
    )
    .unwrap();
    assert_eq!(p.server_max_window_bits, 10);
    let disabled = DeflateConfig {
        enabled: false,
        ..DeflateConfig::default()
    };
    assert_eq!(negotiate(&offers(&["permessage-deflate"]), &disabled), None);
    assert!(DeflateConfig::default().should_compress(0));
    let at_64 = DeflateConfig {
        threshold: 64,
        ..DeflateConfig::default()
    };
    assert!(!at_64.should_compress(63));
    assert!(at_64.should_compress(64));
}

#[test]
fn default_config_answers_12_bit_windows() {
    // Our defaults compress with a 12-bit window (and memLevel 5): the
    // answer says so even to an offer without the parameter (§7.1.2.1),
    // and limits the client's window only when it offered
    // client_max_window_bits (§7.1.2.2).
    let cfg = DeflateConfig::default();
    let answer = |offer: &str| negotiate(&offers(&[offer]), &cfg).unwrap();
    let (p, r) = answer("permessage-deflate");
    assert_eq!(p, params(false, false, 12, 15));
    assert_eq!(r, "permessage-deflate; server_max_window_bits=12");
    let (p, r) = answer("permessage-deflate; client_max_window_bits");
    assert_eq!(p, params(false, false, 12, 12));
    assert_eq!(
        r,
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    );
    // A smaller window asked for by the client wins.
    let (p, _) = answer("permessage-deflate; server_max_window_bits=9; client_max_window_bits=10");
    assert_eq!(p, params(false, false, 9, 10));
}
