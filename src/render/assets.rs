//! Static files, embedded in the binary and served under content-hashed names with
//! `Cache-Control: immutable`: a new release changes the names, never the contents
//! behind a name. Three small files do not need an embedding crate; `include_bytes!`
//! is the whole mechanism.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use sha2::{Digest, Sha256};

use super::cache::{CachedResponse, Rendered};

pub struct Asset {
    pub url: String,
    pub response: CachedResponse,
}

pub struct Assets {
    pub css: Asset,
    pub js: Asset,
    pub favicon: Asset,
}

fn asset(stem: &str, ext: &str, content_type: &'static str, bytes: &'static [u8]) -> Asset {
    let hash = hex::encode(&Sha256::digest(bytes)[..6]);
    Asset {
        url: format!("/static/{stem}.{hash}.{ext}"),
        response: CachedResponse::new(Rendered {
            status: StatusCode::OK,
            content_type,
            body: bytes.to_vec(),
        }),
    }
}

pub fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| Assets {
        css: asset(
            "herald",
            "css",
            "text/css; charset=utf-8",
            include_bytes!("../../static/herald.css"),
        ),
        js: asset(
            "herald",
            "js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../static/herald.js"),
        ),
        favicon: asset(
            "favicon",
            "svg",
            "image/svg+xml",
            include_bytes!("../../static/favicon.svg"),
        ),
    })
}

/// The asset served at `path` (`/static/herald.0a1b2c3d4e5f.css`), if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    let a = assets();
    [&a.css, &a.js, &a.favicon]
        .into_iter()
        .find(|asset| asset.url == path)
}
