//! Inputs: the protocols events arrive by. Each decodes its wire format into
//! records and hands them to ingest: `_bulk` over HTTP and the Fluentd
//! forward protocol and syslog.

pub mod bulk;
pub mod forward;
pub mod otlp;
pub mod syslog;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Accept connections until `shutdown`, running `on_conn` in its own task
/// for each, so that one slow client never holds up the others. A failed
/// accept (out of file descriptors, say) is logged and retried shortly.
pub fn accept_loop<F, Fut>(
    listener: TcpListener,
    name: &'static str,
    shutdown: CancellationToken,
    on_conn: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let (sock, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "{name}: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            tokio::spawn(on_conn(sock, peer));
        }
    });
}
