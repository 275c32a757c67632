//! Serving the router to the network with the limits a public endpoint needs: a client has
//! `header_read_timeout` to send each request's headers (a new connection, or a kept-alive one
//! between requests), and at most `max_connections` clients are served at once; the next one
//! waits in the listen backlog until a connection closes, so idle or hostile clients can never
//! use up the process's file descriptors.
//!
//! `axum::serve` offers neither limit, so this is its accept loop with them added.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Limits on clients' connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time to send a request's headers before the connection is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// File descriptors kept free for the database, logs and outgoing requests when the connection
/// limit is fitted to the process's descriptor limit.
const RESERVED_DESCRIPTORS: u64 = 64;

impl ConnectionLimits {
    /// These limits with `max_connections` lowered, if needed, so that every connection gets a
    /// file descriptor under the process limit `nofile`: a full house then waits in the listen
    /// backlog instead of failing to be accepted.
    pub fn fitted_to(self, nofile: u64) -> ConnectionLimits {
        let room = usize::try_from(nofile.saturating_sub(RESERVED_DESCRIPTORS).max(1))
            .unwrap_or(usize::MAX);
        ConnectionLimits {
            max_connections: self.max_connections.min(room),
            ..self
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets every
/// open connection finish the request it is in and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut full = false;
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        if slots.available_permits() == 0 && !full {
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection limit reached: new clients wait until a connection closes"
            );
        }
        full = slots.available_permits() == 0;
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and the like: a pause, not a busy loop, and never the end.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let conn = http.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = stopped.wait_for(|stop| *stop) => conn.as_mut().graceful_shutdown(),
            }
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: all slots back means all connections done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_is_lowered_to_fit_the_descriptor_limit() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
        };
        assert_eq!(limits.fitted_to(1024).max_connections, 960);
        assert_eq!(limits.fitted_to(65536).max_connections, 1024);
        assert_eq!(limits.fitted_to(10).max_connections, 1);
    }
}
