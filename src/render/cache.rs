//! Ready responses: rendered once, kept as bytes in every encoding we serve, answered
//! with ETag / 304 and the encoding the client prefers. An entry is valid while the
//! store's change count is the one it was rendered at, and for at most `MAX_AGE`
//! (pages also change with the clock: days roll over, maintenance windows open).

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// What a renderer produces.
pub struct Rendered {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// One response, with its validator. Compressed forms are made the first time a
/// client asks for them: most readers of a fresh render want only one encoding.
pub struct CachedResponse {
    status: StatusCode,
    content_type: &'static str,
    etag: String,
    identity: Bytes,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
}

fn gzip(body: &[u8]) -> Bytes {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    Bytes::from(
        gz.write_all(body)
            .and_then(|_| gz.finish())
            .unwrap_or_default(),
    )
}

fn brotli(body: &[u8]) -> Bytes {
    let mut out = Vec::new();
    {
        // Quality 5: most of brotli's gain at a small fraction of its top-level cost.
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        let _ = writer.write_all(body);
    }
    Bytes::from(out)
}

impl CachedResponse {
    pub fn new(rendered: Rendered) -> CachedResponse {
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&rendered.body)[..16]));
        CachedResponse {
            status: rendered.status,
            content_type: rendered.content_type,
            etag,
            identity: Bytes::from(rendered.body),
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Answers `req`: 304 when its `If-None-Match` holds our ETag, else the body in the
    /// best encoding it accepts.
    pub fn respond(&self, req: &HttpRequest, cache_control: &'static str) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        builder
            .insert_header((header::ETAG, self.etag.as_str()))
            .insert_header((header::CACHE_CONTROL, cache_control))
            .insert_header((header::VARY, "Accept-Encoding"));
        let matches = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',').any(|tag| {
                    tag.trim().trim_start_matches("W/") == self.etag || tag.trim() == "*"
                })
            });
        if matches && self.status == StatusCode::OK {
            return builder.status(StatusCode::NOT_MODIFIED).finish();
        }
        builder.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        ));
        match preferred_encoding(req) {
            Encoding::Brotli => {
                let body = self.brotli.get_or_init(|| brotli(&self.identity)).clone();
                builder
                    .insert_header((header::CONTENT_ENCODING, "br"))
                    .body(body)
            }
            Encoding::Gzip => {
                let body = self.gzip.get_or_init(|| gzip(&self.identity)).clone();
                builder
                    .insert_header((header::CONTENT_ENCODING, "gzip"))
                    .body(body)
            }
            Encoding::Identity => builder.body(self.identity.clone()),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// Reads `Accept-Encoding`: brotli over gzip over identity. A coding named in the
/// header takes its own q-value; `*` stands only for codings not named; `q=0` refuses.
fn preferred_encoding(req: &HttpRequest) -> Encoding {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return Encoding::Identity;
    };
    let codings: Vec<(String, f32)> = accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let coding = pieces.next()?.trim().to_ascii_lowercase();
            let q = pieces
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
                })
                .unwrap_or(1.0);
            (!coding.is_empty()).then_some((coding, q))
        })
        .collect();
    let quality = |name: &str| {
        codings
            .iter()
            .find(|(c, _)| c == name)
            .or_else(|| codings.iter().find(|(c, _)| c == "*"))
            .map_or(0.0, |(_, q)| *q)
    };
    if quality("br") > 0.0 {
        Encoding::Brotli
    } else if quality("gzip") > 0.0 {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// Pages are fresh for this long at most, whatever the change count says.
const MAX_AGE: Duration = Duration::from_secs(30);
/// More keys than this (many incident pages) and the cache starts over.
const MAX_ENTRIES: usize = 2_000;

struct Entry {
    change_count: u64,
    born: Instant,
    response: Arc<CachedResponse>,
}

#[derive(Default)]
pub struct PageCache {
    entries: RwLock<HashMap<String, Entry>>,
    /// One render at a time: when a write empties the cache during an outage, the
    /// crowd waits for one render instead of starting hundreds.
    render_lock: tokio::sync::Mutex<()>,
}

impl PageCache {
    fn fresh(&self, key: &str, change_count: u64) -> Option<Arc<CachedResponse>> {
        let entries = self.entries.read().ok()?;
        let entry = entries.get(key)?;
        (entry.change_count == change_count && entry.born.elapsed() < MAX_AGE)
            .then(|| entry.response.clone())
    }

    /// The cached response for `key`, or renders, keeps and returns a new one. Only
    /// `200 OK` responses are kept. `change_count` must be read before rendering, so a
    /// change committed while rendering makes the result stale at once.
    pub async fn get_or_render<F, Fut, E>(
        &self,
        key: &str,
        change_count: u64,
        render: F,
    ) -> Result<Arc<CachedResponse>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, E>>,
    {
        if let Some(hit) = self.fresh(key, change_count) {
            return Ok(hit);
        }
        let _guard = self.render_lock.lock().await;
        if let Some(hit) = self.fresh(key, change_count) {
            return Ok(hit);
        }
        let response = Arc::new(CachedResponse::new(render().await?));
        if response.status == StatusCode::OK {
            if let Ok(mut entries) = self.entries.write() {
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
                entries.insert(
                    key.to_owned(),
                    Entry {
                        change_count,
                        born: Instant::now(),
                        response: response.clone(),
                    },
                );
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn page(body: &str) -> Rendered {
        Rendered {
            status: StatusCode::OK,
            content_type: "text/html; charset=utf-8",
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn negotiates_encoding_and_honours_q_zero() {
        let req = |v: &str| {
            TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, v))
                .to_http_request()
        };
        assert_eq!(
            preferred_encoding(&req("gzip, deflate, br")),
            Encoding::Brotli
        );
        assert_eq!(preferred_encoding(&req("gzip, br;q=0")), Encoding::Gzip);
        assert_eq!(preferred_encoding(&req("identity")), Encoding::Identity);
        assert_eq!(preferred_encoding(&req("br;q=0, *")), Encoding::Gzip);
        assert_eq!(
            preferred_encoding(&req("gzip;q=0, br;q=0, *")),
            Encoding::Identity
        );
        assert_eq!(preferred_encoding(&req("*")), Encoding::Brotli);
        assert_eq!(
            preferred_encoding(&TestRequest::default().to_http_request()),
            Encoding::Identity
        );
    }

    #[test]
    fn answers_304_for_a_matching_etag() {
        let cached = CachedResponse::new(page("<p>hello</p>"));
        let req = TestRequest::default()
            .insert_header((header::IF_NONE_MATCH, cached.etag().to_owned()))
            .to_http_request();
        assert_eq!(
            cached.respond(&req, "public").status(),
            StatusCode::NOT_MODIFIED
        );
        let other = TestRequest::default()
            .insert_header((header::IF_NONE_MATCH, "\"nope\""))
            .to_http_request();
        assert_eq!(cached.respond(&other, "public").status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn renders_again_only_after_a_change() {
        let cache = PageCache::default();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let render = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, ()>(page("x"))
        };
        cache.get_or_render("/", 1, render).await.unwrap();
        cache.get_or_render("/", 1, render).await.unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        cache.get_or_render("/", 2, render).await.unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
