//! permessage-deflate from the client's side (RFC 7692 §5, §7.1): the offer
//! a client sends ([`client_offer`]) and the check of the server's answer
//! ([`accept_response`]).
//!
//! A client reads [`DeflateConfig`] from its own point of view:
//! `client_max_window_bits` is the largest window it compresses with (offered
//! as `client_max_window_bits`, bare at 15 so the server may lower it),
//! `server_max_window_bits` below 15 asks the server for a smaller window, and
//! the `*_no_context_takeover` flags are requested as such.
//!
//! The answer is checked strictly, because a client that inflates with the
//! wrong window or context mode corrupts every later message: the server may
//! only accept what was offered, at most once, with values within what was
//! asked (§7.1.1.1, §7.1.2.2); anything else fails the handshake.

use super::negotiation::{parse_offer, split_outside_quotes, EXTENSION_NAME};
use super::{DeflateConfig, DeflateParams};

/// The `Sec-WebSocket-Extensions` request value offering permessage-deflate
/// with `config` (a client's view; see the module docs).
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut s = String::from(EXTENSION_NAME);
    if config.server_no_context_takeover {
        s.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        s.push_str("; client_no_context_takeover");
    }
    let server_bits = config.server_max_window_bits.clamp(8, 15);
    if server_bits < 15 {
        s.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    let client_bits = config.client_max_window_bits.clamp(8, 15);
    if client_bits < 15 {
        s.push_str(&format!("; client_max_window_bits={client_bits}"));
    } else {
        s.push_str("; client_max_window_bits");
    }
    s
}

/// Check the server's `Sec-WebSocket-Extensions` response values against the
/// offer [`client_offer`] made from `config`. `Ok(None)`: the server declined
/// compression; `Ok(Some(params))`: what was agreed (server's view, as
/// [`super::negotiate`] returns it); `Err`: the answer breaks RFC 7692 and
/// the connection must be failed.
pub fn accept_response(
    values: &[String],
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, &'static str> {
    let mut agreed = None;
    for value in values {
        for element in split_outside_quotes(value, b',') {
            let mut parts = split_outside_quotes(element, b';').into_iter();
            let name = parts.next().unwrap_or("").trim();
            if name.is_empty() {
                continue;
            }
            if !name.eq_ignore_ascii_case(EXTENSION_NAME) {
                return Err("server accepted an extension that was not offered");
            }
            if agreed.is_some() {
                return Err("server accepted permessage-deflate twice");
            }
            let rest: Vec<&str> = parts.collect();
            let answer =
                parse_offer(&rest).ok_or("invalid permessage-deflate parameters from server")?;
            let asked_server_bits = config.server_max_window_bits.clamp(8, 15);
            let server_bits = match answer.server_max_window_bits {
                Some(bits) if bits > asked_server_bits => {
                    return Err("server_max_window_bits above the one requested")
                }
                Some(bits) => bits,
                None if asked_server_bits < 15 => {
                    return Err("server ignored the requested server_max_window_bits")
                }
                None => 15,
            };
            let our_bits = config.client_max_window_bits.clamp(8, 15);
            let client_bits = match answer.client_max_window_bits {
                None => our_bits,
                Some(None) => return Err("client_max_window_bits without a value"),
                Some(Some(bits)) if bits > our_bits => {
                    return Err("client_max_window_bits above the one offered")
                }
                Some(Some(bits)) => bits,
            };
            if config.server_no_context_takeover && !answer.server_no_context_takeover {
                return Err("server ignored the requested server_no_context_takeover");
            }
            agreed = Some(DeflateParams {
                server_no_context_takeover: answer.server_no_context_takeover,
                client_no_context_takeover: answer.client_no_context_takeover
                    || config.client_no_context_takeover,
                server_max_window_bits: server_bits,
                client_max_window_bits: client_bits,
            });
        }
    }
    Ok(agreed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::negotiate;

    fn v(s: &str) -> Vec<String> {
        vec![s.to_owned()]
    }

    #[test]
    fn offer_and_our_own_server_agree() {
        let config = DeflateConfig::client();
        let offer = client_offer(&config);
        assert_eq!(offer, "permessage-deflate; client_max_window_bits");
        let (server_side, header) = negotiate(&v(&offer), &DeflateConfig::default()).unwrap();
        assert_eq!(
            header,
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
        );
        assert_eq!(accept_response(&v(&header), &config), Ok(Some(server_side)));
    }

    #[test]
    fn window_bits_are_bounded_by_the_offer() {
        let config = DeflateConfig {
            server_max_window_bits: 10,
            client_max_window_bits: 12,
            ..DeflateConfig::default()
        };
        let offer = client_offer(&config);
        assert_eq!(
            offer,
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"
        );
        let ok = accept_response(
            &v("permessage-deflate; server_max_window_bits=9; client_max_window_bits=11"),
            &config,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (ok.server_max_window_bits, ok.client_max_window_bits),
            (9, 11)
        );
        for bad in [
            "permessage-deflate; server_max_window_bits=11",
            "permessage-deflate",
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=13",
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
        ] {
            assert!(accept_response(&v(bad), &config).is_err(), "{bad}");
        }
    }

    #[test]
    fn declined_unknown_and_duplicate() {
        let config = DeflateConfig::client();
        assert_eq!(accept_response(&[], &config), Ok(None));
        assert!(accept_response(&v("x-webkit-deflate-frame"), &config).is_err());
        assert!(accept_response(&v("permessage-deflate, permessage-deflate"), &config).is_err());
        assert!(accept_response(&v("permessage-deflate; foo"), &config).is_err());
        let p = accept_response(
            &v("permessage-deflate; server_no_context_takeover"),
            &config,
        )
        .unwrap()
        .unwrap();
        assert!(p.server_no_context_takeover);
        assert!(p.mirrored().client_no_context_takeover);
    }
}
