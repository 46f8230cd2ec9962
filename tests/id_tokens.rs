//! Id-like tokens (12 or more hex digits: request ids, trace ids, hashes)
//! are kept as fingerprints in a column instead of in the term dictionary.
//! Every way of searching text must still find them exactly: match, term
//! (with and without case_insensitive), terms, query_string, phrases around
//! them and prefixes of them, in any text field. The oracle tokenizes the
//! generated messages itself.

mod util;

use serde_json::{json, Value};
use util::{ndjson, test_config, InProcess};

const INDEX: &str = "idtok";

fn hex(n: u64) -> String {
    format!("{:016x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn message(i: u64) -> String {
    match i % 4 {
        0 => format!("GET /cart 200 user=u{} req_id={}", i % 7, hex(i)),
        1 => format!("payment {} settled in {} ms", hex(i).to_uppercase(), i),
        2 => format!("trace {} at {}", hex(i / 2), 1_700_000_000_000 + i),
        _ => "cache warmed".to_string(),
    }
}

/// Lowercased tokens as the store's analyser makes them for these messages
/// (ASCII words, `_` inside a word, everything else a separator).
fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

async fn count(s: &InProcess, q: Value) -> u64 {
    s.http.count(INDEX, Some(q)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_like_tokens_are_found_by_every_text_query() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let s = InProcess::start(test_config(tmp.path())).await;
    let n = 600u64;
    let docs: Vec<Value> = (0..n)
        .map(|i| {
            json!({"@timestamp": "2026-11-24T12:00:00Z", "message": message(i),
                   "trace": {"id": hex(i / 2)}, "tags": [hex(i + 1_000_000), "x"]})
        })
        .collect();
    for half in docs.chunks(300) {
        let items: Vec<(Value, Value)> = half
            .iter()
            .map(|d| (json!({"index": {"_index": INDEX}}), d.clone()))
            .collect();
        let r = s
            .http
            .post_ndjson("/_bulk?refresh=true", ndjson(&items))
            .await;
        assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    }
    let in_message = |f: &dyn Fn(&[String]) -> bool| {
        docs.iter()
            .filter(|d| f(&tokens(d["message"].as_str().unwrap_or(""))))
            .count() as u64
    };
    let has = |t: &str| {
        let t = t.to_string();
        move |toks: &[String]| toks.contains(&t)
    };

    let id = hex(8);
    assert_eq!(
        count(&s, json!({"match": {"message": id}})).await,
        in_message(&has(&id))
    );
    assert!(in_message(&has(&id)) >= 1);
    let upper = hex(9).to_uppercase(); // written uppercase in message 9
    let with_9 = in_message(&has(&hex(9)));
    assert_eq!(with_9, 2, "message 9 and the trace of message 18");
    assert_eq!(
        count(&s, json!({"match": {"message": upper}})).await,
        with_9
    );
    assert_eq!(
        count(&s, json!({"term": {"message": upper}})).await,
        0,
        "term is not analysed"
    );
    assert_eq!(
        count(
            &s,
            json!({"term": {"message": {"value": upper, "case_insensitive": true}}})
        )
        .await,
        with_9
    );
    assert_eq!(
        count(&s, json!({"term": {"message": hex(9)}})).await,
        with_9
    );
    let ids = [hex(12), hex(13), "cache".to_string(), hex(99_999)];
    let want = in_message(&|t: &[String]| ids.iter().any(|i| t.contains(i)));
    assert_eq!(count(&s, json!({"terms": {"message": ids}})).await, want);
    // query_string on a field and on every field (trace.id and tags too)
    assert_eq!(
        count(
            &s,
            json!({"query_string": {"query": format!("message:{}", hex(16))}})
        )
        .await,
        in_message(&has(&hex(16)))
    );
    let everywhere = docs
        .iter()
        .filter(|d| {
            tokens(d["message"].as_str().unwrap_or("")).contains(&hex(5))
                || d["trace"]["id"] == json!(hex(5))
                || d["tags"][0] == json!(hex(5))
        })
        .count() as u64;
    assert!(everywhere >= 2, "message and trace.id of message 10/11");
    assert_eq!(
        count(&s, json!({"query_string": {"query": hex(5)}})).await,
        everywhere
    );
    assert_eq!(count(&s, json!({"match": {"trace.id": hex(7)}})).await, 2);
    assert_eq!(
        count(&s, json!({"match": {"tags": hex(1_000_003)}})).await,
        1
    );
    // a 13-digit number is id-like too
    let num = (1_700_000_000_000u64 + 14).to_string();
    assert_eq!(count(&s, json!({"match": {"message": num}})).await, 1);

    // phrases around ids
    let phrase = format!("req_id={}", hex(20));
    assert_eq!(
        count(&s, json!({"match_phrase": {"message": phrase}})).await,
        1
    );
    let wrong = format!("req_id {}", hex(21)); // 21 is a payment message
    assert_eq!(
        count(&s, json!({"match_phrase": {"message": wrong}})).await,
        0
    );
    let around = format!("payment {} settled", hex(21));
    assert_eq!(
        count(&s, json!({"match_phrase": {"message": around}})).await,
        1
    );
    let sloppy = format!("settled {}", hex(21));
    assert_eq!(
        count(
            &s,
            json!({"match_phrase": {"message": {"query": sloppy, "slop": 2}}})
        )
        .await,
        1
    );
    assert_eq!(
        count(&s, json!({"match_phrase": {"message": sloppy}})).await,
        0
    );
    let pp = format!("req_id {}", &hex(24)[..6]);
    assert_eq!(
        count(&s, json!({"match_phrase_prefix": {"message": pp}})).await,
        1
    );

    // a lone open word that only an id-like token continues
    let lone = hex(24)[..6].to_string(); // message 24's req_id
    assert!(in_message(&|t: &[String]| t.iter().any(|x| x.starts_with(lone.as_str()))) >= 1);
    assert_eq!(
        count(&s, json!({"match_phrase_prefix": {"message": lone}})).await,
        in_message(&|t: &[String]| t.iter().any(|x| x.starts_with(lone.as_str())))
    );

    // prefixes of ids (and of ordinary words that are hex too, like "ca")
    for p in [
        hex(28)[..5].to_string(),
        hex(28)[..2].to_string(),
        "ca".to_string(),
        hex(30)[..10].to_string(),
    ] {
        let want = in_message(&|t: &[String]| t.iter().any(|x| x.starts_with(p.as_str())));
        assert_eq!(
            count(&s, json!({"prefix": {"message": p}})).await,
            want,
            "prefix {p}"
        );
    }
    s.shutdown().await;
}
