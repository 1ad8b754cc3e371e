//! Streaming the pictures of JSON bodies: a request's base64 fields are encoded from their
//! source while the body is sent, and an answer's base64 field is decoded into memory or a file
//! while it arrives. Neither side ever holds the picture as base64 text.
//!
//! The generated client still writes the JSON: it serializes the body with a short placeholder
//! in each picture field, and the transport replaces the placeholders with the encoded bytes on
//! the way out. On the way back, the transport hands the generated client the answer with the
//! picture field shortened to the placeholder, so it parses a few bytes instead of megabytes.

use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use futures_util::stream::{self, BoxStream};
use reqwest::header::{CONTENT_LENGTH, HeaderValue};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Base64 as providers answer it: standard alphabet, padding optional.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Bytes encoded per chunk of the request body: a multiple of 3, so chunks concatenate into
/// one valid base64 text.
const ENCODE_CHUNK: usize = 768 * 1024;

/// The placeholder of the picture field number `index`. Only base64 letters, so it passes the
/// generated types' checks.
pub(crate) fn placeholder(index: usize) -> String {
    format!("pixmillSplice{index}")
}

/// Where a picture to send comes from.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// Bytes in memory (shared, never copied).
    Bytes(Bytes),
    /// A file read while the body is sent; `len` is its size.
    File { path: PathBuf, len: u64 },
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Source::Bytes(bytes) => bytes.len() as u64,
            Source::File { len, .. } => *len,
        }
    }

    /// The base64 text of the source, in chunks.
    fn encoded(&self) -> BoxStream<'static, std::io::Result<Bytes>> {
        match self.clone() {
            Source::Bytes(bytes) => {
                let chunks: Vec<Bytes> = (0..bytes.len())
                    .step_by(ENCODE_CHUNK)
                    .map(|start| bytes.slice(start..(start + ENCODE_CHUNK).min(bytes.len())))
                    .collect();
                stream::iter(chunks)
                    .map(|chunk| Ok(Bytes::from(STANDARD.encode(&chunk))))
                    .boxed()
            }
            Source::File { path, .. } => {
                let open = async move { tokio::fs::File::open(path).await };
                stream::once(open)
                    .flat_map(|file| match file {
                        Err(error) => stream::once(async { Err(error) }).boxed(),
                        Ok(file) => stream::unfold(Some(file), |file| async move {
                            let mut file = file?;
                            let mut buffer = vec![0u8; ENCODE_CHUNK];
                            let mut filled = 0;
                            // Fill whole chunks: a short read mid-file would break the text.
                            while filled < ENCODE_CHUNK {
                                match file.read(&mut buffer[filled..]).await {
                                    Ok(0) => break,
                                    Ok(n) => filled += n,
                                    Err(error) => return Some((Err(error), None)),
                                }
                            }
                            if filled == 0 {
                                return None;
                            }
                            buffer.truncate(filled);
                            let next = (filled == ENCODE_CHUNK).then_some(file);
                            Some((Ok(Bytes::from(STANDARD.encode(&buffer))), next))
                        })
                        .boxed(),
                    })
                    .boxed()
            }
        }
    }
}

/// The length of the base64 text of `len` bytes.
fn encoded_len(len: u64) -> u64 {
    len.div_ceil(3) * 4
}

/// The pictures of one request, by placeholder.
#[derive(Debug, Default)]
pub(crate) struct RequestSplice {
    pub parts: Vec<(String, Source)>,
}

impl RequestSplice {
    /// Replaces every `"placeholder"` of the JSON body with the picture's base64 text, as a
    /// stream with an exact `Content-Length`.
    pub(crate) fn apply(&self, request: &mut reqwest::Request) -> Result<(), String> {
        let Some(body) = request.body().and_then(|b| b.as_bytes()) else {
            return Err("the request body is not in memory".into());
        };
        let body = Bytes::copy_from_slice(body);
        let mut pieces: Vec<Piece> = Vec::new();
        let mut rest = body.clone();
        let mut offset = 0;
        let mut found: Vec<(usize, &Source, usize)> = Vec::new();
        for (placeholder, source) in &self.parts {
            let quoted = format!("\"{placeholder}\"");
            let at = find(&body, quoted.as_bytes())
                .ok_or_else(|| format!("the body has no picture field {placeholder}"))?;
            found.push((at + 1, source, placeholder.len()));
        }
        found.sort_by_key(|(at, _, _)| *at);
        let mut length = 0u64;
        for (at, source, width) in found {
            let before = rest.split_to(at - offset);
            length += before.len() as u64 + encoded_len(source.len());
            pieces.push(Piece::Text(before));
            pieces.push(Piece::Picture(source.clone()));
            let _ = rest.split_to(width);
            offset = at + width;
        }
        length += rest.len() as u64;
        pieces.push(Piece::Text(rest));
        let stream = stream::iter(pieces).flat_map(|piece| match piece {
            Piece::Text(text) => stream::once(async move { Ok(text) }).boxed(),
            Piece::Picture(source) => source.encoded(),
        });
        *request.body_mut() = Some(reqwest::Body::wrap_stream(stream));
        request
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(length));
        Ok(())
    }
}

enum Piece {
    Text(Bytes),
    Picture(Source),
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Where an answer's picture goes.
#[derive(Debug)]
pub(crate) enum Sink {
    Memory(Vec<u8>),
    File(tokio::fs::File),
}

/// An answer field to decode as it arrives.
#[derive(Debug)]
pub(crate) struct ResponseSplice {
    /// The field's name on the wire (a key of the answer's top-level object).
    pub field: String,
    sink: Mutex<Option<Sink>>,
    /// Bytes written to the sink.
    written: Mutex<u64>,
}

impl ResponseSplice {
    pub(crate) fn new(field: String, sink: Sink) -> ResponseSplice {
        ResponseSplice {
            field,
            sink: Mutex::new(Some(sink)),
            written: Mutex::new(0),
        }
    }

    /// The sink, with everything decoded so far.
    pub(crate) fn take(&self) -> (Option<Sink>, u64) {
        (
            self.sink.lock().unwrap_or_else(|p| p.into_inner()).take(),
            *self.written.lock().unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// Reads a JSON answer, decoding the field into the sink, and returns the answer with the
    /// field's value replaced by the placeholder. The rest of the answer must fit `limit`.
    pub(crate) async fn extract(
        &self,
        mut response: reqwest::Response,
        limit: usize,
    ) -> Result<(Bytes, bool), ExtractError> {
        let mut sink = self
            .sink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or(ExtractError::Body("the answer was already read".into()))?;
        let mut parser = FieldParser::new(self.field.as_bytes(), &placeholder(0));
        let mut skeleton = BytesMut::new();
        let mut decoded = match &mut sink {
            Sink::Memory(buffer) => std::mem::take(buffer),
            Sink::File(_) => Vec::new(),
        };
        if let (Sink::Memory(_), Some(length)) = (&sink, response.content_length()) {
            // The picture is three quarters of its text: one allocation instead of doublings.
            let expected = usize::try_from(length).unwrap_or(usize::MAX).min(limit);
            decoded.reserve(expected / 4 * 3);
        }
        let mut written = 0u64;
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(ExtractError::Transport)? {
            parser
                .feed(&chunk, &mut skeleton, &mut decoded)
                .map_err(ExtractError::Body)?;
            if written + decoded.len() as u64 > limit as u64 {
                // The picture counts against the same bound as any answer.
                *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
                return Err(ExtractError::Body(format!(
                    "the answer is larger than {limit} bytes, the limit"
                )));
            }
            written += write(&mut sink, &mut decoded).await?;
            if skeleton.len() > limit {
                truncated = true;
                skeleton.truncate(limit);
                break;
            }
        }
        parser.finish(&mut decoded).map_err(ExtractError::Body)?;
        written += write(&mut sink, &mut decoded).await?;
        if let Sink::Memory(buffer) = &mut sink {
            written = decoded.len() as u64;
            *buffer = decoded;
        }
        *self.written.lock().unwrap_or_else(|p| p.into_inner()) = written;
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
        Ok((skeleton.freeze(), truncated))
    }
}

/// Moves what was decoded to a file sink; returns the bytes written. A memory sink keeps
/// decoding into `decoded` itself, which is handed over at the end, so nothing is copied.
async fn write(sink: &mut Sink, decoded: &mut Vec<u8>) -> Result<u64, ExtractError> {
    match sink {
        Sink::Memory(_) => Ok(0),
        Sink::File(file) => {
            let n = decoded.len() as u64;
            file.write_all(decoded).await.map_err(ExtractError::Io)?;
            decoded.clear();
            Ok(n)
        }
    }
}

/// Why an answer could not be decoded.
#[derive(Debug)]
pub(crate) enum ExtractError {
    Transport(reqwest::Error),
    Io(std::io::Error),
    Body(String),
}

/// Where the parser is in the JSON text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Outside strings.
    Structure,
    /// Inside a string that is not the target value; `key` when it may be a top-level key.
    String { escape: bool, key: bool },
    /// After the target key: waiting for `:` and the opening quote of its value.
    BeforeValue { colon: bool },
    /// Inside the target value.
    Value {
        escape: bool,
        unicode: Option<(u8, u32)>,
    },
    /// The target value is done: everything else is copied.
    Done,
}

/// The start of a picture value: bare base64 is documented, a `data:` URL is tolerated.
#[derive(Debug)]
enum DataUrl {
    /// Fewer than five letters read.
    Sniffing(Vec<u8>),
    /// It is a `data:` URL: skipping to the first comma.
    Skipping,
}

/// A streaming JSON scanner that cuts one top-level string field out of an object and decodes
/// its base64 text.
pub(crate) struct FieldParser<'a> {
    field: &'a [u8],
    placeholder: String,
    state: State,
    depth: usize,
    /// The text of the string being read, when it may be a top-level key.
    key: Vec<u8>,
    /// Base64 letters waiting for a full group of four.
    pending: Vec<u8>,
    /// The first letters of the value, while it may still be a `data:` URL.
    data_url: Option<DataUrl>,
    found: bool,
}

impl<'a> FieldParser<'a> {
    pub(crate) fn new(field: &'a [u8], placeholder: &str) -> Self {
        FieldParser {
            field,
            placeholder: placeholder.to_string(),
            state: State::Structure,
            depth: 0,
            key: Vec::new(),
            pending: Vec::new(),
            data_url: None,
            found: false,
        }
    }

    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        skeleton: &mut BytesMut,
        decoded: &mut Vec<u8>,
    ) -> Result<(), String> {
        let mut at = 0;
        while at < chunk.len() {
            // Fast paths: the rest after the picture, and runs of plain letters inside it.
            if self.state == State::Done {
                skeleton.extend_from_slice(&chunk[at..]);
                break;
            }
            if self.state
                == (State::Value {
                    escape: false,
                    unicode: None,
                })
                && self.data_url.is_none()
            {
                let rest = &chunk[at..];
                let run = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                if run > 0 {
                    self.letters(&rest[..run], decoded)?;
                    at += run;
                    continue;
                }
            }
            let byte = chunk[at];
            at += 1;
            match self.state {
                State::Done => skeleton.extend_from_slice(&[byte]),
                State::Structure => {
                    skeleton.extend_from_slice(&[byte]);
                    match byte {
                        b'{' | b'[' => self.depth += 1,
                        b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                        b'"' => {
                            self.key.clear();
                            self.state = State::String {
                                escape: false,
                                key: self.depth == 1,
                            };
                        }
                        _ => {}
                    }
                }
                State::String { escape, key } => {
                    skeleton.extend_from_slice(&[byte]);
                    if escape {
                        self.state = State::String { escape: false, key };
                        if key {
                            self.key.push(byte);
                        }
                    } else if byte == b'\\' {
                        self.state = State::String { escape: true, key };
                        if key {
                            self.key.push(byte);
                        }
                    } else if byte == b'"' {
                        self.state = if key && self.key == self.field && !self.found {
                            State::BeforeValue { colon: false }
                        } else {
                            State::Structure
                        };
                    } else if key {
                        self.key.push(byte);
                    }
                }
                State::BeforeValue { colon } => {
                    skeleton.extend_from_slice(&[byte]);
                    match byte {
                        b':' if !colon => self.state = State::BeforeValue { colon: true },
                        b'"' if colon => {
                            skeleton.extend_from_slice(self.placeholder.as_bytes());
                            self.found = true;
                            self.data_url = Some(DataUrl::Sniffing(Vec::new()));
                            self.state = State::Value {
                                escape: false,
                                unicode: None,
                            };
                        }
                        b' ' | b'\t' | b'\r' | b'\n' => {}
                        // The key's value is not a string: leave it to the generated type.
                        _ => self.state = State::Structure,
                    }
                }
                State::Value { escape, unicode } => {
                    if let Some((digits, code)) = unicode {
                        let digit = (byte as char)
                            .to_digit(16)
                            .ok_or("a malformed \\u escape in the picture")?;
                        let code = code * 16 + digit;
                        if digits == 3 {
                            let letter = u8::try_from(code)
                                .map_err(|_| "a non-ASCII character in the picture")?;
                            self.letter(letter, decoded)?;
                            self.state = State::Value {
                                escape: false,
                                unicode: None,
                            };
                        } else {
                            self.state = State::Value {
                                escape: false,
                                unicode: Some((digits + 1, code)),
                            };
                        }
                    } else if escape {
                        self.state = State::Value {
                            escape: false,
                            unicode: None,
                        };
                        match byte {
                            b'u' => {
                                self.state = State::Value {
                                    escape: false,
                                    unicode: Some((0, 0)),
                                }
                            }
                            b'/' => self.letter(b'/', decoded)?,
                            // Escaped whitespace (a wrapped text) carries no data.
                            b'n' | b'r' | b't' => {}
                            other => {
                                return Err(format!(
                                    "an unexpected escape \\{} in the picture",
                                    other as char
                                ));
                            }
                        }
                    } else if byte == b'\\' {
                        self.state = State::Value {
                            escape: true,
                            unicode: None,
                        };
                    } else if byte == b'"' {
                        skeleton.extend_from_slice(b"\"");
                        self.flush(decoded, true)?;
                        self.state = State::Done;
                    } else {
                        self.letter(byte, decoded)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// One character of the picture's text.
    fn letter(&mut self, byte: u8, decoded: &mut Vec<u8>) -> Result<(), String> {
        match &mut self.data_url {
            Some(DataUrl::Sniffing(prefix)) => {
                prefix.push(byte);
                if prefix.len() == 5 {
                    if prefix.as_slice() == b"data:" {
                        self.data_url = Some(DataUrl::Skipping);
                    } else {
                        let letters = std::mem::take(prefix);
                        self.data_url = None;
                        for letter in letters {
                            self.push(letter, decoded)?;
                        }
                    }
                }
                Ok(())
            }
            Some(DataUrl::Skipping) => {
                if byte == b',' {
                    self.data_url = None;
                }
                Ok(())
            }
            None => self.push(byte, decoded),
        }
    }

    /// A run of the picture's text without quotes or escapes, decoded in one go.
    fn letters(&mut self, run: &[u8], decoded: &mut Vec<u8>) -> Result<(), String> {
        // Inside a JSON string only the space may appear raw; other whitespace is escaped and
        // goes through the slow path anyway.
        if memchr::memchr(b' ', run).is_some() {
            for &byte in run {
                self.push(byte, decoded)?;
            }
            return Ok(());
        }
        let mut run = run;
        if !self.pending.is_empty() {
            // Complete the group of four that is waiting first.
            let take = ((4 - self.pending.len() % 4) % 4).min(run.len());
            self.pending.extend_from_slice(&run[..take]);
            run = &run[take..];
            if !self.pending.len().is_multiple_of(4) {
                return Ok(());
            }
            self.flush(decoded, false)?;
        }
        let whole = run.len() / 4 * 4;
        if whole > 0 {
            LENIENT
                .decode_vec(&run[..whole], decoded)
                .map_err(|e| format!("the picture is not valid base64 ({e})"))?;
        }
        self.pending.extend_from_slice(&run[whole..]);
        Ok(())
    }

    fn push(&mut self, byte: u8, decoded: &mut Vec<u8>) -> Result<(), String> {
        if byte.is_ascii_whitespace() {
            return Ok(());
        }
        self.pending.push(byte);
        if self.pending.len() >= 4096 {
            self.flush(decoded, false)?;
        }
        Ok(())
    }

    /// Decodes the whole groups of four letters waiting (all of them at the end).
    fn flush(&mut self, decoded: &mut Vec<u8>, last: bool) -> Result<(), String> {
        if last && let Some(DataUrl::Sniffing(letters)) = self.data_url.take() {
            // A value shorter than `data:` itself.
            self.pending.splice(0..0, letters);
        }
        let whole = if last {
            self.pending.len()
        } else {
            self.pending.len() / 4 * 4
        };
        if whole == 0 {
            return Ok(());
        }
        let group: Vec<u8> = self.pending.drain(..whole).collect();
        LENIENT
            .decode_vec(&group, decoded)
            .map_err(|e| format!("the picture is not valid base64 ({e})"))
    }

    pub(crate) fn finish(&mut self, decoded: &mut Vec<u8>) -> Result<(), String> {
        match self.state {
            State::Done => Ok(()),
            _ if !self.found => Ok(()),
            _ => {
                self.flush(decoded, true)?;
                Err("the answer ended inside the picture".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(json: &str, field: &str, chunk: usize) -> Result<(String, Vec<u8>), String> {
        let mut parser = FieldParser::new(field.as_bytes(), "P");
        let mut skeleton = BytesMut::new();
        let mut decoded = Vec::new();
        for piece in json.as_bytes().chunks(chunk) {
            parser.feed(piece, &mut skeleton, &mut decoded)?;
        }
        parser.finish(&mut decoded)?;
        Ok((String::from_utf8(skeleton.to_vec()).unwrap(), decoded))
    }

    #[test]
    fn the_field_is_cut_out_at_any_chunk_boundary() {
        let picture: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let text = STANDARD.encode(&picture);
        let json = format!(
            r#"{{"before": {{"imageBase64": "not me"}}, "imageBase64" : "{text}", "after": [1, "x\"y"]}}"#
        );
        for chunk in [1, 2, 3, 7, 64, 4096, json.len()] {
            let (skeleton, decoded) = cut(&json, "imageBase64", chunk).unwrap();
            assert_eq!(decoded, picture, "chunk {chunk}");
            assert_eq!(
                skeleton,
                r#"{"before": {"imageBase64": "not me"}, "imageBase64" : "P", "after": [1, "x\"y"]}"#
            );
        }
    }

    #[test]
    fn escapes_data_urls_padding_and_wrapping_are_tolerated() {
        let picture = b"any carnal pleasure.".to_vec();
        let text = STANDARD.encode(&picture);
        let escaped = text.replace('/', "\\/");
        let wrapped = format!("{}\\n{}", &escaped[..8], &escaped[8..]);
        let unpadded = text.trim_end_matches('=').to_string();
        let data_url = format!("data:image/png;base64,{text}");
        let unicode = text.replacen(&text[..1], &format!("\\u{:04x}", text.as_bytes()[0]), 1);
        let spaced = format!("{} {}", &text[..6], &text[6..]);
        for value in [wrapped, unpadded, data_url, unicode, spaced] {
            let json = format!(r#"{{"image": "{value}"}}"#);
            // Small chunks take the letter-by-letter path, one chunk the fast runs.
            for chunk in [5, json.len()] {
                let (_, decoded) = cut(&json, "image", chunk).unwrap();
                assert_eq!(decoded, picture, "{value} in chunks of {chunk}");
            }
        }
    }

    #[test]
    fn bad_pictures_are_errors_not_panics() {
        assert!(cut(r#"{"image": "@@@@"}"#, "image", 3).is_err());
        assert!(
            cut(r#"{"image": "QUJD"#, "image", 3).is_err(),
            "cut off inside the value"
        );
        assert!(cut(r#"{"image": "\q"}"#, "image", 3).is_err());
        let (skeleton, decoded) = cut(r#"{"other": 1}"#, "image", 3).unwrap();
        assert_eq!(
            (skeleton.as_str(), decoded.len()),
            (r#"{"other": 1}"#, 0),
            "no field, nothing cut"
        );
        let (skeleton, _) = cut(r#"{"image": 5}"#, "image", 3).unwrap();
        assert_eq!(
            skeleton, r#"{"image": 5}"#,
            "a value that is not a string is left alone"
        );
    }

    #[tokio::test]
    async fn request_pictures_are_streamed_with_an_exact_length() {
        let picture = Bytes::from((0..200_000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>());
        let dir = tempfile_dir();
        let path = dir.join("p.bin");
        std::fs::write(&path, &picture).unwrap();
        for source in [
            Source::Bytes(picture.clone()),
            Source::File {
                path: path.clone(),
                len: picture.len() as u64,
            },
        ] {
            let body = format!(r#"{{"a": "{}", "n": 3}}"#, placeholder(0));
            let mut request = reqwest::Client::new()
                .post("http://127.0.0.1:9/")
                .body(body)
                .build()
                .unwrap();
            RequestSplice {
                parts: vec![(placeholder(0), source)],
            }
            .apply(&mut request)
            .unwrap();
            let length: usize = request.headers()[CONTENT_LENGTH]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let body = request.body_mut().take().unwrap();
            let bytes = collect(body).await;
            assert_eq!(bytes.len(), length);
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(
                STANDARD.decode(json["a"].as_str().unwrap()).unwrap(),
                picture
            );
            assert_eq!(json["n"], 3);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    async fn collect(body: reqwest::Body) -> Vec<u8> {
        use http_body_util::BodyExt as _;
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pixmill-splice-{:x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
