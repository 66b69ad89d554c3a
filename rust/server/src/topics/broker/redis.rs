//! The Redis backend: one pub/sub connection for SUBSCRIBE/UNSUBSCRIBE
//! and incoming messages, one multiplexed connection for PUBLISH.
//!
//! Two connections because a connection in subscribe mode may only
//! (un)subscribe and ping. Publishes are sent as pipelines of whatever the
//! queue holds (up to 256), in queue order on one connection, so Redis
//! receives each publisher's messages in publish order and a burst costs
//! one round-trip, not one per message. A pipeline that fails is counted
//! as unsent as a whole: Redis may have taken part of it, but pub/sub is
//! at-most-once and we cannot tell which.
//!
//! A silent network (a peer gone without a FIN) is caught by a PING on the
//! subscribe connection every [`PING_EVERY`] that must be answered within
//! [`TIMEOUT`].

use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};

use super::{BrokerUrl, Outcome, Session};

/// Connecting, and every reply, must not take longer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle subscribe connection is checked.
const PING_EVERY: Duration = Duration::from_secs(15);

fn failed(connected: bool, error: impl ToString) -> Outcome {
    Outcome {
        connected,
        error: error.to_string(),
    }
}

async fn within<T, E: ToString>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("{what}: no answer within {} s", TIMEOUT.as_secs())),
    }
}

/// One pair of connections to Redis, until one fails.
pub(crate) async fn session(
    url: &BrokerUrl,
    prefix: &str,
    s: &mut Session<'_>,
    connected: impl FnOnce(),
) -> Outcome {
    let BrokerUrl::Redis { url, .. } = url else {
        return failed(false, "not a Redis URL");
    };
    let client = match Client::open(url.as_str()) {
        Ok(c) => c,
        Err(e) => return failed(false, e),
    };
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT));
    let mut publisher: MultiplexedConnection = match within(
        "connect",
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return failed(false, e),
    };
    let pubsub = match within("connect", client.get_async_pubsub()).await {
        Ok(p) => p,
        Err(e) => return failed(false, e),
    };
    let (mut sink, mut stream) = pubsub.split();
    let (add, _) = s.diff();
    if !add.is_empty() {
        let channels: Vec<String> = add.iter().map(|t| format!("{prefix}{t}")).collect();
        if let Err(e) = within("subscribe", sink.subscribe(&channels)).await {
            return failed(false, e);
        }
    }
    connected();
    let inbox = s.inbox();
    let reader = async move {
        while let Some(msg) = stream.next().await {
            if let Some(topic) = msg.get_channel_name().strip_prefix(prefix) {
                inbox.deliver(topic, msg.get_payload_bytes());
            }
        }
    };
    tokio::pin!(reader);
    let changed = &s.link.changed;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = &mut reader => return failed(true, "the subscribe connection closed"),
            _ = changed.notified() => {
                let (add, remove) = s.diff();
                if !add.is_empty() {
                    let channels: Vec<String> = add.iter().map(|t| format!("{prefix}{t}")).collect();
                    if let Err(e) = within("subscribe", sink.subscribe(&channels)).await {
                        return failed(true, e);
                    }
                }
                if !remove.is_empty() {
                    let channels: Vec<String> = remove.iter().map(|t| format!("{prefix}{t}")).collect();
                    if let Err(e) = within("unsubscribe", sink.unsubscribe(&channels)).await {
                        return failed(true, e);
                    }
                }
            }
            n = s.queue.recv_many(&mut batch, 256) => {
                if n == 0 {
                    return failed(true, "the server stopped");
                }
                let mut pipe = redis::pipe();
                inbox.taken(&batch);
                for msg in batch.drain(..) {
                    pipe.cmd("PUBLISH")
                        .arg(format!("{prefix}{}", msg.topic))
                        .arg(inbox.seal(&msg))
                        .ignore();
                }
                match pipe.query_async::<()>(&mut publisher).await {
                    Ok(()) => inbox.sent(n),
                    Err(e) => {
                        inbox.unsent(n);
                        return failed(true, e);
                    }
                }
            }
            _ = ping.tick() => {
                if let Err(e) = within("ping", sink.ping::<String>()).await {
                    return failed(true, e);
                }
            }
        }
    }
}
