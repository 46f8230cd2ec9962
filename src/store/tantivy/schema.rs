//! The fixed tantivy schema every index uses, and the text analyser.
//!
//! Dynamic fields live in two JSON fields: `_text` holds analysed strings
//! (an inverted index with positions, for match and phrase queries) and
//! `_kf` holds exact values (keywords, numbers, booleans, dates) only as
//! columnar fast fields. Exact matches and ranges on `_kf` scan columns
//! (a few milliseconds per million documents) instead of keeping a second
//! inverted index, which would cost more disk than the compressed
//! `_source` itself. Which of the two a value goes to is decided by the
//! index's mapping, not by tantivy.

use super::words::{words, Words};
use tantivy::schema::{
    BytesOptions, DateOptions, DateTimePrecision, Field, IndexRecordOption, JsonObjectOptions,
    Schema, TextFieldIndexing, TextOptions, FAST, STORED,
};
use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, TextAnalyzer, Token, TokenStream, Tokenizer,
};

/// Name under which [`StandardTokenizer`] + lowercasing is registered.
pub const TEXT_ANALYZER: &str = "lw_standard";

/// Handles of the schema fields.
#[derive(Clone, Copy)]
pub struct Fields {
    pub id: Field,
    pub source: Field,
    pub timestamp: Field,
    pub text: Field,
    pub kf: Field,
    pub level: Field,
    pub service: Field,
    pub host: Field,
    /// The pattern id of the message (`_pattern`); absent in indices made
    /// before patterns existed.
    pub pattern: Option<Field>,
    /// Names of the fields each document has (for `exists`), like
    /// Elasticsearch's `_field_names`.
    pub names: Field,
    /// Columns holding generated ids as numbers; absent in indices made
    /// when every id was stored as text.
    pub compact_id: Option<IdColumns>,
    /// The id-token fingerprints (`_hx`); when present, `_text` has no
    /// id-like tokens.
    pub id_tokens: Option<Field>,
}

/// The three parts of a generated id ([`crate::event::DocId`]), one column
/// each. Within a segment the parts grow (or stay) from one document to the
/// next, which tantivy's linear codecs store in a few bits, where the text
/// id cost about 7 compressed bytes stored plus a term and a posting list.
#[derive(Clone, Copy)]
pub struct IdColumns {
    pub ms: Field,
    pub seq: Field,
    pub node: Field,
}

/// Column names of [`IdColumns`].
pub const ID_MS: &str = "_id_ms";
pub const ID_SEQ: &str = "_id_seq";
pub const ID_NODE: &str = "_id_node";
/// Column of the fingerprints of a document's id-like tokens
/// ([`id_fingerprint`]), in indices whose `_text` leaves them out.
pub const ID_TOKENS: &str = "_hx";

/// An untokenized, indexed string without norms (ids, field names).
fn exact_indexed() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::Basic),
    )
}

pub fn build_schema() -> Schema {
    let mut b = Schema::builder();
    b.add_text_field("_id", exact_indexed() | STORED);
    b.add_bytes_field("_source", BytesOptions::default().set_stored());
    b.add_date_field(
        "@timestamp",
        DateOptions::from(FAST).set_precision(DateTimePrecision::Milliseconds),
    );
    let text_opts = JsonObjectOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TEXT_ANALYZER_WITHOUT_IDS)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_expand_dots_enabled();
    b.add_json_field("_text", text_opts);
    b.add_json_field(
        "_kf",
        JsonObjectOptions::default()
            .set_fast("raw")
            .set_expand_dots_enabled(),
    );
    for f in ["_level", "_service", "_host", "_pattern"] {
        b.add_text_field(f, TextOptions::default().set_fast("raw"));
    }
    b.add_text_field("_fields", exact_indexed());
    for f in [ID_MS, ID_SEQ, ID_NODE, ID_TOKENS] {
        b.add_u64_field(f, FAST);
    }
    b.build()
}

impl Fields {
    pub fn from_schema(s: &Schema) -> tantivy::Result<Fields> {
        Ok(Fields {
            id: s.get_field("_id")?,
            source: s.get_field("_source")?,
            timestamp: s.get_field("@timestamp")?,
            text: s.get_field("_text")?,
            kf: s.get_field("_kf")?,
            level: s.get_field("_level")?,
            service: s.get_field("_service")?,
            host: s.get_field("_host")?,
            pattern: s.get_field("_pattern").ok(),
            names: s.get_field("_fields")?,
            compact_id: match (
                s.get_field(ID_MS),
                s.get_field(ID_SEQ),
                s.get_field(ID_NODE),
            ) {
                (Ok(ms), Ok(seq), Ok(node)) => Some(IdColumns { ms, seq, node }),
                _ => None,
            },
            id_tokens: s.get_field(ID_TOKENS).ok(),
        })
    }
}

/// The analyser for `text` fields: UAX#29 words (so `server01.example.com`
/// stays one token and each CJK ideograph is its own, as in Elasticsearch's
/// `standard` analyser), lowercased, tokens over 255 bytes dropped.
pub fn text_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(StandardTokenizer::default())
        .filter(RemoveLongFilter::limit(256))
        .filter(LowerCaser)
        .build()
}

/// The analyser of the `_text` field in indices with an `_hx` column: as
/// [`text_analyzer`], without id-like tokens ([`is_id_token`]), which go to
/// `_hx` as fingerprints instead. Their positions stay taken, so phrases
/// around them keep their offsets.
pub fn text_analyzer_without_ids() -> TextAnalyzer {
    TextAnalyzer::builder(StandardTokenizer { skip_ids: true })
        .filter(RemoveLongFilter::limit(256))
        .filter(LowerCaser)
        .build()
}

/// Name under which [`text_analyzer_without_ids`] is registered.
pub const TEXT_ANALYZER_WITHOUT_IDS: &str = "lw_standard_no_ids";

/// Shortest id-like token.
pub const ID_TOKEN_MIN: usize = 12;

/// Whether a token looks like a request id, trace id or hash: at least
/// [`ID_TOKEN_MIN`] hex digits and nothing else. On real logs nearly every
/// such token is unique, so in the term dictionary each costs ~19 bytes for
/// one posting; as a 3-byte fingerprint in a column it costs a sixth.
pub fn is_id_token(t: &str) -> bool {
    t.len() >= ID_TOKEN_MIN && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `_hx` fingerprint of an id token (lowercase): its first three hex
/// digits, then 8 bits of a hash of the whole token (20 bits, bit-packed
/// as such). The prefix keeps `prefix` queries on ids answerable by a
/// range of fingerprints; an exact lookup on a million random ids gets
/// about one false candidate, which the `_source` check drops.
pub fn id_fingerprint(t: &str) -> u64 {
    let head = u64::from_str_radix(t.get(..3).unwrap_or("0"), 16).unwrap_or(0);
    // FNV-1a: stable across releases and platforms (the value is on disk)
    let mut h: u32 = 0x811c_9dc5;
    for b in t.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    head << 8 | (h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24)) as u64 & 0xff
}

/// The range of fingerprints of id tokens starting with `prefix` (hex,
/// lowercase).
pub fn id_fingerprint_range(prefix: &str) -> (u64, u64) {
    let p: String = prefix.chars().take(3).collect();
    let lo = format!("{p:0<3}");
    let hi = format!("{p:f<3}");
    let lo = u64::from_str_radix(&lo, 16).unwrap_or(0) << 8;
    let hi = u64::from_str_radix(&hi, 16).unwrap_or(0xfff) << 8 | 0xff;
    (lo, hi)
}

/// UAX#29 word tokenizer.
#[derive(Clone, Default)]
pub struct StandardTokenizer {
    /// Leave out id-like tokens ([`is_id_token`]).
    skip_ids: bool,
}

pub struct StandardTokenStream<'a> {
    words: Words<'a>,
    token: Token,
    skip_ids: bool,
}

impl Tokenizer for StandardTokenizer {
    type TokenStream<'a> = StandardTokenStream<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> StandardTokenStream<'a> {
        StandardTokenStream {
            words: words(text),
            token: Token {
                position: usize::MAX,
                ..Token::default()
            },
            skip_ids: self.skip_ids,
        }
    }
}

impl TokenStream for StandardTokenStream<'_> {
    fn advance(&mut self) -> bool {
        for (offset, word) in self.words.by_ref() {
            self.token.position = self.token.position.wrapping_add(1);
            if self.skip_ids && is_id_token(word) {
                continue;
            }
            self.token.text.clear();
            self.token.text.push_str(word);
            self.token.offset_from = offset;
            self.token.offset_to = offset + word.len();
            return true;
        }
        false
    }
    fn token(&self) -> &Token {
        &self.token
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// Analyse `text` into its lowercased terms, as indexing does.
pub fn analyze(text: &str) -> Vec<String> {
    let mut a = text_analyzer();
    let mut ts = a.token_stream(text);
    let mut out = Vec::new();
    while ts.advance() {
        out.push(ts.token().text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_tokens_and_their_fingerprints() {
        assert!(is_id_token("bd9c66b3ad3c2d6d"));
        assert!(is_id_token("1700000000014"));
        assert!(!is_id_token("bd9c66b3ad3"), "11 digits");
        assert!(!is_id_token("0x7f3a1b2c3d4e5f"));
        let fp = id_fingerprint("bd9c66b3ad3c2d6d");
        assert!(fp < 1 << 20);
        assert_eq!(fp >> 8, 0xbd9);
        assert_eq!(fp, id_fingerprint("bd9c66b3ad3c2d6d"), "stable");
        for p in ["b", "bd", "bd9", "bd9c66"] {
            let (lo, hi) = id_fingerprint_range(p);
            assert!(lo <= fp && fp <= hi, "{p}");
        }
        let (lo, hi) = id_fingerprint_range("be");
        assert!(!(lo..=hi).contains(&fp));
        assert_eq!(id_fingerprint_range(""), (0, (1 << 20) - 1));
    }

    #[test]
    fn standard_like_tokens() {
        assert_eq!(
            analyze("Connection reset by PEER"),
            vec!["connection", "reset", "by", "peer"]
        );
        assert_eq!(
            analyze("host server01.example.com failed"),
            vec!["host", "server01", "example.com", "failed"]
        );
        assert_eq!(analyze("数据库连接"), vec!["数", "据", "库", "连", "接"]);
        assert_eq!(analyze("Ошибка подключения"), vec!["ошибка", "подключения"]);
        assert_eq!(
            analyze("user_id=42, took 1.5s"),
            vec!["user_id", "42", "took", "1.5s"]
        );
    }
}
