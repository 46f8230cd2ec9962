//! The forward input against hand-built MessagePack frames in the exact
//! shapes Fluent Bit v5 and Fluentd send, encoded with `rmpv` (not our own
//! encoder), checked through the search API.

mod util;

use std::net::SocketAddr;
use std::time::Duration;

use logweave::route::{Route, TimeSource};
use rmpv::Value as V;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use util::{test_config, InProcess};

fn enc(v: &V) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).expect("encoding to a Vec");
    out
}

/// EventTime (ext 0): big-endian seconds then nanoseconds.
fn et(secs: u32, nanos: u32) -> V {
    let mut d = secs.to_be_bytes().to_vec();
    d.extend_from_slice(&nanos.to_be_bytes());
    V::Ext(0, d)
}

fn rec(pairs: &[(&str, V)]) -> V {
    V::Map(
        pairs
            .iter()
            .map(|(k, v)| (V::from(*k), v.clone()))
            .collect(),
    )
}

fn opt(pairs: &[(&str, V)]) -> V {
    rec(pairs)
}

/// 2026-11-24T12:00:00Z
const T0: u32 = 1_795_521_600;

async fn read_value(s: &mut TcpStream) -> V {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(v) = rmpv::decode::read_value(&mut &buf[..]) {
            return v;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("no reply from the server within 10 s")
            .expect("reading a reply");
        assert!(n > 0, "server closed the connection instead of replying");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn ack_of(v: &V) -> String {
    match v {
        V::Map(m) => m
            .iter()
            .find(|(k, _)| k.as_str() == Some("ack"))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("not an ack: {v}"))
            .to_string(),
        other => panic!("not an ack: {other}"),
    }
}

async fn send_acked(addr: SocketAddr, frame: &V, chunk: &str) {
    let mut s = TcpStream::connect(addr)
        .await
        .expect("connecting to forward");
    s.write_all(&enc(frame)).await.expect("sending");
    assert_eq!(ack_of(&read_value(&mut s).await), chunk);
}

fn fwd(srv: &InProcess) -> SocketAddr {
    srv.running.forward_addr.expect("forward input is on")
}

async fn search(srv: &InProcess, index: &str, q: &str) -> Vec<Value> {
    srv.http.refresh().await;
    let r = srv
        .http
        .post_json(
            &format!("/{index}/_search"),
            &json!({"query": {"query_string": {"query": q}}, "size": 100, "sort": [{"@timestamp": "asc"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    r.json()["hits"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| {
            let mut s = h["_source"].clone();
            s["_index"] = h["_index"].clone();
            s
        })
        .collect()
}

fn routed_config(dir: &std::path::Path) -> logweave::config::Config {
    let mut cfg = test_config(dir);
    cfg.routes = vec![
        Route::new(
            "app.**",
            "app-logs-%{+YYYY.MM.dd}",
            None,
            false,
            TimeSource::Record,
        )
        .unwrap(),
        Route::new(
            "docker.{web,api}",
            "docker",
            Some("log".into()),
            false,
            TimeSource::Event,
        )
        .unwrap(),
    ];
    cfg
}

#[tokio::test]
async fn every_mode_is_stored_with_route_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let srv = InProcess::start(routed_config(dir.path())).await;
    let addr = fwd(&srv);

    // Message mode as Python fluent-logger sends it: integer time, no option.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&enc(&V::Array(vec![
        V::from("app.py"),
        V::from(T0 as u64),
        rec(&[("message", V::from("message-mode")), ("n", V::from(1))]),
    ])))
    .await
    .unwrap();
    // Message mode with EventTime and an ack request.
    s.write_all(&enc(&V::Array(vec![
        V::from("app.py"),
        et(T0 + 1, 250_000_000),
        rec(&[("message", V::from("message-mode-acked"))]),
        opt(&[("chunk", V::from("m1"))]),
    ])))
    .await
    .unwrap();
    assert_eq!(ack_of(&read_value(&mut s).await), "m1");

    // Fluent Bit v5 Forward mode: [[EventTime, {}], record], options with
    // fluent_signal.
    let fb_forward = V::Array(vec![
        V::from("app.fb"),
        V::Array(
            (0..3)
                .map(|i| {
                    V::Array(vec![
                        V::Array(vec![et(T0 + 10 + i, 0), V::Map(vec![])]),
                        rec(&[("message", V::from(format!("fb-forward-{i}")))]),
                    ])
                })
                .collect(),
        ),
        opt(&[
            ("size", V::from(3)),
            ("chunk", V::from("fb1")),
            ("fluent_signal", V::from(0)),
        ]),
    ]);
    send_acked(addr, &fb_forward, "fb1").await;

    // retain_metadata_in_forward_mode false + time_as_integer: [int, record].
    let fb_plain = V::Array(vec![
        V::from("app.fb"),
        V::Array(vec![V::Array(vec![
            V::from((T0 + 20) as u64),
            rec(&[("message", V::from("fb-plain"))]),
        ])]),
        opt(&[("chunk", V::from("fb2")), ("size", V::from(1))]),
    ]);
    send_acked(addr, &fb_plain, "fb2").await;

    // PackedForward (bin) and CompressedPackedForward as two gzip members.
    let entries: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            enc(&V::Array(vec![
                et(T0 + 30 + i, 0),
                rec(&[("message", V::from(format!("packed-{i}")))]),
            ]))
        })
        .collect();
    let packed: Vec<u8> = entries.concat();
    send_acked(
        addr,
        &V::Array(vec![
            V::from("app.packed"),
            V::Binary(packed.clone()),
            opt(&[("size", V::from(4)), ("chunk", V::from("p1"))]),
        ]),
        "p1",
    )
    .await;
    let gz = |d: &[u8]| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    let zentries: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            enc(&V::Array(vec![
                V::Array(vec![et(T0 + 40 + i, 0), V::Map(vec![])]),
                rec(&[("message", V::from(format!("gzip-{i}")))]),
            ]))
        })
        .collect();
    let mut members = gz(&zentries[..2].concat());
    members.extend(gz(&zentries[2..].concat()));
    send_acked(
        addr,
        &V::Array(vec![
            V::from("app.gz"),
            V::Binary(members),
            opt(&[
                ("size", V::from(4)),
                ("chunk", V::from("z1")),
                ("compressed", V::from("gzip")),
                ("fluent_signal", V::from(0)),
            ]),
        ]),
        "z1",
    )
    .await;

    // Docker-style: JSON in `log`, event time wins over the record's time.
    send_acked(
        addr,
        &V::Array(vec![
            V::from("docker.web"),
            et(T0 + 50, 0),
            rec(&[
                (
                    "log",
                    V::from(r#"{"level":"warn","msg":"disk slow","ms":12}"#),
                ),
                ("timestamp", V::from("2020-01-01 00:00:00")),
            ]),
            opt(&[("chunk", V::from("d1"))]),
        ]),
        "d1",
    )
    .await;
    // No route: the default daily index.
    send_acked(
        addr,
        &V::Array(vec![
            V::from("other"),
            et(T0 + 60, 0),
            rec(&[("message", V::from("unrouted"))]),
            opt(&[("chunk", V::from("o1"))]),
        ]),
        "o1",
    )
    .await;
    drop(s);

    let app = search(&srv, "app-logs-*", "*").await;
    let msgs: Vec<&str> = app.iter().map(|h| h["message"].as_str().unwrap()).collect();
    let mut want = vec!["message-mode", "message-mode-acked"];
    let fbf: Vec<String> = (0..3).map(|i| format!("fb-forward-{i}")).collect();
    let pk: Vec<String> = (0..4).map(|i| format!("packed-{i}")).collect();
    let gzm: Vec<String> = (0..4).map(|i| format!("gzip-{i}")).collect();
    want.extend(fbf.iter().map(String::as_str));
    want.push("fb-plain");
    want.extend(pk.iter().map(String::as_str));
    want.extend(gzm.iter().map(String::as_str));
    assert_eq!(msgs, want);
    assert!(app.iter().all(|h| h["_index"] == "app-logs-2026.11.24"));
    assert_eq!(app[0]["@timestamp"], "2026-11-24T12:00:00.000Z");
    assert_eq!(app[1]["@timestamp"], "2026-11-24T12:00:01.250Z");
    assert_eq!(app[2]["tag"], "app.fb");
    assert_eq!(app[0]["n"], 1);

    let d = search(&srv, "docker", "level:warn AND ms:12").await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["msg"], "disk slow");
    assert!(
        d[0].get("log").is_none(),
        "decoded field is removed: {}",
        d[0]
    );
    assert_eq!(d[0]["@timestamp"], "2026-11-24T12:00:50.000Z");

    let o = search(&srv, "logs-*", "unrouted").await;
    assert_eq!(o.len(), 1);
    assert_eq!(o[0]["_index"], "logs-2026.11.24");
    srv.shutdown().await;
}

#[tokio::test]
async fn shared_key_handshake_and_users() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.forward.shared_key = Some("s3cret".into());
    cfg.forward.self_hostname = "logweave-test".into();
    cfg.forward.users = vec![("alice".into(), "pw".into())];
    let srv = InProcess::start(cfg).await;
    let addr = fwd(&srv);

    async fn login(addr: SocketAddr, key: &str, user: &str, pass: &str) -> (TcpStream, V) {
        use sha2::{Digest, Sha512};
        let hex = |parts: &[&[u8]]| {
            let mut h = Sha512::new();
            for p in parts {
                h.update(p);
            }
            h.finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let mut s = TcpStream::connect(addr).await.unwrap();
        let helo = read_value(&mut s).await;
        let opts = &helo.as_array().expect("HELO array")[1];
        assert_eq!(helo[0].as_str(), Some("HELO"));
        let get = |k: &str| -> Vec<u8> {
            let v = opts
                .as_map()
                .unwrap()
                .iter()
                .find(|(kk, _)| kk.as_str() == Some(k))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("HELO without {k}"));
            match v {
                V::Binary(b) => b,
                V::String(s) => s.as_bytes().to_vec(),
                other => panic!("{k}: {other}"),
            }
        };
        let nonce = get("nonce");
        let auth = get("auth");
        assert_eq!(nonce.len(), 16);
        assert_eq!(auth.len(), 16, "user auth on: HELO carries a salt");
        let salt = b"client-salt-0123";
        let ping = V::Array(vec![
            V::from("PING"),
            V::from("client-host"),
            V::Binary(salt.to_vec()),
            V::from(hex(&[salt, b"client-host", &nonce, key.as_bytes()])),
            V::from(user),
            V::from(hex(&[&auth, user.as_bytes(), pass.as_bytes()])),
        ]);
        s.write_all(&enc(&ping)).await.unwrap();
        let pong = read_value(&mut s).await;
        // the server proves it knows the key too
        if pong[1].as_bool() == Some(true) {
            assert_eq!(pong[3].as_str(), Some("logweave-test"));
            assert_eq!(
                pong[4].as_str().unwrap(),
                hex(&[salt, b"logweave-test", &nonce, key.as_bytes()])
            );
        }
        (s, pong)
    }

    let (mut s, pong) = login(addr, "s3cret", "alice", "pw").await;
    assert_eq!(pong[1].as_bool(), Some(true), "{pong}");
    s.write_all(&enc(&V::Array(vec![
        V::from("sec"),
        et(T0, 0),
        rec(&[("message", V::from("after handshake"))]),
        opt(&[("chunk", V::from("k1"))]),
    ])))
    .await
    .unwrap();
    assert_eq!(ack_of(&read_value(&mut s).await), "k1");

    let (mut bad, pong) = login(addr, "wrong", "alice", "pw").await;
    assert_eq!(pong[1].as_bool(), Some(false));
    assert!(pong[2].as_str().unwrap().contains("shared_key"), "{pong}");
    let mut b = [0u8; 16];
    assert_eq!(
        bad.read(&mut b).await.unwrap_or(0),
        0,
        "connection is closed"
    );
    let (_, pong) = login(addr, "s3cret", "alice", "nope").await;
    assert_eq!(pong[1].as_bool(), Some(false));
    assert!(pong[2].as_str().unwrap().contains("password"), "{pong}");

    // Events before the handshake are refused without an ack.
    let mut s2 = TcpStream::connect(addr).await.unwrap();
    let _helo = read_value(&mut s2).await;
    s2.write_all(&enc(&V::Array(vec![
        V::from("sec"),
        et(T0, 0),
        rec(&[("message", V::from("sneaky"))]),
        opt(&[("chunk", V::from("x"))]),
    ])))
    .await
    .unwrap();
    assert_eq!(s2.read(&mut b).await.unwrap_or(0), 0);

    let hits = search(&srv, "logs-*", "*").await;
    let msgs: Vec<&str> = hits
        .iter()
        .map(|h| h["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, vec!["after handshake"]);
    srv.shutdown().await;
}

#[tokio::test]
async fn udp_heartbeat_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let srv = InProcess::start(test_config(dir.path())).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(b"\0", fwd(&srv)).await.unwrap();
    let mut b = [0u8; 8];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut b))
        .await
        .expect("heartbeat reply within 5 s")
        .unwrap();
    assert_eq!((&b[..n], from), (&b"\0"[..], fwd(&srv)));
    srv.shutdown().await;
}

#[tokio::test]
async fn bad_input_closes_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.forward.limits.max_decompressed_bytes = 8 << 20;
    let srv = InProcess::start(cfg).await;
    let addr = fwd(&srv);

    // A stalled client: half a message, then silence, for the whole test.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    let half = enc(&V::Array(vec![
        V::from("t"),
        et(T0, 0),
        rec(&[("message", V::from("x".repeat(5000)))]),
    ]));
    stalled.write_all(&half[..2500]).await.unwrap();
    // A good client keeps sending acked chunks the whole time.
    let good = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        for i in 0..200u32 {
            let chunk = format!("g{i}");
            s.write_all(&enc(&V::Array(vec![
                V::from("good"),
                et(T0, i),
                rec(&[("message", V::from(format!("good-{i}")))]),
                opt(&[("chunk", V::from(chunk.as_str()))]),
            ])))
            .await
            .unwrap();
            assert_eq!(ack_of(&read_value(&mut s).await), chunk);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });

    let zeros = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![0u8; 64 << 20]).unwrap();
        e.finish().unwrap()
    };
    let mut billion = vec![0x93, 0xa1, b't', 0xdd];
    billion.extend_from_slice(&1_000_000_000u32.to_be_bytes());
    let bad_frames: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\xc1\xc1GET / HTTP/1.1\r\n\r\n".to_vec()),
        (
            "string instead of entries",
            enc(&V::Array(vec![
                V::from("t"),
                V::from(5),
                V::from("x"),
                opt(&[]),
            ])),
        ),
        ("billion-element array", billion),
        (
            "gzip bomb",
            enc(&V::Array(vec![
                V::from("t"),
                V::Binary(zeros),
                opt(&[("compressed", V::from("gzip")), ("chunk", V::from("bomb"))]),
            ])),
        ),
        (
            "record not a map",
            enc(&V::Array(vec![
                V::from("t"),
                V::Array(vec![V::Array(vec![V::from(1), V::from(2)])]),
                opt(&[("chunk", V::from("c"))]),
            ])),
        ),
    ];
    for (what, bytes) in &bad_frames {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        let mut b = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
            .await
            .unwrap_or_else(|_| panic!("{what}: connection not closed within 10 s"))
            .unwrap_or(0);
        assert_eq!(n, 0, "{what}: no ack, connection closed");
    }
    // Truncated MessagePack followed by close: nothing stored.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let full = enc(&V::Array(vec![
        V::from("t"),
        et(T0, 0),
        rec(&[("message", V::from("cut"))]),
    ]));
    s.write_all(&full[..full.len() - 3]).await.unwrap();
    drop(s);

    good.await.expect("the good client was served throughout");
    drop(stalled);
    let hits = search(&srv, "logs-*", "*").await;
    assert_eq!(
        hits.len(),
        100,
        "only the good client's events (first page of 200)"
    );
    srv.http.refresh().await;
    assert_eq!(srv.http.count("logs-*", None).await, 200);
    let metrics = srv.http.get("/metrics").await;
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    let errors: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("logweave_forward_errors_total "))
        .and_then(|v| v.parse().ok())
        .expect("forward error counter");
    assert!(errors >= bad_frames.len() as u64, "{text}");
    srv.shutdown().await;
}

#[tokio::test]
async fn a_resent_chunk_is_acknowledged_but_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let srv = InProcess::start(test_config(dir.path())).await;
    let addr = fwd(&srv);
    let chunk = |id: &str, msg: &str| {
        V::Array(vec![
            V::from("re.send"),
            V::Array(
                (0..5)
                    .map(|i| {
                        V::Array(vec![
                            et(T0 + i, 0),
                            rec(&[("message", V::from(format!("{msg}-{i}")))]),
                        ])
                    })
                    .collect(),
            ),
            opt(&[("chunk", V::from(id))]),
        ])
    };
    send_acked(addr, &chunk("same-id", "first"), "same-id").await;
    // The ack was "lost": the client sends the same chunk again, before and
    // after the store committed it.
    send_acked(addr, &chunk("same-id", "first"), "same-id").await;
    srv.http.refresh().await;
    send_acked(addr, &chunk("same-id", "first"), "same-id").await;
    // A client that reuses a simple chunk id for other data loses nothing.
    send_acked(addr, &chunk("same-id", "other"), "same-id").await;
    srv.http.refresh().await;
    assert_eq!(srv.http.count("logs-*", None).await, 10);
    let text = String::from_utf8_lossy(&srv.http.get("/metrics").await.body).to_string();
    assert!(
        text.contains("logweave_forward_resent_chunks_total 2"),
        "{text}"
    );
    srv.shutdown().await;
}

/// The agent (in this process) sends over TLS with the shared-key
/// handshake to a server with a self-signed certificate it trusts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_to_server_over_tls_with_shared_key() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let mut cfg = test_config(&dir.path().join("srv"));
    cfg.forward.tls = Some((cert.clone(), key));
    cfg.forward.shared_key = Some("tls-key".into());
    let srv = InProcess::start(cfg).await;
    let port = fwd(&srv).port();

    // A plain-text client gets nothing from a TLS listener.
    let mut plain = TcpStream::connect(fwd(&srv)).await.unwrap();
    plain
        .write_all(&enc(&V::Array(vec![
            V::from("x"),
            V::from(1),
            rec(&[]),
            opt(&[("chunk", V::from("p"))]),
        ])))
        .await
        .unwrap();
    let mut b = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(10), plain.read(&mut b))
        .await
        .unwrap()
        .unwrap_or(0);
    assert!(n == 0 || b[..n] != enc(&V::Map(vec![(V::from("ack"), V::from("p"))]))[..n.min(8)]);

    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut text = String::new();
    for i in 0..100 {
        text.push_str(&format!("{{\"message\":\"tls-{i}\",\"n\":{i}}}\n"));
    }
    std::fs::write(logs.join("a.log"), text).unwrap();
    let toml = format!(
        r#"
[agent]
data_dir = "{agent}"
log_interval_secs = 0
[[agent.sources]]
type = "tail"
paths = ["{glob}"]
tag = "tls.test"
read_from_head = true
[agent.output]
servers = ["localhost:{port}"]
tls = true
tls_ca_file = "{ca}"
shared_key = "tls-key"
self_hostname = "agent-host"
"#,
        agent = dir.path().join("agent").display(),
        glob = logs.join("*.log").display(),
        ca = cert.display(),
    );
    let acfg = logweave::config::Config::from_str(&toml, "agent.toml")
        .unwrap()
        .agent;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (handle, metrics) = logweave::agent::start(acfg, stop.clone()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while metrics
        .output
        .events_out
        .load(std::sync::atomic::Ordering::Relaxed)
        < 100
    {
        assert!(
            std::time::Instant::now() < deadline,
            "agent did not deliver over TLS within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::task::spawn_blocking(move || handle.join().unwrap())
        .await
        .unwrap();
    let hits = search(&srv, "logs-*", "tls").await;
    assert_eq!(hits.len(), 100);
    assert!(hits
        .iter()
        .all(|h| h["tag"] == "tls.test" && h["host"].is_string()));
    srv.shutdown().await;
}
