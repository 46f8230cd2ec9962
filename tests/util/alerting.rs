//! Helpers of the alerting tests: a loopback webhook receiver that records
//! what arrives, waiting for it, and `check-config` on a bad file.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::Value;

/// What the receiver got: headers and raw body per request.
pub type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver on `addr` (port 0: any) answering 200 at `/hook`.
pub async fn receiver(addr: SocketAddr) -> (SocketAddr, Received) {
    let got: Received = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let bound = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (bound, got)
}

/// The bodies received so far, as JSON.
pub fn bodies(got: &Received) -> Vec<Value> {
    got.lock()
        .unwrap()
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect()
}

/// Polls `done` every 100 ms; panics naming `what` after `secs`.
pub async fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `check-config FILE`: it must exit 1; its stderr.
pub fn check_config_fails(cfg: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logweave"))
        .arg("check-config")
        .arg(cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}
