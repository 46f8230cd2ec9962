//! The syslog input over TCP (octet counting and newlines, mixed) and UDP,
//! checked through the search API against the messages the test sent.

mod util;

use std::time::Duration;

use logweave::route::{Route, TimeSource};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use util::{test_config, InProcess};

async fn hits(srv: &InProcess, index: &str, q: &str) -> Vec<Value> {
    srv.http.refresh().await;
    let r = srv
        .http
        .post_json(
            &format!("/{index}/_search"),
            &json!({"query": {"query_string": {"query": q}}, "size": 1000, "sort": [{"@timestamp": "asc"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    r.json()["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let mut s = h["_source"].clone();
            s["_index"] = h["_index"].clone();
            s
        })
        .collect()
}

#[tokio::test]
async fn tcp_both_framings_and_udp() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.routes = vec![Route::new(
        "syslog.auth.* syslog.authpriv.*",
        "auth-%{+YYYY.MM.dd}",
        None,
        false,
        TimeSource::Record,
    )
    .unwrap()];
    let srv = InProcess::start(cfg).await;
    let addr = srv.running.syslog_addr.expect("syslog input is on");

    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut sent = Vec::new();
    let mut wire = Vec::new();
    for i in 0..300 {
        let msg = if i % 3 == 0 {
            format!("<165>1 2026-11-27T10:00:{:02}.{:03}Z web01 shop 77 ORDER [order@1 id=\"{i}\" total=\"9.5\"] \u{feff}order {i} placed", i % 60, i)
        } else {
            format!(
                "<86>Nov 27 10:{:02}:{:02} web02 sshd[{}]: tcp message {i}",
                i / 60,
                i % 60,
                1000 + i
            )
        };
        if i % 2 == 0 {
            // octet counting, the count including a trailing LF as rsyslog sends it
            let framed = format!("{msg}\n");
            wire.extend_from_slice(format!("{} {framed}", framed.len()).as_bytes());
        } else {
            wire.extend_from_slice(format!("{msg}\n").as_bytes());
        }
        sent.push(i);
    }
    // in uneven pieces, as TCP may deliver them
    for piece in wire.chunks(777) {
        tcp.write_all(piece).await.unwrap();
    }
    tcp.write_all(b"this is not syslog at all\n").await.unwrap();
    tcp.shutdown().await.unwrap();

    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..50 {
        udp.send_to(
            format!(
                "<11>Nov 27 09:00:{:02} db01 postgres[5]: udp message {i}",
                i % 60
            )
            .as_bytes(),
            addr,
        )
        .await
        .unwrap();
    }

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        srv.http.refresh().await;
        let n = srv.http.count("*", None).await;
        if n >= 351 {
            assert_eq!(
                n, 351,
                "every TCP message once, the UDP ones, and the unparsable line"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {n} of 351 messages stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let orders = hits(&srv, "logs-*", "appname:shop").await;
    assert_eq!(orders.len(), 100);
    let o = &orders[0];
    assert_eq!(o["message"], "order 0 placed");
    assert_eq!(o["host"], "web01");
    assert_eq!(o["procid"], "77");
    assert_eq!(o["msgid"], "ORDER");
    assert_eq!(o["facility"], "local4");
    assert_eq!(o["level"], "INFO");
    assert_eq!(o["sd"]["order@1"]["id"], "0");
    assert_eq!(o["_index"], "logs-2026.11.27");
    // structured data is searchable as fields
    assert_eq!(
        hits(&srv, "logs-*", "sd.order@1.id:43").await.len(),
        0,
        "43 is no order (orders are every third message)"
    );
    assert_eq!(hits(&srv, "logs-*", "sd.order@1.id:\"45\"").await.len(), 1);

    let auth = hits(&srv, "auth-*", "*").await;
    assert_eq!(
        auth.len(),
        200,
        "facility authpriv routes by tag syslog.authpriv.info"
    );
    assert!(auth
        .iter()
        .all(|h| h["appname"] == "sshd" && h["level"] == "INFO" && h["facility"] == "authpriv"));
    let udp_hits = hits(&srv, "logs-*", "appname:postgres").await;
    assert_eq!(udp_hits.len(), 50);
    assert!(udp_hits
        .iter()
        .all(|h| h["level"] == "ERROR" && h["host"] == "db01"));
    // the message's own time is `@timestamp`; its metadata are keywords
    // (exact, aggregatable), the message full text
    assert!(o["@timestamp"].as_str().unwrap().starts_with("2026-11-27T"));
    assert!(o.get("timestamp").is_none() && o.get("severity_code").is_none());
    assert_eq!(hits(&srv, "logs-*", "message:placed").await.len(), 100);
    assert_eq!(hits(&srv, "logs-*", "@level:ERROR").await.len(), 50);
    let m = srv.http.get("/logs-2026.11.27/_mapping").await.json();
    let props = &m["logs-2026.11.27"]["mappings"]["properties"];
    for f in [
        "appname", "host", "facility", "severity", "level", "procid", "msgid",
    ] {
        assert_eq!(props[f]["type"], "keyword", "{f}: {props}");
    }
    assert_eq!(props["message"]["type"], "text", "{props}");
    let r = srv
        .http
        .post_json(
            "/logs-*/_search",
            &json!({"size": 0, "aggs": {"apps": {"terms": {"field": "appname"}}}}),
        )
        .await
        .json();
    let buckets: Vec<(String, u64)> = r["aggregations"]["apps"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["key"].as_str().unwrap().to_string(),
                b["doc_count"].as_u64().unwrap(),
            )
        })
        .collect();
    // 100 orders over TCP and 50 UDP messages; sshd went to auth-*
    assert_eq!(
        buckets,
        vec![("shop".to_string(), 100), ("postgres".to_string(), 50)]
    );
    let bad = hits(&srv, "logs-*", "tags:_syslogparsefailure").await;
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["message"], "this is not syslog at all");
    srv.shutdown().await;
}

#[tokio::test]
async fn an_oversized_octet_frame_closes_only_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let srv = InProcess::start(test_config(dir.path())).await;
    let addr = srv.running.syslog_addr.unwrap();
    let mut bad = tokio::net::TcpStream::connect(addr).await.unwrap();
    bad.write_all(b"999999999 <13>1 - - - - - - x")
        .await
        .unwrap();
    let mut good = tokio::net::TcpStream::connect(addr).await.unwrap();
    good.write_all(b"<13>1 2026-11-27T10:00:00Z h app - - - still served\n")
        .await
        .unwrap();
    good.shutdown().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while hits(&srv, "logs-*", "\"still served\"").await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the good connection was not served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut b = [0u8; 4];
    use tokio::io::AsyncReadExt;
    let n = tokio::time::timeout(Duration::from_secs(5), bad.read(&mut b))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the bad connection is closed");
    srv.shutdown().await;
}
